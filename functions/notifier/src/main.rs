//! The notifier Lambda: the table's stream. Each record's events go into the change log and on
//! to the stack's EventBridge bus; the welcome emails and replies it shows due go out through
//! SES, once each.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::mail::SesMailer;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::services::notifications::WelcomeTemplate;
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
    // One AWS configuration for the process, handed to every client.
    let aws = AwsConfig::from_env();
    let config = aws.get().await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&aws)?);
    // Through the configuration set whose event destination reports bounces and complaints.
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(config))
        .with_configuration_set(std::env::var("SES_CONFIGURATION_SET").ok());
    // The portal's address (set by the stack while the portal is on): welcome emails invite
    // customers to it, and sign-in codes link to it.
    let portal = std::env::var("PORTAL_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let template = WelcomeTemplate::from_env()?.with_portal(portal);
    // The stack's event bus: every filed event is published there (off when unset).
    let events = std::env::var("EVENT_BUS_NAME")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .map(|bus| app::event_bridge(config, &store, bus));
    let handler = app::notifier(&store, Arc::new(mailer), template, events);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
