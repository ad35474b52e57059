//! The change log locally. Triggers queue every change of a record (its document before and
//! after) in the transaction that makes it, as the table's stream does in the cloud; the
//! logger turns the queue into events (`services::changes`), and the feed reads them by
//! their position in the log, which is their commit order.

use std::time::Duration;

use super::*;
use crate::domain::events::{Event, RecordChange};
use crate::domain::timestamp::Timestamp;
use crate::ports::changes::{ChangeLog, ChangeQueue, LogPage};

/// The tables whose every change may make events, and the kind the queue names them by.
const TRACKED_TABLES: [(&str, &str); 5] = [
    ("customers", "customer"),
    ("companies", "company"),
    ("tickets", "ticket"),
    ("ticket_messages", "message"),
    ("merges", "merge"),
];

/// Jobs make events only when they end: their other writes (checkpoints, progress) are not
/// queued. An erasure's end is queued without its earlier state, which names the person.
const JOB_TRIGGERS: &str = "
    CREATE TRIGGER IF NOT EXISTS import_jobs_ended AFTER UPDATE OF doc ON import_jobs
    WHEN json_extract(NEW.doc, '$.status') IN ('succeeded', 'failed')
     AND json_extract(OLD.doc, '$.status') IS NOT json_extract(NEW.doc, '$.status') BEGIN
        INSERT INTO change_queue (kind, before, after) VALUES ('import', OLD.doc, NEW.doc);
    END;
    CREATE TRIGGER IF NOT EXISTS erasures_ended AFTER UPDATE OF doc ON erasures
    WHEN json_extract(NEW.doc, '$.status') = 'succeeded'
     AND json_extract(OLD.doc, '$.status') IS NOT 'succeeded' BEGIN
        INSERT INTO change_queue (kind, before, after) VALUES ('erasure', NULL, NEW.doc);
    END;";

