//! The change log in the table, written by the stream's reader (the notifier function).
//!
//! Each event is two items: one in the feed, under `FEED#<hour>#<shard>` and sorted by when it
//! was logged (microseconds, then the event id), and one under its owner (`EVENTS#<owner>`)
//! that says where the first one is, so an erasure finds the person's events without reading
//! the feed. A customer's events share a feed shard, so they keep their order; sixteen shards
//! spread a bulk import's events over sixteen partitions. Both items expire after
//! [`RETENTION_DAYS`] (TTL).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::*;
use crate::domain::events::Event;
use crate::domain::timestamp::Timestamp;
use crate::ports::changes::{ChangeLog, LogPage};

/// How long the feed keeps events; TTL removes them a day later.
use crate::services::changes::RETENTION_DAYS;
const FEED_SHARDS: u64 = 16;
/// Hours holding events one read walks at most before answering with a cursor (16 queries
/// each); hours without events are not read at all.
const MAX_BUCKETS_PER_READ: usize = 48;

/// The feed's order: microseconds since the epoch, strictly increasing within this process, so
/// one writer's events (one shard of the stream) keep their order even within a microsecond.
fn next_logged_micros() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn position_of(micros: i64) -> String {
    format!("{micros:016}")
}

fn micros_of(position: &str) -> Option<i64> {
    position.get(..16)?.parse().ok()
}

/// `yyyymmddhh` of a time in microseconds.
fn hour_of(micros: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
}

const HOUR_MICROS: i64 = 3_600_000_000;

fn feed_pk(hour: &str, shard: u64) -> String {
    format!("FEED#{hour}#{shard:02}")
}

fn owner_pk(owner: &str) -> String {
    format!("EVENTS#{owner}")
}

/// The feed shard of an event: its owner's, so a customer's events stay in one order.
fn shard_of_owner(owner: &str) -> u64 {
    crate::domain::clock::stable_hash(owner).rotate_right(29) % FEED_SHARDS
}

/// An event's JSON, deflated: about half its size, so that a customer's event (about 950
/// bytes of JSON) is a 1-WRU item, and the feed reads half the bytes.
pub fn deflated(event: &Event) -> Result<Vec<u8>, StoreError> {
    use std::io::Write;
    let json =
        serde_json::to_vec(event).map_err(|e| StoreError::Unavailable(format!("encode: {e}")))?;
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 2),
        flate2::Compression::default(),
    );
    encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .map_err(|e| StoreError::Unavailable(format!("deflate: {e}")))
}

