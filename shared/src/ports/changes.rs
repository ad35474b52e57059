//! The log of changes: every event, in the order it was logged, for the change feed, EventBridge
//! and webhooks; and (local mode) the queue of record changes the log is made from.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::error::StoreError;
use crate::domain::events::{Event, RecordChange};
use crate::domain::timestamp::Timestamp;

/// A page of the log: events oldest first, and the position after the last one read.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    pub events: Vec<Event>,
    /// Where the next read starts; equal to the position read from when nothing was new.
    pub next: String,
    /// True when the read reached `until`: nothing more is settled yet.
    pub caught_up: bool,
}

#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Files `events` in their order. Filing an event again is allowed (delivery is at least
    /// once; its id says it is the same).
    async fn append_events(&self, events: &[Event]) -> Result<(), StoreError>;
    /// Up to `limit` events logged after `position` (exclusive, as [`LogPage::next`] gave it)
    /// and up to `until`, oldest first.
    async fn read_events(
        &self,
        position: &str,
        until: &Timestamp,
        limit: usize,
    ) -> Result<LogPage, StoreError>;
    /// The position just before the first event logged at `at` or later.
    async fn position_at(&self, at: &Timestamp) -> Result<String, StoreError>;
    /// Whether `position` is one this log gave (a cursor a client may have altered).
    fn is_position(&self, position: &str) -> bool;
    /// Forgets every event filed under these owners (an erasure).
    async fn forget_events(&self, owners: &[String]) -> Result<(), StoreError>;
    /// An erasure: forgets the events of `owners`, drops every change waiting to be logged
    /// that mentions any of `mentions` (ids, addresses), and files `erased` unless it is filed.
    /// A store that logs from a stream it cannot edit (DynamoDB) only forgets: its stream
    /// files `erased` itself.
    async fn erase_from_log(
        &self,
        owners: &[String],
        mentions: &[String],
        erased: &Event,
    ) -> Result<(), StoreError>;
    /// Forgets events logged before `before`; answers how many. A store whose items expire by
    /// themselves (DynamoDB's TTL) answers 0.
    async fn forget_events_before(&self, before: &Timestamp) -> Result<usize, StoreError>;
    /// How long after its logging time an event may still become readable. The feed reads up
    /// to this long before now, so a reader never passes an event that is not yet visible.
    fn settle(&self) -> Duration;
}

/// Local mode's stand-in for the table's stream: record changes queued by the database in the
/// transaction that made them, in commit order.
#[async_trait]
pub trait ChangeQueue: Send + Sync {
    /// Up to `limit` queued changes, oldest first, each with its queue position.
    async fn queued_changes(&self, limit: usize) -> Result<Vec<(i64, RecordChange)>, StoreError>;
    /// Files `events` and takes the changes up to `through` off the queue, all or nothing, if
    /// the queue still holds the `taken` changes they were made from: an erasure may have
    /// dropped some since (`VersionMismatch`: read the queue again).
    async fn log_queued(
        &self,
        through: i64,
        taken: usize,
        events: &[Event],
    ) -> Result<(), StoreError>;
}

/// Where logged events go on to (EventBridge in the cloud).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Hands every one of `events` on, or fails; on failure, what went is sent again later
    /// with the same ids.
    async fn publish(&self, events: &[Event]) -> Result<(), crate::domain::error::HelpdeskError>;
}
