//! The change log's writer and the change feed's reader.
//!
//! The writer turns record changes (from the table's stream in the cloud, from the change queue
//! locally) into events and files them: one log that the feed, EventBridge and webhooks all
//! read. The reader serves the feed by cursor.

mod feed;
mod logger;

pub(crate) use feed::decode_cursor;
pub use feed::{ChangeFeed, FeedPage, FeedQuery, MAX_PAGE};
pub use logger::ChangeLogger;

/// How long the change feed keeps events, on both stores.
pub const RETENTION_DAYS: i64 = 30;
