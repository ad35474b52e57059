//! The jobs Lambda: DynamoDB stream records of erasures, merges and migrations still running
//! (the event source mapping filters on `job_status`) run them until done or near the deadline.

use std::sync::Arc;
use std::time::Duration;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::objects::S3Store;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::{app, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

/// Kept back from each invocation's deadline for the checkpoint that wakes the next run.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(telemetry::Logs::Json);
    let config = AwsConfig::from_env();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&config)?);
    let mail = Arc::new(S3Store::from_config(&config, "MAIL_BUCKET")?);
    let handler = app::jobs(&store, mail, DEADLINE_MARGIN);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
