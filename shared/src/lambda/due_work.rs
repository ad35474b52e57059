//! The handler of the stream-driven functions (notifier, jobs): DynamoDB stream records in,
//! the work each shows as due done by the function's runner. A run that stops early (a job at
//! its deadline) writes a checkpoint whose stream record invokes the next run. Failed records
//! are reported one by one (`ReportBatchItemFailures`), so a batch is not replayed for one
//! record, and Lambda retries them, then dead-letters them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::ports::due::DueWork;
use crate::services::due::{DueOutcome, DueWorkRunner};
use crate::services::notifications::SendOutcome;
use crate::store::dynamodb::stream::{due_work, record_change};

pub struct DueWorkHandler {
    /// The function's name in its log lines.
    function: &'static str,
    runner: DueWorkRunner,
    /// Kept back from the invocation's deadline for a job's last checkpoint.
    margin: Duration,
    /// The notifier also files every record's events in the change log.
    changes: Option<crate::services::changes::ChangeLogger>,
}

impl DueWorkHandler {
    pub fn new(function: &'static str, runner: DueWorkRunner, margin: Duration) -> Self {
        Self {
            function,
            runner,
            margin,
            changes: None,
        }
    }

    /// The handler, filing the events of every record it gets in the change log first.
    pub fn with_change_log(mut self, changes: crate::services::changes::ChangeLogger) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Answers `batchItemFailures` (the records to retry, by sequence number) and an outcome
    /// per record.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event(self.function, &context, self.handle_event(event)).await
    }

    async fn handle_event(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let stream: Event = serde_json::from_value(event.payload).map_err(|e| {
            HelpdeskError::bad_request("Records", format!("not a DynamoDB stream event: {e}"))
        })?;
        let mut failures = Vec::new();
        let mut outcomes = Vec::new();
        if let Some(changes) = &self.changes {
            // All of the batch or none: a failure retries the batch from its first record,
            // and filing events again files the same ids.
            let records: Vec<_> = stream.records.iter().filter_map(record_change).collect();
            if let Err(error) = changes.log(&records).await {
                tracing::warn!(%error, "change log: will retry the batch");
                let first = stream.records.first();
                let sequence = first.and_then(|r| r.change.sequence_number.clone());
                return Ok(json!({
                    "batchItemFailures": [{ "itemIdentifier": sequence.unwrap_or_default() }],
                }));
            }
        }
        // A batch often holds several checkpoints of one job: one run serves them all.
        let mut done: Vec<(DueWork, DueOutcome)> = Vec::new();
        for record in &stream.records {
            let sequence = record.change.sequence_number.clone().unwrap_or_default();
            let Some(work) = due_work(record) else {
                outcomes.push(json!(SendOutcome::NotDue));
                continue;
            };
            if let Some((_, outcome)) = done.iter().find(|(w, _)| w == &work) {
                outcomes.push(json!(outcome));
                continue;
            }
            let budget = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(self.margin);
            match self.runner.run(&work, budget).await {
                Ok(outcome) => {
                    outcomes.push(json!(outcome));
                    done.push((work, outcome));
                }
                // A job whose record is gone (deleted meanwhile) has nothing left to do.
                Err(HelpdeskError::NotFound(_)) if work.is_job() => {
                    outcomes.push(json!(SendOutcome::NotDue));
                }
                Err(error) => {
                    tracing::warn!(%error, sequence, ?work, "will retry the record");
                    failures.push(json!({ "itemIdentifier": sequence }));
                }
            }
        }
        Ok(json!({ "batchItemFailures": failures, "outcomes": outcomes }))
    }
}
