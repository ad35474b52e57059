//! Mailer adapters: SES (API v2) in the cloud and an outbox folder of `.eml` files locally;
//! both send the same MIME.

mod mime;
mod outbox;
#[cfg(feature = "sesv2")]
mod ses;

pub use outbox::OutboxMailer;
#[cfg(feature = "sesv2")]
pub use ses::SesMailer;
