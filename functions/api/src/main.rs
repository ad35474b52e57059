//! The HTTP API Lambda: API Gateway HTTP API (payload v2) events through the shared router.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::http::auth::JwtClaimsAuthenticator;
use helpdesk_shared::objects::S3Store;
use helpdesk_shared::services::replies::SupportAddress;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::{Helpdesk, http, telemetry};

// No jemalloc here (the import and inbound functions have it): one request at a time allocates
// little, and the system allocator keeps the bootstrap smaller and its start faster.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init(telemetry::Logs::Json);
    // One AWS configuration for the process, loaded when the first request needs a client.
    let config = AwsConfig::from_env();
    let store = DynamoStore::from_config(&config)?;
    let imports = S3Store::from_config(&config, "IMPORT_BUCKET")?;
    let mail = S3Store::from_config(&config, "MAIL_BUCKET")?;
    // Replies are written here (with their Message-IDs in the support domain) and sent by the
    // notifier.
    let support = SupportAddress::from_env()?;
    let helpdesk = Helpdesk::new(Arc::new(store), Arc::new(imports), Arc::new(mail))
        .with_support_address(support);
    let router = http::router(helpdesk, Arc::new(JwtClaimsAuthenticator));
    lambda_http::run(router).await
}
