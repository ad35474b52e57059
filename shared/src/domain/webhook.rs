//! Webhooks (local mode): where events are posted, how each delivery is signed, when a failed
//! one is tried again, and when an endpoint that keeps failing is turned off.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::domain::error::HelpdeskError;
use crate::domain::events::EventType;
use crate::domain::timestamp::Timestamp;

/// A delivery is tried again for this long after its first attempt, then given up.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// An endpoint failing this long without a success is turned off.
pub const DISABLE_AFTER_DAYS: i64 = 5;
/// An endpoint failing this many deliveries in a row is turned off.
pub const DISABLE_AFTER_FAILURES: u32 = 1000;
/// Attempts kept on the endpoint to show.
const RECENT: usize = 20;
/// The longest URL accepted.
const MAX_URL: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    Active,
    Disabled,
}

/// One attempt at delivering an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub event_id: String,
    pub at: Timestamp,
    /// The endpoint's status, if it answered.
    pub status: Option<u16>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Only these types (`None`: every type).
    pub types: Option<Vec<EventType>>,
    /// The signing secret (shown once, when the webhook is made).
    pub secret: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub state: WebhookState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default)]
    pub failures_in_row: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    #[serde(default)]
    pub delivered: u64,
    #[serde(default)]
    pub recent: Vec<Attempt>,
    pub version: u64,
}

impl Webhook {
    pub fn wants(&self, kind: EventType) -> bool {
        self.state == WebhookState::Active
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&kind))
    }

    /// The webhook after `attempt`: counts, the recent list, and off when it kept failing.
    pub fn after(&self, attempt: Attempt, now: &Timestamp) -> Webhook {
        let mut next = self.clone();
        next.version += 1;
        if attempt.ok {
            next.failures_in_row = 0;
            next.failing_since = None;
            next.delivered += 1;
        } else {
            next.failures_in_row += 1;
            let since = next
                .failing_since
                .get_or_insert_with(|| now.clone())
                .clone();
            let days = (now.unix_seconds() - since.unix_seconds()) / 86_400;
            if next.failures_in_row >= DISABLE_AFTER_FAILURES || days >= DISABLE_AFTER_DAYS {
                next.state = WebhookState::Disabled;
                next.disabled_reason = Some(format!(
                    "turned off after {} failed deliveries in a row since {since} (last: {})",
                    next.failures_in_row,
                    attempt
                        .error
                        .clone()
                        .or(attempt.status.map(|s| format!("HTTP {s}")))
                        .unwrap_or_default()
                ));
            }
        }
        next.recent.insert(0, attempt);
        next.recent.truncate(RECENT);
        next
    }
}

/// `X-Helpdesk-Signature` of `body` sent at `unix` seconds: `t=<unix>,v1=<hex>` where hex is
/// HMAC-SHA256 with the secret over `"<unix>.<body>"`.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_mac());
    mac.update(format!("{unix}.").as_bytes());
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// HMAC takes keys of any length; this is never reached.
fn unreachable_mac() -> hmac::Hmac<sha2::Sha256> {
    hmac::Hmac::<sha2::Sha256>::new_from_slice(b"-").unwrap_or_else(|_| unreachable!())
}

/// When to try a delivery again after `attempts` failed ones, first tried at `first`: 30 s,
/// then doubling up to an hour, for [`RETRY_FOR`]; `None` once that has passed.
pub fn retry_at(attempts: u32, first: &Timestamp, now: &Timestamp) -> Option<Timestamp> {
    let waited = now.unix_seconds() - first.unix_seconds();
    if waited >= RETRY_FOR.as_secs() as i64 {
        return None;
    }
    let delay = 30u64
        .saturating_mul(1 << attempts.saturating_sub(1).min(7))
        .min(3600);
    Some(Timestamp::from_unix_millis(
        (now.unix_seconds() + delay as i64) * 1000,
    ))
}

