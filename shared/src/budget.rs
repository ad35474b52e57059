//! How long transient faults may be retried. A Lambda invocation sets its deadline (less what it
//! keeps back to hand over) for all the work it does, so a fault is retried as long as there is
//! time and fails the invocation only when it outlasts it; elsewhere each call gets a fixed
//! budget. Adapters ask [`retry_until`]; nothing else needs to know.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Without an invocation deadline (the API, local mode), a call retries for at most this long.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(20);

/// Runs `work` with transient faults retried until `deadline`.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// `work` with the current deadline, for a task spawned from a task that has one (task-locals
/// do not cross `tokio::spawn` by themselves).
pub fn inherit<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let deadline = DEADLINE.try_with(|d| *d).ok();
    async move {
        match deadline {
            Some(deadline) => DEADLINE.scope(deadline, work).await,
            None => work.await,
        }
    }
}

/// Until when a call that starts now may retry.
pub fn retry_until() -> Instant {
    DEADLINE
        .try_with(|d| *d)
        .unwrap_or_else(|_| Instant::now() + DEFAULT_BUDGET)
}

/// Capped exponential backoff with full jitter: up to 25 ms, doubling to 2 s. `None` when
/// waiting would pass `until`: the fault has outlasted the budget.
pub fn next_wait(attempt: u32, until: Instant) -> Option<Duration> {
    let ceiling = 25u64.saturating_mul(1 << attempt.min(7)).min(2_000);
    let wait = Duration::from_millis(rand::random_range(0..=ceiling));
    (Instant::now() + wait < until).then_some(wait)
}
