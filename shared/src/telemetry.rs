//! Logging set-up shared by every entry point.

/// JSON logs in Lambda (CloudWatch parses them), compact text on a terminal; `RUST_LOG` filters.
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if json {
        builder.json().without_time().try_init()
    } else {
        builder.compact().try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(result);
}
