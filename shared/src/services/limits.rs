//! Rate limits: how often one key (an agent sending, an address asking for a code) may act.

use std::sync::Arc;

use crate::domain::error::HelpdeskError;
use crate::ports::store::RateLimitStore;

/// At most `events` in any window of `seconds` (windows are fixed, aligned on the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub events: u32,
    pub seconds: i64,
}

#[derive(Clone)]
pub struct RateLimiter {
    counters: Arc<dyn RateLimitStore>,
}

impl RateLimiter {
    pub fn new(counters: Arc<dyn RateLimitStore>) -> Self {
        Self { counters }
    }

    /// Counts one event for `key` against each of `limits`; a 429 naming `what` when any is
    /// reached (the event then counts against the limits checked before it).
    pub async fn allow(
        &self,
        what: &str,
        key: &str,
        limits: &[Limit],
    ) -> Result<(), HelpdeskError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for limit in limits {
            let window = now - now.rem_euclid(limit.seconds);
            let scoped = format!("{key}#{}", limit.seconds);
            let counted = self
                .counters
                .count_event(&scoped, window, limit.seconds, limit.events)
                .await?;
            if !counted {
                return Err(HelpdeskError::RateLimited {
                    detail: format!(
                        "{what}: at most {} in {}; try again later",
                        limit.events,
                        describe(limit.seconds)
                    ),
                    retry_after: (window + limit.seconds - now).max(1) as u64,
                });
            }
        }
        Ok(())
    }
}

impl RateLimiter {
    /// Counts `key` in the window of `seconds` that starts at `window_start`: whether this is
    /// its first time there (one-time tokens; a retried call may count twice and refuse).
    pub async fn once(
        &self,
        key: &str,
        window_start: i64,
        seconds: i64,
    ) -> Result<bool, HelpdeskError> {
        Ok(self
            .counters
            .count_event(key, window_start, seconds, 1)
            .await?)
    }
}

fn describe(seconds: i64) -> String {
    match seconds {
        60 => "a minute".into(),
        3600 => "an hour".into(),
        86_400 => "a day".into(),
        s => format!("{s} seconds"),
    }
}
