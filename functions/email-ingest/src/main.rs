//! The email-ingest Lambda: SES receipt-rule events (Lambda action, after the S3 action stored
//! the raw message in the mail bucket) run the shared inbound pipeline against DynamoDB.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::objects::S3Store;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::{app, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// jemalloc: with glibc's allocator a bulk import spent a third of its CPU in malloc, free and
// their arena locks (perf, 100k rows); jemalloc took the importer's CPU down by a third.
// Its settings are in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(telemetry::Logs::Json);
    // One AWS configuration for the process, loaded when the first event needs a client.
    let config = AwsConfig::from_env();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&config)?);
    let mail = Arc::new(S3Store::from_config(&config, "MAIL_BUCKET")?);
    let handler = app::email_ingest(&store, mail, std::env::var("MAIL_PREFIX").ok());
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
