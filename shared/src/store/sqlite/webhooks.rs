//! Webhooks and their outbox: a delivery row is written in the transaction that files its
//! event, and leaves only when delivered or given up, so `kill -9` loses none.

use super::*;
use crate::domain::events::{Event, EventType};
use crate::domain::timestamp::Timestamp;
use crate::domain::webhook::{Webhook, WebhookState};
use crate::ports::webhooks::{Delivery, WebhookStore};

pub(super) fn active_webhooks(tx: &Connection) -> Result<Vec<Webhook>, StoreError> {
    let hooks: Vec<(String, Webhook)> =
        read_docs(tx, "SELECT id, doc FROM webhooks ORDER BY id", [])?;
    Ok(hooks
        .into_iter()
        .map(|(_, hook)| hook)
        .filter(|hook| hook.state == WebhookState::Active)
        .collect())
}

pub(super) fn queue_delivery(
    tx: &Connection,
    webhook_id: &str,
    seq: i64,
    at: &str,
) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO webhook_outbox (webhook_id, event_seq, next_at) VALUES (?1, ?2, ?3)",
        params![webhook_id, seq, at],
    )?;
    Ok(())
}

type DueRow = (i64, String, u32, Option<String>, String, Option<String>);

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let (id, version, doc) = (webhook.id.clone(), webhook.version, to_doc(webhook)?);
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO webhooks (id, version, doc) VALUES (?1, ?2, ?3)",
                params![id, version as i64, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let id = id.to_string();
        self.with(move |c| read_doc(c, "SELECT doc FROM webhooks WHERE id = ?1", params![id]))
            .await
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.with(|c| {
            let rows: Vec<(String, Webhook)> =
                read_docs(c, "SELECT id, doc FROM webhooks ORDER BY id", [])?;
            Ok(rows.into_iter().map(|(_, hook)| hook).collect())
        })
        .await
    }

    async fn replace_webhook(&self, previous: &Webhook, next: &Webhook) -> Result<(), StoreError> {
        let (id, was, version, doc) = (
            next.id.clone(),
            previous.version as i64,
            next.version as i64,
            to_doc(next)?,
        );
        self.write(move |tx| {
            let changed = exec(
                tx,
                "UPDATE webhooks SET version = ?1, doc = ?2 WHERE id = ?3 AND version = ?4",
                params![version, doc, id, was],
            )?;
            if changed == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM webhook_outbox WHERE webhook_id = ?1",
                params![id],
            )?;
            exec(tx, "DELETE FROM webhooks WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn due_deliveries(&self, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
        // Polled twice a second: an empty outbox is seen by a read, without taking the writer.
        let waiting = self
            .read(|conn| {
                conn.query_row("SELECT EXISTS(SELECT 1 FROM webhook_outbox)", [], |r| {
                    r.get::<_, bool>(0)
                })
                .map_err(unavailable)
            })
            .await?;
        if !waiting {
            return Ok(Vec::new());
        }
        let now = now.to_string();
        self.write(move |tx| {
            let rows: Vec<DueRow> = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT o.id, o.webhook_id, o.attempts, o.first_attempt_at, o.next_at, l.doc
                         FROM webhook_outbox o LEFT JOIN change_log l ON l.seq = o.event_seq
                         WHERE o.id IN (SELECT min(id) FROM webhook_outbox GROUP BY webhook_id)",
                    )
                    .map_err(unavailable)?;
                let rows = statement
                    .query_map([], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)?
            };
            let mut due = Vec::new();
            for (id, webhook_id, attempts, first, next_at, doc) in rows {
                let Some(doc) = doc else {
                    // Its event is forgotten (an erasure, or past retention): nothing to send.
                    exec(tx, "DELETE FROM webhook_outbox WHERE id = ?1", params![id])?;
                    continue;
                };
                if next_at <= now {
                    due.push(Delivery {
                        id,
                        webhook_id,
                        event: from_doc::<Event>(&doc)?,
                        attempts,
                        first_attempt_at: first.and_then(|t| Timestamp::parse(&t).ok()),
                    });
                }
            }
            Ok(due)
        })
        .await
    }

    async fn finish_delivery(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            exec(tx, "DELETE FROM webhook_outbox WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn retry_delivery(
        &self,
        id: i64,
        attempts: u32,
        first_attempt_at: &Timestamp,
        at: &Timestamp,
    ) -> Result<(), StoreError> {
        let (first, at) = (first_attempt_at.to_string(), at.to_string());
        self.write(move |tx| {
            exec(
                tx,
                "UPDATE webhook_outbox SET attempts = ?1, first_attempt_at = ?2, next_at = ?3
                 WHERE id = ?4",
                params![attempts, first, at, id],
            )?;
            Ok(())
        })
        .await
    }

    async fn replay_webhook(&self, webhook: &Webhook, position: &str) -> Result<usize, StoreError> {
        let after: i64 = position.parse().unwrap_or(0);
        let hook = webhook.clone();
        self.write(move |tx| {
            let rows: Vec<(i64, String)> = {
                let mut statement = tx
                    .prepare_cached("SELECT seq, kind FROM change_log WHERE seq > ?1 ORDER BY seq")
                    .map_err(unavailable)?;
                let rows = statement
                    .query_map(params![after], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)?
            };
            let now = Timestamp::now().to_string();
            let mut queued = 0;
            for (seq, kind) in rows {
                let wanted = EventType::ALL
                    .into_iter()
                    .find(|t| t.name() == kind)
                    .is_some_and(|t| hook.wants(t));
                if wanted {
                    queue_delivery(tx, &hook.id, seq, &now)?;
                    queued += 1;
                }
            }
            Ok(queued)
        })
        .await
    }
}
