//! Read-modify-write against optimistic concurrency: read, decide, write at the version read;
//! when another writer got in between, read again. One helper, one limit, for every such loop.

use std::future::Future;

use crate::domain::error::{HelpdeskError, StoreError};

/// How many times a read-modify-write is tried before the caller is told to try later. Each
/// conflict means another writer succeeded, so running out takes sustained contention.
pub(crate) const CONFLICT_ATTEMPTS: usize = 8;

/// What one attempt came to.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Someone else wrote first: read again and retry.
    Conflict,
}

impl<T> Attempt<T> {
    /// A write's outcome as an attempt: a version mismatch is a conflict, other errors fail.
    pub(crate) fn of_write(
        outcome: Result<(), StoreError>,
        done: impl FnOnce() -> T,
    ) -> Result<Attempt<T>, HelpdeskError> {
        match outcome {
            Ok(()) => Ok(Attempt::Done(done())),
            Err(StoreError::VersionMismatch) => Ok(Attempt::Conflict),
            Err(other) => Err(other.into()),
        }
    }
}

/// Runs `attempt` until it is done or fails, at most [`CONFLICT_ATTEMPTS`] times; `what`
/// names the record in the error when it kept changing.
pub(crate) async fn retry_on_conflict<T, F, Fut>(
    what: &str,
    mut attempt: F,
) -> Result<T, HelpdeskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, HelpdeskError>>,
{
    for _ in 0..CONFLICT_ATTEMPTS {
        if let Attempt::Done(value) = attempt().await? {
            return Ok(value);
        }
    }
    Err(HelpdeskError::Unavailable(format!(
        "the {what} kept changing; try again"
    )))
}