/// A webhook's URL as given: http or https, a host, no credentials, at most 2 KB.
pub fn check_url(raw: &str) -> Result<url::Url, HelpdeskError> {
    let bad = |why: &str| HelpdeskError::bad_request("url", why.to_string());
    if raw.len() > MAX_URL {
        return Err(bad("is longer than 2048 characters"));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not hold credentials (the signature authenticates us)",
        ));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a #fragment"));
    }
    Ok(url)
}

/// Whether an address is one a webhook may not reach without `--allow-private-webhooks`:
/// loopback, private, link-local, unique-local, unspecified, or the cloud metadata range.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(v4.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        let signed = signature("whsec_test", 1_700_000_000, b"{\"a\":1}");
        assert!(signed.starts_with("t=1700000000,v1="), "{signed}");
        assert_eq!(signed.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(signed, signature("other", 1_700_000_000, b"{\"a\":1}"));
        assert_ne!(signed, signature("whsec_test", 1_700_000_001, b"{\"a\":1}"));
    }

    #[test]
    fn retries_back_off_then_give_up_after_a_day() {
        let first = Timestamp::from_unix_millis(1_700_000_000_000);
        let next = retry_at(1, &first, &first).unwrap();
        assert_eq!(next.unix_seconds() - first.unix_seconds(), 30);
        let later = retry_at(3, &first, &first).unwrap();
        assert_eq!(later.unix_seconds() - first.unix_seconds(), 120);
        let capped = retry_at(30, &first, &first).unwrap();
        assert_eq!(capped.unix_seconds() - first.unix_seconds(), 3600);
        let day_later = Timestamp::from_unix_millis(1_700_000_000_000 + 86_400_000);
        assert_eq!(retry_at(5, &first, &day_later), None);
    }

    fn hook() -> Webhook {
        Webhook {
            id: "w".into(),
            url: "https://x.test/".into(),
            types: Some(vec![EventType::CustomerCreated]),
            secret: "s".into(),
            created_at: Timestamp::from_unix_millis(0),
            created_by: "admin".into(),
            state: WebhookState::Active,
            disabled_reason: None,
            failures_in_row: 0,
            failing_since: None,
            delivered: 0,
            recent: Vec::new(),
            version: 1,
        }
    }

    fn attempt(ok: bool) -> Attempt {
        Attempt {
            event_id: "evt".into(),
            at: Timestamp::from_unix_millis(0),
            status: Some(if ok { 200 } else { 500 }),
            ok,
            error: (!ok).then(|| "HTTP 500".to_string()),
        }
    }

    #[test]
    fn endpoints_failing_too_long_or_too_often_are_turned_off() {
        let start = Timestamp::from_unix_millis(1_700_000_000_000);
        let mut h = hook();
        for _ in 0..DISABLE_AFTER_FAILURES - 1 {
            h = h.after(attempt(false), &start);
        }
        assert_eq!(h.state, WebhookState::Active);
        assert_eq!(h.recent.len(), RECENT);
        let off = h.after(attempt(false), &start);
        assert_eq!(off.state, WebhookState::Disabled);
        assert!(
            off.disabled_reason
                .unwrap()
                .contains("1000 failed deliveries")
        );
        // A success resets the count; five days of failures turn it off too.
        let h = h.after(attempt(true), &start).after(attempt(false), &start);
        assert_eq!((h.failures_in_row, h.delivered), (1, 1));
        let five_days = Timestamp::from_unix_millis(1_700_000_000_000 + 5 * 86_400_000);
        assert_eq!(
            h.after(attempt(false), &five_days).state,
            WebhookState::Disabled
        );
        assert!(!hook().wants(EventType::CompanyCreated));
        assert!(hook().wants(EventType::CustomerCreated));
    }

    #[test]
    fn urls_and_addresses() {
        assert!(check_url("https://hooks.example.com/x?y=1").is_ok());
        for bad in [
            "ftp://x",
            "https://user:pw@x.com",
            "not a url",
            "http://x.com/#f",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