/// The queue, the log and the triggers that fill the queue; run at every open (all `IF NOT
/// EXISTS`), so older files gain them.
pub(super) fn change_schema() -> String {
    let mut sql = String::from(
        "CREATE TABLE IF NOT EXISTS change_queue (
             seq    INTEGER PRIMARY KEY AUTOINCREMENT,
             kind   TEXT NOT NULL,
             before TEXT,
             after  TEXT
         );
         CREATE TABLE IF NOT EXISTS change_log (
             seq       INTEGER PRIMARY KEY AUTOINCREMENT,
             event_id  TEXT NOT NULL,
             kind      TEXT NOT NULL,
             owner     TEXT NOT NULL,
             logged_at TEXT NOT NULL,
             doc       TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS change_log_owner ON change_log(owner);
         CREATE INDEX IF NOT EXISTS change_log_time ON change_log(logged_at);
         CREATE TABLE IF NOT EXISTS webhooks (
             id      TEXT PRIMARY KEY,
             version INTEGER NOT NULL,
             doc     TEXT NOT NULL
         );
         -- Deliveries waiting, written with their events (webhooks.rs).
         CREATE TABLE IF NOT EXISTS webhook_outbox (
             id               INTEGER PRIMARY KEY AUTOINCREMENT,
             webhook_id       TEXT NOT NULL,
             event_seq        INTEGER NOT NULL,
             attempts         INTEGER NOT NULL DEFAULT 0,
             first_attempt_at TEXT,
             next_at          TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS webhook_outbox_hook ON webhook_outbox(webhook_id, id);",
    );
    sql.push_str(JOB_TRIGGERS);
    for (table, kind) in TRACKED_TABLES {
        sql.push_str(&format!(
            "CREATE TRIGGER IF NOT EXISTS {table}_inserted AFTER INSERT ON {table} BEGIN
                 INSERT INTO change_queue (kind, before, after) VALUES ('{kind}', NULL, NEW.doc);
             END;
             CREATE TRIGGER IF NOT EXISTS {table}_updated AFTER UPDATE OF doc ON {table}
             WHEN OLD.doc IS NOT NEW.doc BEGIN
                 INSERT INTO change_queue (kind, before, after) VALUES ('{kind}', OLD.doc, NEW.doc);
             END;
             CREATE TRIGGER IF NOT EXISTS {table}_deleted AFTER DELETE ON {table} BEGIN
                 INSERT INTO change_queue (kind, before, after) VALUES ('{kind}', OLD.doc, NULL);
             END;"
        ));
    }
    sql
}

fn doc_of<T: DeserializeOwned>(doc: Option<String>) -> Result<Option<T>, StoreError> {
    doc.map(|d| from_doc(&d)).transpose()
}

/// A queued row as the change it records.
fn record_change(
    kind: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<Option<RecordChange>, StoreError> {
    Ok(Some(match kind {
        "customer" => RecordChange::Customer(doc_of(before)?, doc_of(after)?),
        "company" => RecordChange::Company(doc_of(before)?, doc_of(after)?),
        "ticket" => RecordChange::Ticket(doc_of(before)?, doc_of(after)?),
        "message" => RecordChange::Message(doc_of(before)?, doc_of(after)?),
        "import" => RecordChange::Import(doc_of(before)?, doc_of(after)?),
        "erasure" => RecordChange::Erasure(doc_of(before)?, doc_of(after)?),
        "merge" => RecordChange::Merge(doc_of(before)?, doc_of(after)?),
        _ => return Ok(None),
    }))
}

/// Files `events`, and queues each for the webhooks that want it, in the caller's transaction.
fn insert_events(tx: &Connection, events: &[Event]) -> Result<(), StoreError> {
    let logged_at = Timestamp::now().to_string();
    let hooks = super::webhooks::active_webhooks(tx)?;
    for event in events {
        exec(
            tx,
            "INSERT INTO change_log (event_id, kind, owner, logged_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                event.id,
                event.kind.name(),
                event.owner,
                logged_at,
                to_doc(event)?
            ],
        )?;
        let seq = tx.last_insert_rowid();
        for hook in hooks.iter().filter(|h| h.wants(event.kind)) {
            super::webhooks::queue_delivery(tx, &hook.id, seq, &logged_at)?;
        }
    }
    Ok(())
}

#[async_trait]
impl ChangeQueue for SqliteStore {
    async fn queued_changes(&self, limit: usize) -> Result<Vec<(i64, RecordChange)>, StoreError> {
        self.read(move |tx| {
            let mut statement = tx
                .prepare_cached(
                    "SELECT seq, kind, before, after FROM change_queue ORDER BY seq LIMIT ?1",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(unavailable)?;
            let mut changes = Vec::new();
            for row in rows {
                let (seq, kind, before, after): (i64, String, _, _) = row.map_err(unavailable)?;
                if let Some(change) = record_change(&kind, before, after)? {
                    changes.push((seq, change));
                }
            }
            Ok(changes)
        })
        .await
    }

    async fn log_queued(
        &self,
        through: i64,
        taken: usize,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.write(move |tx| {
            let still: Option<i64> = query_row(
                tx,
                "SELECT count(*) FROM change_queue WHERE seq <= ?1",
                params![through],
                |r| r.get(0),
            )?;
            if still.unwrap_or_default() != taken as i64 {
                return Err(StoreError::VersionMismatch);
            }
            insert_events(tx, &events)?;
            exec(
                tx,
                "DELETE FROM change_queue WHERE seq <= ?1",
                params![through],
            )?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ChangeLog for SqliteStore {
    async fn append_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.write(move |tx| insert_events(tx, &events)).await
    }

    async fn read_events(
        &self,
        position: &str,
        until: &Timestamp,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        let after: i64 = position.parse().unwrap_or(0);
        let until = until.to_string();
        self.read(move |tx| {
            let mut statement = tx
                .prepare_cached(
                    "SELECT seq, doc FROM change_log WHERE seq > ?1 AND logged_at <= ?2
                     ORDER BY seq LIMIT ?3",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![after, until, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(unavailable)?;
            let mut page = LogPage {
                next: after.to_string(),
                ..LogPage::default()
            };
            for row in rows {
                let (seq, doc) = row.map_err(unavailable)?;
                page.events.push(from_doc(&doc)?);
                page.next = seq.to_string();
            }
            page.caught_up = page.events.len() < limit;
            Ok(page)
        })
        .await
    }

    async fn position_at(&self, at: &Timestamp) -> Result<String, StoreError> {
        let at = at.to_string();
        self.read(move |tx| {
            let seq: Option<i64> = query_row(
                tx,
                "SELECT max(seq) FROM change_log WHERE logged_at < ?1",
                params![at],
                |r| r.get(0),
            )?
            .flatten();
            Ok(seq.unwrap_or(0).to_string())
        })
        .await
    }

    fn is_position(&self, position: &str) -> bool {
        position.parse::<u64>().is_ok()
    }

    async fn forget_events(&self, owners: &[String]) -> Result<(), StoreError> {
        let owners = owners.to_vec();
        self.write(move |tx| {
            for owner in &owners {
                exec(
                    tx,
                    "DELETE FROM change_log WHERE owner = ?1",
                    params![owner],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn erase_from_log(
        &self,
        owners: &[String],
        mentions: &[String],
        erased: &Event,
    ) -> Result<(), StoreError> {
        let (owners, mentions, erased) = (owners.to_vec(), mentions.to_vec(), erased.clone());
        self.write(move |tx| {
            for owner in &owners {
                exec(
                    tx,
                    "DELETE FROM change_log WHERE owner = ?1",
                    params![owner],
                )?;
            }
            // Changes of other records that mention the person go too: a record's change
            // that names them is theirs to keep out of the log (docs/events.md).
            for mention in mentions.iter().filter(|m| !m.is_empty()) {
                exec(
                    tx,
                    "DELETE FROM change_queue WHERE instr(coalesce(before, ''), ?1) > 0
                                                OR instr(coalesce(after, ''), ?1) > 0",
                    params![mention],
                )?;
            }
            let filed: Option<i64> = query_row(
                tx,
                "SELECT seq FROM change_log WHERE event_id = ?1",
                params![erased.id],
                |r| r.get(0),
            )?;
            if filed.is_none() {
                insert_events(tx, std::slice::from_ref(&erased))?;
            }
            Ok(())
        })
        .await
    }

    async fn forget_events_before(&self, before: &Timestamp) -> Result<usize, StoreError> {
        let before = before.to_string();
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM change_log WHERE logged_at < ?1",
                params![before],
            )
        })
        .await
    }

    /// Positions are commit order under one writer: an event is readable when its position is.
    fn settle(&self) -> Duration {
        Duration::ZERO
    }
}
