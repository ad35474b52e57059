//! The HTTP API Lambda: API Gateway HTTP API (payload v2) events through the shared router.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::objects::S3Store;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::services::portal::PortalSso;
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
    let sso = portal_sso(&config).await?;
    lambda_http::run(app::api(&store, imports, mail, support, portal, sso)).await
}

/// The portal's single sign-on, when the stack names its secret (`PORTAL_SSO_SECRET_ARN`, a
/// Secrets Manager secret): read once at start, so a rotated secret takes effect as containers
/// are replaced. Unknown addresses get a customer only with `PORTAL_SSO_CREATE_CUSTOMERS=true`.
async fn portal_sso(config: &AwsConfig) -> Result<Option<PortalSso>, lambda_http::Error> {
    let Some(arn) = std::env::var("PORTAL_SSO_SECRET_ARN")
        .ok()
        .filter(|a| !a.trim().is_empty())
    else {
        return Ok(None);
    };
    let client = aws_sdk_secretsmanager::Client::new(config.get().await);
    let secret = client.get_secret_value().secret_id(arn).send().await?;
    let bytes = match (secret.secret_string(), secret.secret_binary()) {
        (Some(text), _) => text.trim().as_bytes().to_vec(),
        (None, Some(blob)) => blob.as_ref().to_vec(),
        (None, None) => return Err("the portal's single sign-on secret is empty".into()),
    };
    let create = std::env::var("PORTAL_SSO_CREATE_CUSTOMERS").is_ok_and(|v| v.trim() == "true");
    Ok(Some(PortalSso::new(&bytes, create)?))
}
