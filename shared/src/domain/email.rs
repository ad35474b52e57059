//! An email address, normalised once on the way in: trimmed, lower-cased and checked
//! ([`normalize_email`]). Records hold `Email`s, so nothing downstream normalises again.

use std::fmt;
use std::ops::Deref;

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

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the @.
    pub fn domain(&self) -> &str {
        crate::domain::validation::email_domain(&self.0)
    }
}

impl Deref for Email {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl PartialEq<str> for Email {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Email {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Email {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Email> for String {
    fn eq(&self, other: &Email) -> bool {
        *self == other.0
    }
}

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
