//! Typed ids: what a request names (a ticket, a company, a job, a merge) is parsed once where it
//! comes in, so a service cannot be handed one kind of id for another.

use serde::{Deserialize, Serialize};

use crate::domain::email::Email;

/// Something a request names by a path segment: parsed at the edge, and when it cannot be
/// one (malformed), the answer is the same as for one that does not exist.
pub trait Named: Sized {
    /// What the thing is, for "… not found".
    const WHAT: &'static str;
    fn parse_name(raw: &str) -> Option<Self>;
}

/// Longest id any record has (UUIDs are 36 characters); longer is no id of ours.
const MAX_ID_CHARS: usize = 64;

/// A record id as clients send it: trimmed, non-empty, short, printable ASCII.
fn plain_id(raw: &str) -> Option<String> {
    let id = raw.trim();
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    ok.then(|| id.to_string())
}

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $parse:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id of a stored record (which was checked when it was made).
            pub fn of(id: impl Into<String>) -> Self {
                Self(id.into())
            }
        }

        impl Named for $name {
            const WHAT: &'static str = $what;
            fn parse_name(raw: &str) -> Option<Self> {
                let parse: fn(&str) -> Option<String> = $parse;
                parse(raw).map(Self)
            }
        }

        crate::domain::text::text_newtype!($name);
    };
}

id_newtype!(
    /// A ticket id: ten characters of Crockford base32, read case-insensitively.
    TicketId,
    "ticket",
    |raw| {
        let id = raw.trim().to_ascii_uppercase();
        let ok = id.len() == 10 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then_some(id)
    }
);
id_newtype!(CompanyId, "company", plain_id);
id_newtype!(
    /// The id of a job: an import, an erasure.
    JobId,
    "job",
    plain_id
);
id_newtype!(MergeId, "merge", plain_id);

impl Named for Email {
    const WHAT: &'static str = "customer";
    fn parse_name(raw: &str) -> Option<Self> {
        Email::parse(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_at_the_edge() {
        assert_eq!(
            TicketId::parse_name(" k7q2m9xd4t ").unwrap(),
            TicketId::of("K7Q2M9XD4T")
        );
        assert!(TicketId::parse_name("K7Q2").is_none());
        assert!(TicketId::parse_name("K7Q2M9XD4/").is_none());
        assert!(CompanyId::parse_name("0193a-b").is_some());
        assert!(CompanyId::parse_name("").is_none());
        assert!(CompanyId::parse_name(&"x".repeat(65)).is_none());
        assert_eq!(
            Email::parse_name("Ann@X.io").unwrap(),
            Email::parse("ann@x.io").unwrap()
        );
    }
}
