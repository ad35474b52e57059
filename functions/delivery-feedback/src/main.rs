//! The delivery-feedback Lambda: SES bounce and complaint events, which the configuration
//! set's EventBridge destination routes here, mark replies failed and customers'
//! addresses undeliverable or complained.

use std::sync::Arc;

use helpdesk_shared::aws::AwsConfig;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::{app, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init(telemetry::Logs::Json);
    let aws = AwsConfig::from_env();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::from_config(&aws)?);
    let handler = app::delivery_feedback(&store);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
