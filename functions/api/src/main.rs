//! The HTTP API Lambda: API Gateway HTTP API (payload v2) events through the shared router.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::objects::S3Store;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::services::replies::SupportAddress;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::{app, telemetry};

// No jemalloc here (the import and inbound functions have it): one request at a time allocates
// little, and the system allocator keeps the bootstrap smaller and its start faster.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(telemetry::Logs::Json);
    // One AWS configuration for the process, loaded when the first request needs a client.
    let config = AwsConfig::from_env();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&config)?);
    let imports = Arc::new(S3Store::from_config(&config, "IMPORT_BUCKET")?);
    let mail = Arc::new(S3Store::from_config(&config, "MAIL_BUCKET")?);
    // Replies are written with their Message-IDs in the support domain; the notifier sends them.
    let support = SupportAddress::from_env()?;
    // The customer portal is on unless the stack says otherwise (`PortalEnabled`).
    let portal = std::env::var("PORTAL_ENABLED").map_or(true, |v| v.trim() != "false");
    lambda_http::run(app::api(&store, imports, mail, support, portal)).await
}
