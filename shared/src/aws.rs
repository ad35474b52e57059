//! The process's AWS configuration, shared by every client: loaded once, when a client first
//! needs it. A Lambda function answers requests that touch no AWS service (`GET /health`)
//! without loading it, and the clients it builds for the first request that does are kept.

use std::sync::Arc;

use aws_types::SdkConfig;
use tokio::sync::OnceCell;

/// The AWS configuration from the environment (region, credentials, `AWS_ENDPOINT_URL…`),
/// loaded on first use. Cheap to clone: clones share the one configuration.
#[derive(Clone, Debug, Default)]
pub struct AwsConfig {
    loaded: Arc<OnceCell<SdkConfig>>,
}

impl AwsConfig {
    /// Loaded from the environment when first needed.
    pub fn from_env() -> Self {
        Self::default()
    }

    /// A configuration that is already loaded (tests, tools).
    pub fn loaded(config: SdkConfig) -> Self {
        Self {
            loaded: Arc::new(OnceCell::new_with(Some(config))),
        }
    }

    pub async fn get(&self) -> &SdkConfig {
        self.loaded
            .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
            .await
    }
}

/// A client built from the configuration on first use, or handed in ready-made.
#[derive(Debug)]
pub(crate) struct LazyClient<C> {
    config: AwsConfig,
    build: fn(&SdkConfig) -> C,
    client: OnceCell<C>,
}

impl<C> LazyClient<C> {
    /// `build` would make the client from a configuration; a ready client never needs it.
    pub(crate) fn ready(client: C, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            config: AwsConfig::default(),
            build,
            client: OnceCell::new_with(Some(client)),
        }
    }

    pub(crate) fn deferred(config: &AwsConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            config: config.clone(),
            build,
            client: OnceCell::new(),
        }
    }

    pub(crate) async fn get(&self) -> &C {
        self.client
            .get_or_init(|| async { (self.build)(self.config.get().await) })
            .await
    }
}
