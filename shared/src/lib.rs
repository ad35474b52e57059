//! The helpdesk library: domain rules, services, the storage port and its adapters, and the HTTP
//! API. The Lambda functions and the local `helpdesk` program are thin wiring around it.

pub mod api;
pub mod auth;
pub mod companies;
pub mod customers;
pub mod error;
pub mod fields;
pub mod imports;
pub mod inbound;
pub mod local;
pub mod notifications;
pub mod objects;
pub mod patch;
pub mod store;
pub mod telemetry;
pub mod tickets;
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
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Time-ordered unique ids (UUID v7): they sort by creation, which keeps listings stable.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The timestamp `after` from now, in the form of [`now`]; such timestamps sort as strings in
/// time order.
pub fn timestamp_after(after: std::time::Duration) -> String {
    format_timestamp(time::OffsetDateTime::now_utc() + after)
}

/// A Unix time in milliseconds, in the form of [`now`].
pub fn timestamp_from_millis(millis: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    format_timestamp(at)
}

fn format_timestamp(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// FNV-1a: a hash that stays the same across processes and Rust versions.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
