//! A point in time as records hold it and the API shows it: RFC 3339 UTC with milliseconds
//! (`2026-12-02T03:41:42.123Z`). The fixed form sorts as text in time order, which listings,
//! sort keys and lease checks rely on, so it is made only here.

use serde::{Deserialize, Serialize};

const FORM: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// A timestamp in the one stored form. Stored records deserialize as they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::at(time::OffsetDateTime::now_utc())
    }

    /// `after` from now.
    pub fn after(after: std::time::Duration) -> Timestamp {
        Timestamp::at(time::OffsetDateTime::now_utc() + after)
    }

    /// A Unix time in milliseconds (now, if it is out of range).
    pub fn from_unix_millis(millis: i64) -> Timestamp {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        Timestamp::at(at)
    }

    /// A timestamp written in the stored form, or why `text` is not one.
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let at = time::PrimitiveDateTime::parse(text, FORM).map_err(|e| {
            format!("'{text}' is not a timestamp like 2026-01-31T09:30:00.000Z: {e}")
        })?;
        Ok(Timestamp::at(at.assume_utc()))
    }

    /// A time as other systems write it: a `yyyy-mm-dd` date (midnight UTC) or an RFC 3339
    /// timestamp with its offset (kept as the same instant in UTC).
    pub fn parse_external(text: &str) -> Result<Timestamp, String> {
        let text = text.trim();
        if let Ok(date) = crate::domain::validation::parse_date(text) {
            return Ok(Timestamp::at(date.midnight().assume_utc()));
        }
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|at| Timestamp::at(at.to_offset(time::UtcOffset::UTC)))
            .map_err(|_| format!("'{text}' is neither a date (yyyy-mm-dd) nor an RFC 3339 time"))
    }

    /// Seconds since the Unix epoch (0 for a text that is no timestamp of ours).
    pub fn unix_seconds(&self) -> i64 {
        time::PrimitiveDateTime::parse(&self.0, FORM)
            .map(|at| at.assume_utc().unix_timestamp())
            .unwrap_or_default()
    }

    /// Milliseconds since the Unix epoch (0 for a text that is no timestamp of ours).
    pub fn unix_millis(&self) -> i64 {
        time::PrimitiveDateTime::parse(&self.0, FORM)
            .map(|at| (at.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
            .unwrap_or_default()
    }

    /// Letters and digits only (`20261206T204953139Z`), for where punctuation may not go
    /// (SES message tags).
    pub fn compact(&self) -> String {
        self.0.chars().filter(char::is_ascii_alphanumeric).collect()
    }

    /// The timestamp [`Timestamp::compact`] made `text` of.
    pub fn from_compact(text: &str) -> Option<Timestamp> {
        let ok = text.len() == 19 && text.is_ascii();
        if !ok {
            return None;
        }
        let t = text;
        let full = format!(
            "{}-{}-{}T{}:{}:{}.{}Z",
            &t[0..4],
            &t[4..6],
            &t[6..8],
            &t[9..11],
            &t[11..13],
            &t[13..15],
            &t[15..18]
        );
        Timestamp::parse(&full).ok()
    }

    /// This time `days` later; a timestamp that does not parse stays as it is.
    pub fn plus_days(&self, days: i64) -> Timestamp {
        match time::PrimitiveDateTime::parse(&self.0, FORM) {
            Ok(at) => Timestamp::at(at.assume_utc() + time::Duration::days(days)),
            Err(_) => self.clone(),
        }
    }

    fn at(at: time::OffsetDateTime) -> Timestamp {
        Timestamp(
            at.format(FORM)
                .unwrap_or_else(|_| at.unix_timestamp().to_string()),
        )
    }
}

crate::domain::text::text_newtype!(Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_form_sorts_in_time_order() {
        let earlier = Timestamp::from_unix_millis(1_700_000_000_000);
        let later = Timestamp::from_unix_millis(1_700_000_000_001);
        assert_eq!(earlier, "2023-11-14T22:13:20.000Z");
        assert!(earlier < later);
        assert!(Timestamp::now() < Timestamp::after(std::time::Duration::from_secs(1)));
        assert_eq!(
            serde_json::to_string(&earlier).unwrap(),
            "\"2023-11-14T22:13:20.000Z\""
        );
        assert_eq!(Timestamp::parse("2023-11-14T22:13:20.000Z"), Ok(earlier));
        assert!(Timestamp::parse("2023-11-14 22:13").is_err());
    }
}
