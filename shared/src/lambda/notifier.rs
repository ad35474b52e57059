//! The notifier function's handler: DynamoDB stream records of customers with a welcome email
//! due, and of agents' replies queued, in; mail out. Failed records are reported one by one, so a batch is not
//! replayed for the sake of one record.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::services::notifications::{Notifier, SendOutcome};
use crate::services::replies::sender::ReplySender;
use crate::store::dynamodb::stream::{reply_due, welcome_due};

pub struct NotifierHandler {
    notifier: Notifier,
    replies: ReplySender,
}

impl NotifierHandler {
    pub fn new(notifier: Notifier, replies: ReplySender) -> Self {
        Self { notifier, replies }
    }

    /// Answers `batchItemFailures` (the records to retry, by sequence number) as Lambda's
    /// `ReportBatchItemFailures` expects.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event("notifier", &context, self.handle_event(event)).await
    }

    async fn handle_event(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let stream: Event = serde_json::from_value(event.payload).map_err(|e| {
            HelpdeskError::bad_request("Records", format!("not a DynamoDB stream event: {e}"))
        })?;
        let mut failures = Vec::new();
        let mut outcomes = Vec::new();
        for record in &stream.records {
            let sequence = record.change.sequence_number.clone().unwrap_or_default();
            let sent = if let Some(email) = welcome_due(record) {
                self.notifier.welcome(email).await
            } else if let Some((ticket, message)) = reply_due(record) {
                self.replies.send(ticket, message).await
            } else {
                Ok(SendOutcome::NotDue)
            };
            match sent {
                Ok(outcome) => outcomes.push(outcome),
                Err(error) => {
                    tracing::warn!(%error, sequence, "outgoing mail: will retry the record");
                    failures.push(json!({ "itemIdentifier": sequence }));
                }
            }
        }
        Ok(json!({ "batchItemFailures": failures, "outcomes": outcomes }))
    }
}
