//! The csv-import function's handler: S3 `ObjectCreated` events (and its own continuation
//! events) in, import runs out. Avatars uploaded straight to the bucket arrive the same way
//! and are processed here too. Generic over [`Continuation`] so tests can drive it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::domain::import_job::IMPORT_PREFIX;
use crate::services::avatars::{AvatarService, INCOMING_PREFIX};
use crate::services::imports::{ImportContext, RunOptions, RunOutcome, run_import};

/// Runs the rest of a paused import in a new invocation.
#[async_trait]
pub trait Continuation: Send + Sync {
    async fn continue_later(&self, job_id: &str) -> Result<(), String>;
}

/// The event a paused import sends itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueImport {
    pub continue_import: String,
}

/// What the function is invoked with: its own continuation, or an S3 notification.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ImportEvent {
    Continue(ContinueImport),
    S3(S3Event),
}

/// Production continuation: an asynchronous invoke of this same function.
pub struct SelfInvoke {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl SelfInvoke {
    pub fn new(client: aws_sdk_lambda::Client, function_name: impl Into<String>) -> Self {
        Self {
            client,
            function_name: function_name.into(),
        }
    }
}

#[async_trait]
impl Continuation for SelfInvoke {
    async fn continue_later(&self, job_id: &str) -> Result<(), String> {
        let payload = serde_json::to_vec(&ContinueImport {
            continue_import: job_id.to_string(),
        })
        .map_err(|e| e.to_string())?;
        self.client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| aws_sdk_lambda::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }
}

pub struct CsvImportHandler<C> {
    context: ImportContext,
    /// Avatars uploaded straight to the bucket come through the same S3 events.
    avatars: AvatarService,
    continuation: C,
    /// Time kept back before the invocation's deadline to save a checkpoint and hand over.
    safety_margin: Duration,
}

/// What one invocation did, per job (returned to Lambda, visible in logs and tests).
#[derive(Debug, Clone, Serialize)]
pub struct Handled {
    pub job_id: String,
    pub outcome: &'static str,
}

impl<C: Continuation> CsvImportHandler<C> {
    pub fn new(
        context: ImportContext,
        avatars: AvatarService,
        continuation: C,
        safety_margin: Duration,
    ) -> Self {
        Self {
            context,
            avatars,
            continuation,
            safety_margin,
        }
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event("csv-import", &context, self.handle_event(event)).await
    }

    async fn handle_event(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let remaining =
            Duration::from_millis(event.context.deadline.saturating_sub(epoch_millis()));
        let deadline = Instant::now() + remaining.saturating_sub(self.safety_margin);
        // The lease outlives this invocation a little, so a retry does not start over meanwhile.
        let lease = remaining + Duration::from_secs(30);
        // Lambda retries a failed event with the same request id: that retry may take over
        // this run's lease at once, should this run fail without giving it back.
        let owner = event.context.request_id.clone();
        let mut handled = Vec::new();
        let event: ImportEvent = serde_json::from_value(event.payload).map_err(|e| {
            HelpdeskError::bad_request(
                "event",
                format!("neither an S3 event nor a continuation: {e}"),
            )
        })?;
        match event {
            ImportEvent::Continue(resume) => {
                handled.push(
                    self.run(&resume.continue_import, deadline, lease, &owner)
                        .await?,
                );
            }
            ImportEvent::S3(s3) => {
                for record in s3.records {
                    let Some(key) = record.s3.object.key.as_deref().map(decode_key) else {
                        continue;
                    };
                    if key.starts_with(INCOMING_PREFIX) {
                        let status = self.avatars.process_upload(&key).await?;
                        tracing::info!(?status, "avatar upload processed");
                        continue;
                    }
                    if !key.starts_with(IMPORT_PREFIX) {
                        tracing::info!(%key, "not under imports/; ignored");
                        continue;
                    }
                    // The object's version identifies this upload: a redelivered event maps to
                    // the same job, which is then already running or finished.
                    let version = record
                        .s3
                        .object
                        .version_id
                        .clone()
                        .filter(|v| !v.is_empty() && v != "null")
                        .or_else(|| record.s3.object.e_tag.clone())
                        .or_else(|| record.s3.object.sequencer.clone())
                        .unwrap_or_default();
                    let job = self.context.job_for_object(&key, &version).await?;
                    handled.push(self.run(&job.id, deadline, lease, &owner).await?);
                }
            }
        }
        Ok(json!({ "handled": handled }))
    }

    async fn run(
        &self,
        job_id: &str,
        deadline: Instant,
        lease: Duration,
        owner: &str,
    ) -> Result<Handled, HelpdeskError> {
        let options = RunOptions {
            deadline: Some(deadline),
            lease,
            progress: None,
            owner: Some(owner.to_string()),
        };
        let outcome = run_import(&self.context, job_id, options).await?;
        let outcome = match outcome {
            RunOutcome::Finished(_) => "finished",
            RunOutcome::Busy(_) => "busy",
            RunOutcome::Paused(_) => {
                self.continuation
                    .continue_later(job_id)
                    .await
                    .map_err(|e| {
                        HelpdeskError::Unavailable(format!(
                            "could not schedule the continuation: {e}"
                        ))
                    })?;
                "continued"
            }
        };
        Ok(Handled {
            job_id: job_id.to_string(),
            outcome,
        })
    }
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// S3 event keys are URL-encoded, with `+` for spaces.
fn decode_key(raw: &str) -> String {
    url::form_urlencoded::parse(format!("k={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_decoded() {
        assert_eq!(
            super::decode_key("imports/My+File%281%29.csv"),
            "imports/My File(1).csv"
        );
    }
}
