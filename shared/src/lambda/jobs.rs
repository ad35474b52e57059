//! The jobs function's handler: DynamoDB stream records of erasures still running in, the
//! erasure run until its deadline out. A run that stops early writes a checkpoint, whose
//! stream record invokes the next run; a failed record is retried by Lambda, then dead-lettered.

use std::time::Duration;

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::services::privacy::PrivacyService;
use crate::store::dynamodb::stream::erasure_running;

pub struct JobsHandler {
    privacy: PrivacyService,
    /// Kept back from the invocation's deadline for the last checkpoint.
    margin: Duration,
}

impl JobsHandler {
    pub fn new(privacy: PrivacyService, margin: Duration) -> Self {
        Self { privacy, margin }
    }

    /// Answers `batchItemFailures` as Lambda's `ReportBatchItemFailures` expects.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event("jobs", &context, self.handle_event(event)).await
    }

    async fn handle_event(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let stream: Event = serde_json::from_value(event.payload).map_err(|e| {
            HelpdeskError::bad_request("Records", format!("not a DynamoDB stream event: {e}"))
        })?;
        let mut failures = Vec::new();
        let mut done: Vec<String> = Vec::new();
        let mut outcomes = Vec::new();
        for record in &stream.records {
            let sequence = record.change.sequence_number.clone().unwrap_or_default();
            let Some(id) = erasure_running(record) else {
                continue;
            };
            // A batch often holds several checkpoints of one erasure: one run serves them.
            if done.iter().any(|d| d == id) {
                continue;
            }
            let budget = deadline
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(self.margin);
            match self.privacy.run_erasure(id, budget).await {
                Ok(erasure) => {
                    outcomes.push(json!({"erasure": erasure.id, "status": erasure.status}));
                    done.push(id.to_string());
                }
                Err(HelpdeskError::NotFound(_)) => done.push(id.to_string()),
                Err(error) => {
                    tracing::warn!(%error, sequence, erasure = id, "erasure: will retry the record");
                    failures.push(json!({ "itemIdentifier": sequence }));
                }
            }
        }
        Ok(json!({ "batchItemFailures": failures, "outcomes": outcomes }))
    }
}
