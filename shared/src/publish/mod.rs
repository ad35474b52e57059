//! Adapters that hand events on to the outside world.

#[cfg(feature = "notifier")]
pub mod eventbridge;
