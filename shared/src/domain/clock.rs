//! Time and identity: timestamps as stored and shown everywhere, ids, a stable hash.

use crate::domain::timestamp::Timestamp;

/// Now, as stored and shown everywhere.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Time-ordered unique ids (UUID v7): they sort by creation, which keeps listings stable.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The timestamp `after` from now.
pub fn timestamp_after(after: std::time::Duration) -> Timestamp {
    Timestamp::after(after)
}

/// A Unix time in milliseconds.
pub fn timestamp_from_millis(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

/// FNV-1a: a hash that stays the same across processes and Rust versions.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
