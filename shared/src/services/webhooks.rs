//! Webhooks (local mode): endpoints admins register, and the outcome of each delivery. The
//! delivering itself (HTTP, signing) is the local program's; this keeps the rules.

use std::sync::Arc;

use crate::domain::caller::Caller;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::events::EventType;
use crate::domain::timestamp::Timestamp;
use crate::domain::webhook::{Attempt, Webhook, WebhookState, check_url, is_private, retry_at};
use crate::ports::webhooks::{Delivery, WebhookStore};

/// Endpoints one helpdesk keeps at most.
const MAX_WEBHOOKS: usize = 50;

#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    /// `--allow-private-webhooks`: endpoints on loopback or private addresses are allowed.
    pub allow_private: bool,
}

impl WebhookService {
    pub fn new(store: Arc<dyn WebhookStore>, allow_private: bool) -> Self {
        Self {
            store,
            allow_private,
        }
    }

    /// Registers an endpoint; the answer holds its secret, which is shown only now.
    pub async fn create(
        &self,
        caller: &Caller,
        url: &str,
        types: Option<Vec<EventType>>,
    ) -> Result<Webhook, HelpdeskError> {
        caller.require_admin()?;
        let url = check_url(url)?;
        self.check_reachable(&url)?;
        if self.store.list_webhooks().await?.len() >= MAX_WEBHOOKS {
            return Err(HelpdeskError::conflict(
                "url",
                format!("at most {MAX_WEBHOOKS} webhooks; delete one first"),
            ));
        }
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let webhook = Webhook {
            id: crate::domain::clock::new_id(),
            url: url.to_string(),
            types,
            secret: format!("whsec_{secret}"),
            created_at: Timestamp::now(),
            created_by: caller.subject.clone(),
            state: WebhookState::Active,
            disabled_reason: None,
            failures_in_row: 0,
            failing_since: None,
            delivered: 0,
            recent: Vec::new(),
            version: 1,
        };
        self.store.insert_webhook(&webhook).await?;
        Ok(webhook)
    }

    /// A host that is a private address (or `localhost`) needs `--allow-private-webhooks`;
    /// names are checked again where they resolve, at each delivery.
    fn check_reachable(&self, url: &url::Url) -> Result<(), HelpdeskError> {
        if self.allow_private {
            return Ok(());
        }
        let private = match url.host() {
            Some(url::Host::Ipv4(ip)) => is_private(ip.into()),
            Some(url::Host::Ipv6(ip)) => is_private(ip.into()),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            None => true,
        };
        if private {
            return Err(HelpdeskError::bad_request(
                "url",
                "points at a loopback or private address: start helpdesk serve with \
                 --allow-private-webhooks to allow that",
            ));
        }
        Ok(())
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<Webhook>, HelpdeskError> {
        caller.require_admin()?;
        Ok(self.store.list_webhooks().await?)
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Webhook, HelpdeskError> {
        caller.require_admin()?;
        self.store
            .get_webhook(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("webhook {id}")))
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), HelpdeskError> {
        self.get(caller, id).await?;
        Ok(self.store.delete_webhook(id).await?)
    }

    /// Queues again every event after `cursor` (a `next_cursor` of the change feed) that the
    /// endpoint wants, and turns a disabled endpoint back on: replaying says it works again.
    pub async fn replay(
        &self,
        caller: &Caller,
        id: &str,
        cursor: &str,
    ) -> Result<usize, HelpdeskError> {
        let webhook = self.get(caller, id).await?;
        let position = crate::services::changes::decode_cursor(cursor).ok_or_else(|| {
            HelpdeskError::bad_request("cursor", "not a cursor of the change feed")
        })?;
        let mut active = webhook.clone();
        if webhook.state == WebhookState::Disabled {
            active.state = WebhookState::Active;
            active.disabled_reason = None;
            active.failures_in_row = 0;
            active.failing_since = None;
            active.version += 1;
            self.store.replace_webhook(&webhook, &active).await?;
        }
        Ok(self.store.replay_webhook(&active, &position).await?)
    }

    /// The next delivery of each endpoint that is due, with the endpoint.
    pub async fn due(&self) -> Result<Vec<(Webhook, Delivery)>, HelpdeskError> {
        let mut due = Vec::new();
        for delivery in self.store.due_deliveries(&Timestamp::now()).await? {
            match self.store.get_webhook(&delivery.webhook_id).await? {
                Some(hook) if hook.state == WebhookState::Active => due.push((hook, delivery)),
                // Gone or turned off: its waiting deliveries go (a replay queues them again).
                _ => self.store.finish_delivery(delivery.id).await?,
            }
        }
        Ok(due)
    }

    /// Records an attempt: done, retried later (backing off), or given up after a day; the
    /// endpoint keeps the attempt and is turned off when it has failed too long.
    pub async fn record(&self, delivery: &Delivery, attempt: Attempt) -> Result<(), HelpdeskError> {
        let now = Timestamp::now();
        if attempt.ok {
            self.store.finish_delivery(delivery.id).await?;
        } else {
            let attempts = delivery.attempts + 1;
            let first = delivery
                .first_attempt_at
                .clone()
                .unwrap_or_else(|| now.clone());
            match retry_at(attempts, &first, &now) {
                Some(at) => {
                    self.store
                        .retry_delivery(delivery.id, attempts, &first, &at)
                        .await?
                }
                None => {
                    tracing::warn!(webhook = %delivery.webhook_id, event = %delivery.event.id,
                        "webhook delivery given up after a day of retries");
                    self.store.finish_delivery(delivery.id).await?
                }
            }
        }
        for _ in 0..5 {
            let Some(hook) = self.store.get_webhook(&delivery.webhook_id).await? else {
                return Ok(());
            };
            match self
                .store
                .replace_webhook(&hook, &hook.after(attempt.clone(), &now))
                .await
            {
                Err(StoreError::VersionMismatch) => continue,
                other => return Ok(other?),
            }
        }
        Ok(())
    }
}
