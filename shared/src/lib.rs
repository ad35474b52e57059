//! The helpdesk library: domain rules, services, the storage port and its adapters, and the HTTP
//! API. The Lambda functions and the local `helpdesk` program are thin wiring around it.

pub mod api;
pub mod auth;
pub mod companies;
pub mod customers;
pub mod error;
pub mod fields;
pub mod local;
pub mod patch;
pub mod store;
pub mod telemetry;
pub mod validation;

use std::sync::Arc;

use store::Store;

/// The services over one store. Cheap to clone; built once per process.
#[derive(Clone)]
pub struct Helpdesk {
    store: Arc<dyn Store>,
}

impl Helpdesk {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Now, as stored and shown everywhere: RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Time-ordered unique ids (UUID v7): they sort by creation, which keeps listings stable.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
