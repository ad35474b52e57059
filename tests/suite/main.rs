//! The one integration test binary (one link of the AWS SDK instead of one per file).
//!
//! DynamoDB tests talk to dynoxide and S3/SES tests to `moto_server`, which `bash tests/run`
//! installs and starts; their addresses come in `DYNAMODB_ENDPOINT` and `MOTO_ENDPOINT`.
//! Without them those tests fail with a message saying so.

/// Instantiates each named test (an `async fn(LambdaApi)`) twice: on SQLite with a folder, as
/// in local mode, and on DynamoDB (dynoxide) and S3 (moto), as in the cloud. Defined before the
/// modules so that every one of them can use it.
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $test() { super::$test(crate::support::LambdaApi::on_sqlite().await).await; } )*
        }
        mod dynamodb {
            $( #[tokio::test] async fn $test() { super::$test(crate::support::LambdaApi::on_dynamodb().await).await; } )*
        }
    };
}

pub(crate) mod api;
mod changes;
mod conformance;
#[path = "../../benches/support/fault_proxy.rs"]
mod fault_proxy;
mod history;
mod imports;
pub(crate) mod inbound;
pub(crate) mod local;
mod merges;
mod metering;
#[path = "../../benches/support/metering_proxy.rs"]
mod metering_proxy;
mod migrations;
mod notifications;
mod portal;
mod privacy;
mod replies;
mod security;
mod streams;
mod support;
