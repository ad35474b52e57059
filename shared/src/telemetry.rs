//! Logging set-up shared by every entry point.

/// Where logs go and how they look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// Lambda: JSON lines on stdout, which CloudWatch parses.
    Json,
    /// Local server: compact text on stderr, `info` and up.
    Text,
    /// Local one-shot commands: warnings only on stderr, so stdout stays the command's output.
    Quiet,
}

/// `RUST_LOG` overrides the level in every mode.
pub fn init(logs: Logs) {
    let default = if logs == Logs::Quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match logs {
        Logs::Json => builder.json().without_time().try_init(),
        Logs::Text | Logs::Quiet => {
            use std::io::IsTerminal;
            let colours = std::io::stderr().is_terminal();
            builder
                .compact()
                .with_ansi(colours)
                .with_writer(std::io::stderr)
                .try_init()
        }
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(result);
}

#[cfg(feature = "lambda")]
/// Runs the handling of one Lambda event and logs one line for it: the function, Lambda's
/// request id, the outcome and the duration. Inside it, every log line carries the request id.
pub async fn per_event<T, F>(
    function: &'static str,
    context: &lambda_runtime::Context,
    work: F,
) -> Result<T, crate::domain::error::HelpdeskError>
where
    F: std::future::Future<Output = Result<T, crate::domain::error::HelpdeskError>>,
{
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let span = tracing::info_span!("event", function, request_id = %context.request_id);
    // Transient faults are retried while the invocation has time (5 s kept to report back).
    let remaining =
        std::time::Duration::from_millis(context.deadline.saturating_sub(epoch_millis()));
    let budget_end = started + remaining.saturating_sub(std::time::Duration::from_secs(5));
    let result = if context.deadline == 0 {
        // No deadline given (a handler driven by hand): each call has the default budget.
        work.instrument(span).await
    } else {
        crate::budget::within(budget_end, work.instrument(span)).await
    };
    let millis = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let request_id = context.request_id.as_str();
    match &result {
        Ok(_) => tracing::info!(function, request_id, outcome = "ok", millis, "event"),
        Err(error) => {
            tracing::error!(function, request_id, outcome = "error", %error, millis, "event")
        }
    }
    result
}

#[cfg(feature = "lambda")]
fn epoch_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