/// The event of a feed item: deflated (`zdoc`), at most 400 KB once inflated (an item's limit).
fn event_of(item: &Item) -> Result<Event, StoreError> {
    use std::io::Read;
    let Some(AttributeValue::B(packed)) = item.get("zdoc") else {
        return from_item(item);
    };
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(packed.as_ref())
        .take(400 * 1024)
        .read_to_end(&mut json)
        .map_err(|e| StoreError::Unavailable(format!("inflate: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| StoreError::Unavailable(format!("corrupt event: {e}")))
}

/// The hours that hold events, by month: the feed reads only those.
fn hours_pk(micros: i64) -> String {
    format!("FEEDHOURS#{}", &hour_of(micros)[..6])
}

/// Hours (of a table) this process has marked as holding events (a mark is written once per hour and
/// process, before the hour's first event).
type Marks = std::sync::Mutex<std::collections::BTreeSet<(String, i64)>>;

fn marked_hours() -> &'static Marks {
    static MARKED: std::sync::OnceLock<Marks> = std::sync::OnceLock::new();
    MARKED.get_or_init(Default::default)
}

impl DynamoStore {
    /// Marks the hours of `micros` as holding events, once per process.
    async fn mark_hours(&self, micros: &[i64]) -> Result<(), StoreError> {
        let buckets: std::collections::BTreeSet<i64> = micros
            .iter()
            .map(|m| m - m.rem_euclid(HOUR_MICROS))
            .collect();
        let new: Vec<i64> = {
            let marked = marked_hours().lock().unwrap_or_else(|e| e.into_inner());
            buckets
                .into_iter()
                .filter(|b| !marked.contains(&(self.table.clone(), *b)))
                .collect()
        };
        if new.is_empty() {
            return Ok(());
        }
        let items = new
            .iter()
            .map(|bucket| {
                let expires = (bucket / 1_000_000 + (RETENTION_DAYS + 2) * 86_400).max(0) as u64;
                Item::from([
                    ("pk".into(), s(hours_pk(*bucket))),
                    ("sk".into(), s(hour_of(*bucket))),
                    ("start".into(), n(*bucket as u64)),
                    ("expires_at".into(), n(expires)),
                ])
            })
            .collect();
        self.put_items(items).await?;
        let mut marked = marked_hours().lock().unwrap_or_else(|e| e.into_inner());
        marked.extend(new.into_iter().map(|b| (self.table.clone(), b)));
        Ok(())
    }

    /// The starts of the hours from `from`'s to `until`'s that hold events, in order.
    async fn logged_hours(&self, from: i64, until: i64) -> Result<Vec<i64>, StoreError> {
        let first = from - from.rem_euclid(HOUR_MICROS);
        let mut months: Vec<String> = Vec::new();
        let mut at = first;
        while at <= until {
            let month = hours_pk(at);
            if months.last() != Some(&month) {
                months.push(month);
            }
            at += HOUR_MICROS;
        }
        let mut hours = Vec::new();
        for month in months {
            let (items, _) = self
                .query_page(None, ("pk", month), "sk", None, None, 1000, true)
                .await?;
            hours.extend(items.iter().filter_map(|item| {
                let start: i64 = item.get("start")?.as_n().ok()?.parse().ok()?;
                (first..=until).contains(&start).then_some(start)
            }));
        }
        hours.sort_unstable();
        hours.dedup();
        Ok(hours)
    }

    async fn put_items(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests = items
            .into_iter()
            .filter_map(|item| {
                let put = aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .ok()?;
                Some(
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(put)
                        .build(),
                )
            })
            .collect();
        self.batch_write(requests, "the change log").await
    }

    /// Every feed item of one hour, after `after` and up to `until`, oldest first.
    async fn read_hour(
        &self,
        hour: &str,
        after: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let reads = (0..FEED_SHARDS).map(|shard| {
            self.query_page(
                None,
                ("pk", feed_pk(hour, shard)),
                "sk",
                Some(after),
                None,
                limit,
                true,
            )
        });
        let mut rows = Vec::new();
        for result in futures::future::join_all(reads).await {
            let (items, _) = result?;
            rows.extend(items.into_iter().filter_map(|item| {
                let sk = get_s(&item, "sk")?.to_string();
                (sk.as_str() <= until).then_some((sk, item))
            }));
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows)
    }
}

#[async_trait]
impl ChangeLog for DynamoStore {
    async fn append_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let times: Vec<i64> = events.iter().map(|_| next_logged_micros()).collect();
        // The hours first: a reader that finds an event has found its hour.
        self.mark_hours(&times).await?;
        let mut items = Vec::with_capacity(events.len() * 2);
        for (event, micros) in events.iter().zip(times) {
            let sk = format!("{}#{}", position_of(micros), event.id);
            let pk = feed_pk(&hour_of(micros), shard_of_owner(&event.owner));
            let expires = (micros / 1_000_000 + (RETENTION_DAYS + 1) * 86_400).max(0) as u64;
            items.push(Item::from([
                ("pk".into(), s(&pk)),
                ("sk".into(), s(&sk)),
                (
                    "zdoc".into(),
                    AttributeValue::B(Blob::new(deflated(event)?)),
                ),
                ("expires_at".into(), n(expires)),
            ]));
            items.push(Item::from([
                ("pk".into(), s(owner_pk(&event.owner))),
                ("sk".into(), s(&sk)),
                ("feed_pk".into(), s(pk)),
                ("expires_at".into(), n(expires)),
            ]));
        }
        self.put_items(items).await
    }

    async fn read_events(
        &self,
        position: &str,
        until: &Timestamp,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        let until_micros = until.unix_millis() * 1000 + 999;
        let oldest = until_micros - (RETENTION_DAYS + 1) * 86_400_000_000;
        let from = micros_of(position).unwrap_or(0).max(oldest);
        let after = if micros_of(position).is_some_and(|m| m >= oldest) {
            position.to_string()
        } else {
            position_of(from)
        };
        let until_key = format!("{}~", position_of(until_micros));
        let mut page = LogPage {
            next: after,
            ..LogPage::default()
        };
        let hours = self.logged_hours(from, until_micros).await?;
        for (read, bucket) in hours.into_iter().enumerate() {
            if read == MAX_BUCKETS_PER_READ {
                // Everything before this hour is in this page or an earlier one.
                page.next = page.next.clone().max(position_of(bucket - 1));
                return Ok(page);
            }
            let wanted = limit - page.events.len();
            let rows = self
                .read_hour(&hour_of(bucket), &page.next, &until_key, wanted)
                .await?;
            for (sk, item) in rows.into_iter().take(wanted) {
                page.events.push(event_of(&item)?);
                page.next = sk;
            }
            if page.events.len() >= limit {
                return Ok(page);
            }
        }
        page.caught_up = true;
        page.next = page.next.clone().max(position_of(until_micros));
        Ok(page)
    }

    async fn position_at(&self, at: &Timestamp) -> Result<String, StoreError> {
        Ok(position_of(at.unix_millis() * 1000 - 1))
    }

    fn is_position(&self, position: &str) -> bool {
        micros_of(position).is_some() && position.is_ascii()
    }

    async fn forget_events(&self, owners: &[String]) -> Result<(), StoreError> {
        for owner in owners {
            let pk = owner_pk(owner);
            loop {
                let (items, _) = self
                    .query_page(None, ("pk", pk.clone()), "sk", None, None, 12, true)
                    .await?;
                if items.is_empty() {
                    break;
                }
                let mut keys = Vec::new();
                for item in &items {
                    if let (Some(sk), Some(feed)) = (get_s(item, "sk"), get_s(item, "feed_pk")) {
                        keys.push((feed.to_string(), sk.to_string()));
                        keys.push((pk.clone(), sk.to_string()));
                    }
                }
                self.delete_keys(keys).await?;
            }
        }
        Ok(())
    }

    async fn erase_from_log(
        &self,
        owners: &[String],
        _mentions: &[String],
        _erased: &Event,
    ) -> Result<(), StoreError> {
        self.forget_events(owners).await
    }

    async fn forget_events_before(&self, _before: &Timestamp) -> Result<usize, StoreError> {
        Ok(0)
    }

    fn settle(&self) -> Duration {
        self.feed_settle
    }
}

/// Readers stop this long before now. An event is logged (its time taken) just before its two
/// items are written; the write is retried for seconds at most, and a query may not see an item
/// for a moment after it is written: 30 s covers both with room. `FEED_SETTLE_SECONDS` changes
/// it.
pub(super) fn settle_from_env() -> Duration {
    let seconds = std::env::var("FEED_SETTLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(seconds)
}
