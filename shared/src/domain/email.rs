//! An email address, normalised once on the way in: trimmed, lower-cased and checked
//! ([`normalize_email`]). Records hold `Email`s, so nothing downstream normalises again.

use serde::{Deserialize, Serialize};

use crate::domain::validation::normalize_email;

/// A normalised email address. Stored records deserialize as they were written (they were
/// normalised when they came in).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises `raw`, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Email, String> {
        normalize_email(raw).map(Email)
    }

    /// An address read back from a record of ours, which was normalised when it came in.
    pub fn stored(address: impl Into<String>) -> Email {
        Email(address.into())
    }

    /// The part after the @.
    pub fn domain(&self) -> &str {
        crate::domain::validation::email_domain(&self.0)
    }
}

crate::domain::text::text_newtype!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_and_kept_normalised() {
        let email = Email::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(email, "ann.lee@example.com");
        assert_eq!(email.domain(), "example.com");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"ann.lee@example.com\""
        );
        assert!(Email::parse("not an email").is_err());
    }
}
