//! Events to an EventBridge bus: `PutEvents` in batches of ten, sending again only the entries
//! EventBridge failed, each event's detail the envelope the change feed shows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::error::HelpdeskError;
use crate::domain::events::Event;
use crate::ports::changes::EventSink;
use crate::ports::store::FieldStore;

/// `source` of every event on the bus.
pub const SOURCE: &str = "helpdesk";
/// Entries per `PutEvents` (EventBridge's limit).
const BATCH: usize = 10;
/// Rounds of sending failed entries again before the invocation fails (and Lambda retries).
const ROUNDS: u32 = 5;
/// EventBridge refuses an entry over 256 KB; a larger event goes without its record.
const MAX_DETAIL: usize = 250_000;

pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    fields: Arc<dyn FieldStore>,
}

impl EventBridgeSink {
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus: String,
        fields: Arc<dyn FieldStore>,
    ) -> Self {
        Self {
            client,
            bus,
            fields,
        }
    }

    fn entry(&self, event: &Event, detail: Vec<u8>) -> PutEventsRequestEntry {
        let detail = if detail.len() > MAX_DETAIL {
            let mut slim = event.clone();
            slim.record = None;
            let fields = crate::domain::field::FieldSet::default();
            crate::http::event_json(&slim, &fields)
        } else {
            detail
        };
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.kind.name())
            .resources(format!(
                "helpdesk:{}:{}",
                entity_name(event),
                event.entity.id
            ))
            .detail(String::from_utf8_lossy(&detail).into_owned())
            .build()
    }

    /// Sends `entries`, then again the ones EventBridge failed, for [`ROUNDS`] rounds.
    async fn put(&self, mut entries: Vec<PutEventsRequestEntry>) -> Result<(), HelpdeskError> {
        for round in 0..ROUNDS {
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| {
                    HelpdeskError::Unavailable(format!(
                        "eventbridge: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(e)
                    ))
                })?;
            if output.failed_entry_count() == 0 {
                return Ok(());
            }
            // Answers are in the order of the entries; a failed one has an error code.
            entries = output
                .entries()
                .iter()
                .zip(entries)
                .filter(|(answer, _)| answer.error_code().is_some())
                .map(|(_, entry)| entry)
                .collect();
            tracing::warn!(
                failed = entries.len(),
                round,
                "eventbridge failed entries; sending them again"
            );
            tokio::time::sleep(Duration::from_millis(100 << round)).await;
        }
        Err(HelpdeskError::Unavailable(format!(
            "eventbridge: {} entries still failing",
            entries.len()
        )))
    }
}

fn entity_name(event: &Event) -> String {
    serde_json::to_value(event.entity.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn publish(&self, events: &[Event]) -> Result<(), HelpdeskError> {
        if events.is_empty() {
            return Ok(());
        }
        let fields = crate::domain::field::FieldSet::new(self.fields.list_fields().await?);
        for chunk in events.chunks(BATCH) {
            let entries = chunk
                .iter()
                .map(|event| self.entry(event, crate::http::event_json(event, &fields)))
                .collect();
            self.put(entries).await?;
        }
        Ok(())
    }
}
