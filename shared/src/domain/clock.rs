//! Time and identity: timestamps as stored and shown everywhere, ids, a stable hash.

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
