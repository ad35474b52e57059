//! Lambda event handlers: each turns one function's events into service calls and reports
//! failures to Lambda's retry and dead-letter machinery.

#[cfg(feature = "csv-import")]
pub mod csv_import;
#[cfg(feature = "delivery-feedback")]
pub mod delivery_feedback;
#[cfg(any(feature = "notifier", feature = "jobs"))]
pub mod due_work;
#[cfg(feature = "email-ingest")]
pub mod email_ingest;

use crate::domain::error::HelpdeskError;

/// Failed invocations report their error type and message to Lambda (and its retry and
/// dead-letter machinery).
impl From<HelpdeskError> for lambda_runtime::Diagnostic {
    fn from(error: HelpdeskError) -> Self {
        let kind = match &error {
            HelpdeskError::Validation(_) | HelpdeskError::BadRequest { .. } => "InvalidEvent",
            HelpdeskError::NotFound(_) => "NotFound",
            HelpdeskError::Unavailable(_) => "Unavailable",
            _ => "Refused",
        };
        lambda_runtime::Diagnostic {
            error_type: kind.to_string(),
            error_message: error.to_string(),
        }
    }
}
