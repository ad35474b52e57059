//! The jobs function's handler: DynamoDB stream records of erasures, merges and migrations
//! still running in, each run until done or its deadline out. A run that stops early writes a
//! checkpoint, whose stream record invokes the next run; a failed record is retried by Lambda,
//! then dead-lettered.

use std::time::Duration;

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::services::merges::MergeService;
use crate::services::migrations::MigrationService;
use crate::services::privacy::PrivacyService;
use crate::store::dynamodb::stream::{RunningJob, running_job};

pub struct JobsHandler {
    privacy: PrivacyService,
    merges: MergeService,
    migrations: MigrationService,
    /// Kept back from the invocation's deadline for the last checkpoint.
    margin: Duration,
}

impl JobsHandler {
    pub fn new(
        privacy: PrivacyService,
        merges: MergeService,
        migrations: MigrationService,
        margin: Duration,
    ) -> Self {
        Self {
            privacy,
            merges,
            migrations,
            margin,
        }
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
        let mut done: Vec<RunningJob<'_>> = Vec::new();
        let mut outcomes = Vec::new();
        for record in &stream.records {
            let sequence = record.change.sequence_number.clone().unwrap_or_default();
            let Some(job) = running_job(record) else {
                continue;
            };
            // A batch often holds several checkpoints of one job: one run serves them.
            if done.contains(&job) {
                continue;
            }
            let budget = deadline
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(self.margin);
            let outcome = match job {
                RunningJob::Erasure(id) => self
                    .privacy
                    .run_erasure(id, budget)
                    .await
                    .map(|e| json!({"erasure": e.id, "status": e.status})),
                RunningJob::Merge(id) => self
                    .merges
                    .run_merge(id, budget)
                    .await
                    .map(|m| json!({"merge": m.id, "status": m.status})),
                RunningJob::Migration(name) => self
                    .migrations
                    .run(name, budget)
                    .await
                    .map(|m| json!({"migration": m.name, "status": m.status})),
            };
            match outcome {
                Ok(outcome) => {
                    outcomes.push(outcome);
                    done.push(job);
                }
                Err(HelpdeskError::NotFound(_)) => done.push(job),
                Err(error) => {
                    tracing::warn!(%error, sequence, ?job, "job: will retry the record");
                    failures.push(json!({ "itemIdentifier": sequence }));
                }
            }
        }
        Ok(json!({ "batchItemFailures": failures, "outcomes": outcomes }))
    }
}
