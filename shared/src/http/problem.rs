//! Errors as `application/problem+json`, naming the bad fields.

use super::*;

// ---------------------------------------------------------------------------------------------
// Errors as RFC 9457 problem details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Problem {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) title: &'static str,
    pub(super) status: u16,
    pub(super) detail: String,
    pub(super) errors: Vec<FieldError>,
}

/// The status code an error answers with.
pub(super) fn status_of(error: &HelpdeskError) -> StatusCode {
    status_and_title(error).0
}

fn status_and_title(error: &HelpdeskError) -> (StatusCode, &'static str) {
    let title = match error {
        HelpdeskError::Validation(_) => "Validation failed",
        HelpdeskError::BadRequest { .. } => "Malformed request",
        HelpdeskError::Unauthorized => "Authentication required",
        HelpdeskError::Forbidden { .. } => "Forbidden",
        HelpdeskError::NotFound(_) => "Not found",
        HelpdeskError::Conflict { .. } => "Conflict",
        HelpdeskError::PreconditionFailed => "Precondition failed",
        HelpdeskError::TooLarge(_) => "Payload too large",
        HelpdeskError::UnsupportedMedia(_) => "Unsupported media type",
        HelpdeskError::RateLimited { .. } => "Too many requests",
        HelpdeskError::Unavailable(_) => "Service unavailable",
    };
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, title)
}

impl IntoResponse for HelpdeskError {
    fn into_response(self) -> Response {
        let (status, title) = status_and_title(&self);
        let detail = match &self {
            HelpdeskError::Validation(errors)
            | HelpdeskError::TooLarge(errors)
            | HelpdeskError::UnsupportedMedia(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            HelpdeskError::BadRequest { detail, .. }
            | HelpdeskError::Forbidden { detail, .. }
            | HelpdeskError::Conflict { detail, .. }
            | HelpdeskError::RateLimited { detail, .. } => detail.clone(),
            HelpdeskError::Unavailable(message) => {
                // The cause goes to the log, not to the client.
                tracing::error!(error = %message, "store unavailable");
                "the service could not complete the request; it is safe to retry".into()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            HelpdeskError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let mut response = problem(status, title, detail, self.field_errors());
        if let Some(seconds) = retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// What a handler fails with: the core's errors, and the two only HTTP has.
#[derive(Debug)]
pub enum ApiError {
    Core(HelpdeskError),
    /// The request body is over [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) (413).
    PayloadTooLarge,
    /// A change that must name the version it is based on came without `If-Match` (428).
    PreconditionRequired,
}

impl From<HelpdeskError> for ApiError {
    fn from(error: HelpdeskError) -> Self {
        ApiError::Core(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Core(error) => error.into_response(),
            ApiError::PayloadTooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                "request body too large".into(),
                vec![FieldError::new("body", "request body too large")],
            ),
            ApiError::PreconditionRequired => problem(
                StatusCode::PRECONDITION_REQUIRED,
                "Precondition required",
                "If-Match is required".into(),
                vec![FieldError::new("If-Match", "If-Match is required")],
            ),
        }
    }
}

/// An `application/problem+json` response.
pub(super) fn problem(
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
) -> Response {
    let body = Problem {
        kind: "about:blank",
        title,
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

pub(super) async fn not_found() -> HelpdeskError {
    HelpdeskError::NotFound("route".into())
}

pub(super) async fn method_not_allowed() -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "this method is not allowed on this resource".into(),
        vec![FieldError::new("method", "not allowed here")],
    )
}
