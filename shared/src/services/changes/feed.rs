//! The change feed: pages of events by cursor, for admins and integrations holding
//! `changes:read`.
//!
//! A reader that follows `next_cursor` never misses an event: each page stops at the settled
//! horizon (now less the log's settling time), before which every event is readable, and the
//! cursor is the log's own position, not a time. Delivery is at least once: an event may come
//! twice (a redelivered stream record), always with the same id.

use std::sync::Arc;

use crate::domain::caller::Caller;
use crate::domain::error::HelpdeskError;
use crate::domain::events::{Event, EventType};
use crate::domain::timestamp::Timestamp;
use crate::ports::changes::ChangeLog;

/// Events a page holds at most.
pub const MAX_PAGE: usize = 1000;
/// Log reads one page makes at most while a type filter passes few events.
const MAX_READS: usize = 8;

/// Where to start and what to pass.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// From `next_cursor`, or `now` (only what comes after this call).
    pub cursor: Option<String>,
    /// From this time (ignored with a cursor).
    pub since: Option<Timestamp>,
    /// Only these types (`None`: all).
    pub types: Option<Vec<EventType>>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct FeedPage {
    pub events: Vec<Event>,
    pub next_cursor: String,
    /// True when the page reached the settled horizon: follow `next_cursor` later.
    pub caught_up: bool,
    /// Events up to this time are all in this page or before it.
    pub settled_until: Timestamp,
}

#[derive(Clone)]
pub struct ChangeFeed {
    log: Arc<dyn ChangeLog>,
}

/// Cursors are the log's position, opaque and safe in a URL as they come.
fn encode_cursor(position: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes).ok()
}

impl ChangeFeed {
    pub fn new(log: Arc<dyn ChangeLog>) -> Self {
        Self { log }
    }

    /// How long after now the feed's horizon trails.
    pub fn settle(&self) -> std::time::Duration {
        self.log.settle()
    }

    pub async fn read(&self, caller: &Caller, query: FeedQuery) -> Result<FeedPage, HelpdeskError> {
        caller.require_changes_read()?;
        let settle = time::Duration::try_from(self.log.settle()).unwrap_or(time::Duration::ZERO);
        let until = Timestamp::from_unix_millis(
            (time::OffsetDateTime::now_utc() - settle).unix_timestamp() * 1000
                + i64::from((time::OffsetDateTime::now_utc() - settle).millisecond()),
        );
        let mut position = self.start(&query, &until).await?;
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut events = Vec::new();
        let mut caught_up = false;
        for _ in 0..MAX_READS {
            let page = self
                .log
                .read_events(&position, &until, limit - events.len())
                .await?;
            position = page.next;
            events.extend(page.events.into_iter().filter(|e: &Event| {
                query
                    .types
                    .as_ref()
                    .is_none_or(|types| types.contains(&e.kind))
            }));
            caught_up = page.caught_up;
            if caught_up || events.len() >= limit {
                break;
            }
        }
        Ok(FeedPage {
            events,
            next_cursor: encode_cursor(&position),
            caught_up,
            settled_until: until,
        })
    }

    async fn start(&self, query: &FeedQuery, until: &Timestamp) -> Result<String, HelpdeskError> {
        match (query.cursor.as_deref(), &query.since) {
            (Some("now"), _) => Ok(self.log.position_at(until).await?),
            (Some(cursor), _) => decode_cursor(cursor)
                .filter(|p| self.log.is_position(p))
                .ok_or_else(|| {
                    HelpdeskError::bad_request(
                        "cursor",
                        "not a cursor of this feed: pass next_cursor as it came, or 'now'",
                    )
                }),
            (None, Some(since)) => Ok(self.log.position_at(since).await?),
            (None, None) => Ok(String::new()),
        }
    }
}
