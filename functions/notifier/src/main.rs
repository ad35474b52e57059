//! The notifier Lambda: DynamoDB stream records of customers whose welcome email is due (the
//! event source mapping filters on `welcome_status`) send it through SES, once.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::lambda::notifier::NotifierHandler;
use helpdesk_shared::mail::SesMailer;
use helpdesk_shared::services::notifications::{Notifier, WelcomeTemplate};
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::telemetry;
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
    // One AWS configuration for the process, handed to every client.
    let aws = AwsConfig::from_env();
    let config = aws.get().await;
    let store = DynamoStore::from_config(&aws)?;
    let notifier = Notifier {
        customers: Arc::new(store),
        mailer: Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(config))),
        template: WelcomeTemplate::from_env()?,
    };
    let handler = NotifierHandler::new(notifier);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
