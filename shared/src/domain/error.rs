//! The errors of the core: the services' one error type with its per-field details, and the
//! storage ports' error. The HTTP layer only maps them to status codes and problem+json.

use crate::domain::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum HelpdeskError {
    /// The request is well-formed but its values break the rules (422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request body cannot be read as the resource it claims to be (400).
    #[error("malformed request: {detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden: {detail}")]
    Forbidden {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0} not found")]
    NotFound(String),
    /// The write would break a uniqueness rule (409).
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// `If-Match` names a version that is no longer current (412).
    #[error("the resource changed since it was read")]
    PreconditionFailed,
    /// Too many of these in too short a time (429); `retry_after` seconds until one is allowed.
    #[error("rate limited: {detail}")]
    RateLimited { detail: String, retry_after: u64 },
    /// The body is larger than the route takes (413).
    #[error("request body too large")]
    TooLarge(Vec<FieldError>),
    /// The body is of a kind the route does not take (415).
    #[error("unsupported media type")]
    UnsupportedMedia(Vec<FieldError>),
    /// The store failed; nothing the client sent caused it (503).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl HelpdeskError {
    /// The HTTP status the error answers with (also recorded where no HTTP answer is made,
    /// e.g. a processed upload's outcome).
    pub fn status(&self) -> u16 {
        match self {
            HelpdeskError::Validation(_) => 422,
            HelpdeskError::BadRequest { .. } => 400,
            HelpdeskError::Unauthorized => 401,
            HelpdeskError::Forbidden { .. } => 403,
            HelpdeskError::NotFound(_) => 404,
            HelpdeskError::Conflict { .. } => 409,
            HelpdeskError::PreconditionFailed => 412,
            HelpdeskError::TooLarge(_) => 413,
            HelpdeskError::UnsupportedMedia(_) => 415,
            HelpdeskError::RateLimited { .. } => 429,
            HelpdeskError::Unavailable(_) => 503,
        }
    }
    /// The per-field errors of an error, as shown in problem+json and in batch results.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            HelpdeskError::Validation(errors)
            | HelpdeskError::TooLarge(errors)
            | HelpdeskError::UnsupportedMedia(errors) => errors.clone(),
            HelpdeskError::BadRequest { errors, .. }
            | HelpdeskError::Forbidden { errors, .. }
            | HelpdeskError::Conflict { errors, .. } => errors.clone(),
            HelpdeskError::PreconditionFailed => {
                vec![FieldError::new("If-Match", self.to_string())]
            }
            _ => vec![],
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::BadRequest {
            detail: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
    }
    pub fn forbidden(field: Option<&str>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Forbidden {
            errors: field
                .map(|f| vec![FieldError::new(f, detail.clone())])
                .unwrap_or_default(),
            detail,
        }
    }
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Conflict {
            detail: error.message.clone(),
            errors: vec![error],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The email is already some customer's primary or alternate email.
    #[error("email {0} is taken")]
    EmailTaken(String),
    #[error("company name {0} is taken")]
    CompanyNameTaken(String),
    #[error("domain {0} is taken")]
    DomainTaken(String),
    #[error("field key {0} is taken")]
    FieldKeyTaken(String),
    /// A message with this Message-ID is already stored.
    #[error("message {0} is already stored")]
    MessageIdTaken(String),
    /// A record with this id already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The record is not at the version the write expected (changed or deleted meanwhile).
    #[error("version mismatch")]
    VersionMismatch,
    /// The customer (named by email) is being erased: nothing changes it any more.
    #[error("customer {0} is being erased")]
    UnderErasure(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for HelpdeskError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken(email) => HelpdeskError::conflict(
                "email",
                format!("{email} already belongs to a customer (as primary or alternate email)"),
            ),
            StoreError::CompanyNameTaken(name) => {
                HelpdeskError::conflict("name", format!("a company named '{name}' already exists"))
            }
            StoreError::DomainTaken(domain) => HelpdeskError::conflict(
                "domains",
                format!("{domain} already belongs to another company"),
            ),
            StoreError::FieldKeyTaken(key) => {
                HelpdeskError::conflict("key", format!("a custom field '{key}' already exists"))
            }
            StoreError::MessageIdTaken(id) => {
                HelpdeskError::conflict("message_id", format!("message {id} is already stored"))
            }
            StoreError::Exists(what) => {
                HelpdeskError::conflict("id", format!("{what} already exists"))
            }
            StoreError::VersionMismatch => HelpdeskError::PreconditionFailed,
            StoreError::UnderErasure(email) => HelpdeskError::conflict(
                "customer",
                format!("{email} is being erased: nothing can change it any more"),
            ),
            StoreError::Unavailable(message) => HelpdeskError::Unavailable(message),
        }
    }
}
