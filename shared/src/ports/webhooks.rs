//! Webhooks and their outbox (local mode): deliveries wait in the store, written in the same
//! transaction that files their events, so a crash loses none.

use async_trait::async_trait;

use crate::domain::error::StoreError;
use crate::domain::events::Event;
use crate::domain::timestamp::Timestamp;
use crate::domain::webhook::Webhook;

/// One event waiting to be posted to one webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub event: Event,
    pub attempts: u32,
    pub first_attempt_at: Option<Timestamp>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;
    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError>;
    async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    /// Replaces `previous` by `next` if still at `previous.version`.
    async fn replace_webhook(&self, previous: &Webhook, next: &Webhook) -> Result<(), StoreError>;
    /// Deletes the webhook and its waiting deliveries.
    async fn delete_webhook(&self, id: &str) -> Result<(), StoreError>;
    /// The first waiting delivery of each webhook that is due by `now` (one per webhook, so
    /// each endpoint gets its events in order).
    async fn due_deliveries(&self, now: &Timestamp) -> Result<Vec<Delivery>, StoreError>;
    /// Takes a delivery off the outbox (done, or given up).
    async fn finish_delivery(&self, id: i64) -> Result<(), StoreError>;
    /// Keeps a failed delivery for another attempt at `at`.
    async fn retry_delivery(
        &self,
        id: i64,
        attempts: u32,
        first_attempt_at: &Timestamp,
        at: &Timestamp,
    ) -> Result<(), StoreError>;
    /// Queues for `webhook_id` every event of the log after `position` that it wants; answers
    /// how many.
    async fn replay_webhook(&self, webhook: &Webhook, position: &str) -> Result<usize, StoreError>;
}
