//! The csv-import Lambda: S3 ObjectCreated events on `imports/` (and its own continuation
//! events) run the shared import pipeline against DynamoDB.

use std::sync::Arc;
use std::time::Duration;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::lambda::csv_import::{CsvImportHandler, SelfInvoke};
use helpdesk_shared::objects::S3Store;
use helpdesk_shared::services::customers::CustomerService;
use helpdesk_shared::services::imports::ImportContext;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::telemetry;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// jemalloc: with glibc's allocator a bulk import spent a third of its CPU in malloc, free and
// their arena locks (perf, 100k rows); jemalloc took the importer's CPU down by a third.
// Its settings are in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Kept back from the invocation's time limit to checkpoint and hand over.
const SAFETY_MARGIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(telemetry::Logs::Json);
    // One AWS configuration for the process, handed to every client.
    let aws = AwsConfig::from_env();
    let config = aws.get().await;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .map_err(|_| "AWS_LAMBDA_FUNCTION_NAME is not set")?;
    let store = Arc::new(DynamoStore::from_config(&aws)?);
    let objects = Arc::new(S3Store::from_config(&aws, "IMPORT_BUCKET")?);
    let customers =
        CustomerService::new(store.clone(), store.clone(), store.clone(), store.clone());
    let context = ImportContext::new(store, customers, objects.clone(), objects);
    let continuation = SelfInvoke::new(aws_sdk_lambda::Client::new(config), function);
    let handler = CsvImportHandler::new(context, continuation, SAFETY_MARGIN);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
