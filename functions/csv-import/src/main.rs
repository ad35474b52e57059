//! The csv-import Lambda: S3 ObjectCreated events on `imports/` (and its own continuation
//! events) run the shared import pipeline against DynamoDB; events on
//! `avatar-uploads/incoming/` process uploaded avatars.

use std::sync::Arc;
use std::time::Duration;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::lambda::csv_import::SelfInvoke;
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

/// jemalloc settings of the import function alone, on top of `.cargo/config.toml`'s: two
/// arenas instead of four per CPU, and freed pages returned within half a second. A 1M-row
/// import to DynamoDB peaked at 102 MiB without them and at 87 MiB with them, its CPU per row
/// unchanged (docs/performance.md). jemalloc reads this C string at start.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static IMPORT_MALLOC_CONF: &u8 = &b"narenas:2,dirty_decay_ms:500,muzzy_decay_ms:0\0"[0];

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
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&aws)?);
    let bucket = Arc::new(S3Store::from_config(&aws, "IMPORT_BUCKET")?);
    // Avatars uploaded to the import bucket are stored, processed, in the mail bucket.
    let mail = Arc::new(S3Store::from_config(&aws, "MAIL_BUCKET")?);
    let continuation = SelfInvoke::new(aws_sdk_lambda::Client::new(config), function);
    let handler = app::csv_import(&store, bucket, mail, continuation, SAFETY_MARGIN);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
