//! The notifier function's handler: DynamoDB stream records of customers with a welcome email
//! due in, welcome emails out. Failed records are reported one by one, so a batch is not
//! replayed for the sake of one record.

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::services::notifications::{Notifier, WelcomeOutcome};

pub struct NotifierHandler {
    notifier: Notifier,
}

impl NotifierHandler {
    pub fn new(notifier: Notifier) -> Self {
        Self { notifier }
    }

    /// Answers `batchItemFailures` (the records to retry, by sequence number) as Lambda's
    /// `ReportBatchItemFailures` expects.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event("notifier", &context, self.handle_event(event)).await
    }

    async fn handle_event(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let records = event
            .payload
            .get("Records")
            .and_then(Value::as_array)
            .ok_or_else(|| HelpdeskError::bad_request("Records", "not a DynamoDB stream event"))?;
        let mut failures = Vec::new();
        let mut outcomes = Vec::new();
        for record in records {
            let image = &record["dynamodb"]["NewImage"];
            let sequence = record["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let email = image["pk"]["S"]
                .as_str()
                .and_then(|pk| pk.strip_prefix("EMAIL#"));
            let due = image["kind"]["S"] == "customer" && image["welcome_status"]["S"] == "pending";
            let (Some(email), true) = (email, due) else {
                outcomes.push(WelcomeOutcome::NotDue);
                continue;
            };
            match self.notifier.welcome(email).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(error) => {
                    tracing::warn!(%error, sequence, "welcome email: will retry the record");
                    failures.push(json!({ "itemIdentifier": sequence }));
                }
            }
        }
        Ok(json!({ "batchItemFailures": failures, "outcomes": outcomes }))
    }
}
