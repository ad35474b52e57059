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
            .get_or_init(|| async {
                // S3, SES and Lambda use the SDK's retries (throttling, 5xx whatever the body,
                // timeouts, broken connections), more of them than its default 3 and capped, so
                // a burst of faults is ridden out; DynamoDB retries on its own (see the store).
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .retry_config(
                        aws_config::retry::RetryConfig::standard()
                            .with_max_attempts(8)
                            .with_max_backoff(std::time::Duration::from_secs(2)),
                    )
                    .load()
                    .await
            })
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

/// Error codes after which the same request may succeed (besides any 5xx, timeouts and broken
/// connections): throttling, in each service's words.
const THROTTLING_CODES: [&str; 9] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "TooManyRequestsException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
];

type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<
    E,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

/// Whether `error` is transient: throttling, any 5xx whatever its body (a proxy's HTML page
/// too), a timeout, or a connection that failed or answered something unreadable.
pub(crate) fn is_transient<E>(error: &SdkError<E>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status >= 500
                || status == 429
                || service
                    .err()
                    .code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        _ => false,
    }
}

/// Whether `error` is throttling (the service is at capacity), as opposed to another fault.
pub(crate) fn is_throttling<E>(error: &SdkError<E>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 429
                || service
                    .err()
                    .code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        _ => false,
    }
}

/// Sends `request` (built again for each attempt) until it succeeds, fails for good, or a
/// transient fault outlasts the budget ([`crate::budget::retry_until`]). Answers the outcome
/// and whether an earlier attempt failed transiently (its write may have been applied, its
/// answer lost).
pub(crate) async fn send_retrying<T, E, F, Fut>(mut request: F) -> (Result<T, SdkError<E>>, bool)
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E>>>,
{
    let until = crate::budget::retry_until();
    let mut attempt = 0u32;
    loop {
        match request().await {
            Err(error) if is_transient(&error) => match crate::budget::next_wait(attempt, until) {
                Some(wait) => {
                    tracing::debug!(attempt, ?wait, "transient AWS fault; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return (Err(error), attempt > 0),
            },
            outcome => return (outcome, attempt > 0),
        }
    }
}
