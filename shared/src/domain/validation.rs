//! Normalisation and validation primitives shared by every capability.
//!
//! Every check returns a message meant for the API client; callers attach the field path.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One problem with one field of a request, e.g. `{"field": "alternate_emails[1]", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors so that a client learns about every bad field at once.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
    /// Records the error of `result` under `field` and returns the value when there was none.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

pub const MAX_EMAIL_LEN: usize = 254;

/// Trims and lower-cases an email address and checks its shape (RFC 5321 limits, ASCII only).
///
/// The whole address is lower-cased: mailbox providers treat local parts case-insensitively in
/// practice, and one customer must never exist twice under `Ann@x.com` and `ann@x.com`.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.len() > MAX_EMAIL_LEN {
        return Err(format!("must be at most {MAX_EMAIL_LEN} characters"));
    }
    if !trimmed.is_ascii() {
        return Err("must be an ASCII email address".into());
    }
    let email = trimmed.to_ascii_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("is not an email address (no @)".into());
    };
    if local.is_empty() || local.len() > 64 {
        return Err("has an empty or over-long part before the @".into());
    }
    let local_ok = local.bytes().all(|b| LOCAL_PART[usize::from(b)])
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err("has characters that are not allowed before the @".into());
    }
    check_hostname(domain).map_err(|m| format!("has an invalid domain: {m}"))?;
    Ok(email)
}

/// Bytes allowed in the part before the @ (RFC 5322 atext and the dot). Checked per row of
/// every import, so a table rather than a search.
const LOCAL_PART: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let specials = b"!#$%&'*+/=?^_`{|}~.-";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] = true;
        i += 1;
    }
    table
};

/// Lower-cases a domain name (a leading `@` is tolerated) and checks it is a plausible hostname.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let domain = raw
        .trim()
        .trim_start_matches('@')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    check_hostname(&domain)?;
    Ok(domain)
}

/// Checks a lower-case hostname without allocating.
fn check_hostname(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("must not be empty".into());
    }
    if domain.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    let mut labels = 0;
    let mut last = "";
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("label '{label}' is not a valid hostname label"));
        }
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err("needs at least two labels, e.g. example.com".into());
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a domain name, not an IP address".into());
    }
    Ok(())
}

/// The domain part of an already normalised email.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// Providers whose domains are shared by unrelated people and so can never identify a company.
const WEBMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "zoho.com",
    "yandex.com",
    "mail.com",
    "mail.ru",
    "web.de",
    "fastmail.com",
    "tutanota.com",
    "hey.com",
];

/// Families that exist under many country suffixes (gmx.de, gmx.net, yahoo.co.uk, hotmail.fr …).
const WEBMAIL_FAMILIES: &[&str] = &[
    "gmx", "yahoo", "hotmail", "outlook", "live", "yandex", "aol",
];

/// True for consumer webmail domains, which may never be attached to a company.
pub fn is_webmail_domain(domain: &str) -> bool {
    if WEBMAIL_DOMAINS.contains(&domain) {
        return true;
    }
    let Some((family, suffix)) = domain.split_once('.') else {
        return false;
    };
    // A public suffix such as "de", "net", "co.uk" or "com.br": one or two short labels.
    let suffix_labels: Vec<&str> = suffix.split('.').collect();
    WEBMAIL_FAMILIES.contains(&family)
        && suffix_labels.len() <= 2
        && suffix_labels.iter().all(|l| (2..=3).contains(&l.len()))
}

/// Checks a `yyyy-mm-dd` calendar date.
pub fn parse_date(raw: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    if raw.len() != 10 {
        return Err("must be a date formatted yyyy-mm-dd".into());
    }
    time::Date::parse(raw, &format).map_err(|_| "must be a real date formatted yyyy-mm-dd".into())
}

/// Checks a phone number as people type it: digits with optional `+`, spaces, dots, dashes,
/// parentheses and an extension. It is kept as typed (trimmed).
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let phone = raw.trim();
    let (number, extension) = match phone.to_ascii_lowercase().split_once("ext") {
        Some((n, e)) => (
            n.trim().to_string(),
            Some(e.trim_start_matches('.').trim().to_string()),
        ),
        None => (phone.to_string(), None),
    };
    let digits = number.chars().filter(|c| c.is_ascii_digit()).count();
    let allowed = number
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " .-()/".contains(c) || (c == '+' && i == 0));
    let extension_ok = extension
        .as_deref()
        .is_none_or(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_digit()));
    if !allowed || !(3..=20).contains(&digits) || phone.len() > 40 || !extension_ok {
        return Err("must be a phone number: digits, optional leading +, spaces, dots, dashes or parentheses".into());
    }
    Ok(phone.to_string())
}

/// Checks an absolute http(s) URL.
pub fn check_url(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.to_string())
        }
        _ => Err("must be an absolute http or https URL".into()),
    }
}

/// Trims free text; empty becomes `None`; over-long text is refused rather than cut.
pub fn optional_text(raw: Option<String>, max: usize) -> Result<Option<String>, String> {
    match raw.map(|s| s.trim().to_string()) {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() > max => Err(format!("must be at most {max} characters")),
        Some(s)
            if s.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') =>
        {
            Err("must not contain control characters".into())
        }
        Some(s) => Ok(Some(s)),
    }
}

/// [`optional_text`] for single-line fields (names, address parts, labels): no control
/// characters at all, so no CR, LF, tab or NUL can reach a header, a CSV export or a log line.
pub fn single_line_text(raw: Option<String>, max: usize) -> Result<Option<String>, String> {
    if raw
        .as_deref()
        .is_some_and(|s| s.chars().any(char::is_control))
    {
        return Err("must be a single line without control characters (CR, LF, tab, NUL…)".into());
    }
    optional_text(raw, max)
}

/// Keeps the first occurrence of each value, in order.
pub fn dedup_in_order<T: Ord + Clone>(values: Vec<T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalize_and_reject() {
        assert_eq!(
            normalize_email("  Ann.Lee@Example.COM ").unwrap(),
            "ann.lee@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a..b@x.com",
            "a@x",
            "a b@x.com",
            "ä@x.com",
            "a@-x.com",
            "a@1.2.3.4",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn webmail_families() {
        for d in [
            "gmail.com",
            "gmx.de",
            "gmx.net",
            "yahoo.co.uk",
            "hotmail.fr",
            "proton.me",
        ] {
            assert!(is_webmail_domain(d), "{d}");
        }
        for d in ["acme.com", "live.acme.com", "gmxacme.de", "outlook.acme.io"] {
            assert!(!is_webmail_domain(d), "{d}");
        }
    }

    #[test]
    fn dates_and_phones() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-1-01").is_err());
        assert!(normalize_phone("+1 (555) 010-2000 ext. 12").is_ok());
        assert!(normalize_phone("call me").is_err());
        assert!(normalize_phone("1+2").is_err());
    }
}
