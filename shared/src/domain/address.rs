//! Marks on an email address that outlive any customer record holding it: blocked (an
//! admin's), undeliverable (a hard bounce), complained (a spam complaint), suppressed (erased,
//! with its mail to be ignored). Every path that creates a customer, adds an email to one or
//! sends mail reads them, so deleting and re-creating a customer, or changing its email back
//! and forth, lifts none of them. Addresses are kept as salted hashes only (the salt of
//! erasure tombstones): the registry holds no address in the clear.

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// One mark: when, by whom (a caller's subject, `erasure <id>`, `delivery-feedback`), why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AddressMark {
    /// Unknown for suppressions recorded before marks had dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub at: Option<Timestamp>,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The kinds of mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// No mail from it makes a ticket; nothing automated goes to it.
    Blocked,
    /// Mail to it bounced for good: no reply or automated mail goes to it.
    Undeliverable,
    /// Its owner marked our mail as spam: no automated mail goes to it.
    Complained,
    /// Its owner was erased: no customer is made with it again, and its mail is ignored.
    Suppressed,
}

impl MarkKind {
    pub fn parse(raw: &str) -> Option<MarkKind> {
        match raw {
            "blocked" => Some(MarkKind::Blocked),
            "undeliverable" => Some(MarkKind::Undeliverable),
            "complained" => Some(MarkKind::Complained),
            "suppressed" => Some(MarkKind::Suppressed),
            _ => None,
        }
    }
}

/// Every mark of one address, versioned like a record (0: none ever written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressMarks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<AddressMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeliverable: Option<AddressMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complained: Option<AddressMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<AddressMark>,
    #[serde(default)]
    pub version: u64,
}

impl AddressMarks {
    pub fn get(&self, kind: MarkKind) -> Option<&AddressMark> {
        match kind {
            MarkKind::Blocked => self.blocked.as_ref(),
            MarkKind::Undeliverable => self.undeliverable.as_ref(),
            MarkKind::Complained => self.complained.as_ref(),
            MarkKind::Suppressed => self.suppressed.as_ref(),
        }
    }

    /// These marks with `kind` set to `mark` (`None`: lifted), one version on.
    pub fn with(&self, kind: MarkKind, mark: Option<AddressMark>) -> AddressMarks {
        let mut next = self.clone();
        *match kind {
            MarkKind::Blocked => &mut next.blocked,
            MarkKind::Undeliverable => &mut next.undeliverable,
            MarkKind::Complained => &mut next.complained,
            MarkKind::Suppressed => &mut next.suppressed,
        } = mark;
        next.version = self.version + 1;
        next
    }

    pub fn is_empty(&self) -> bool {
        self.blocked.is_none()
            && self.undeliverable.is_none()
            && self.complained.is_none()
            && self.suppressed.is_none()
    }

    /// Why no mail an agent writes may go to this address, if it may not: blocked, erased,
    /// or bouncing. (A complaint bars automated mail only: the person wrote to support.)
    pub fn bars_replies(&self) -> Option<&'static str> {
        if self.suppressed.is_some() {
            Some("the address was erased")
        } else if self.blocked.is_some() {
            Some("the address is blocked")
        } else if self.undeliverable.is_some() {
            Some("mail to the address bounced for good")
        } else {
            None
        }
    }

    /// Why an agent may not copy (Cc) this address on a reply, if they may not: a Cc'd person
    /// did not write to support, so a complaint bars them as it bars automated mail.
    pub fn bars_copies(&self) -> Option<&'static str> {
        self.bars_automated_mail()
    }

    /// Why no automated mail (welcome emails, sign-in codes) may go to it, if it may not.
    pub fn bars_automated_mail(&self) -> Option<&'static str> {
        self.bars_replies().or_else(|| {
            self.complained
                .is_some()
                .then_some("the address complained about our mail")
        })
    }
}

/// The addresses a change gives a customer: all of a new one's, or those `next` has and
/// `previous` had not, each with the field it is in.
pub fn new_addresses(
    next: &crate::domain::customer::Customer,
    previous: Option<&crate::domain::customer::Customer>,
) -> Vec<(String, String)> {
    let had = |email: &str| previous.is_some_and(|p| p.all_emails().any(|e| e == email));
    let primary = std::iter::once(("email".to_string(), next.email()));
    let alternates = next
        .profile
        .alternate_emails
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("alternate_emails[{i}]"), e.as_str()));
    primary
        .chain(alternates)
        .filter(|(_, email)| !had(email))
        .map(|(field, email)| (field, email.to_string()))
        .collect()
}

/// Lets `next` (a new customer, or `previous` changed) have its new addresses, given their
/// marks (`marks[i]` for `new_addresses(next, previous)[i]`):
/// - a suppressed address (its owner was erased) is refused;
/// - a blocked address makes a new customer blocked, and is refused for one that is not;
/// - the customer's own undeliverable and complained marks follow its primary address.
pub fn admit(
    next: &mut crate::domain::customer::Customer,
    previous: Option<&crate::domain::customer::Customer>,
    marks: &[AddressMarks],
) -> Result<(), Vec<crate::domain::validation::FieldError>> {
    use crate::domain::validation::FieldError;
    let named = new_addresses(next, previous);
    let mut refused = Vec::new();
    let mut blocked_by = None;
    for ((field, email), marks) in named.iter().zip(marks) {
        if marks.suppressed.is_some() {
            refused.push(FieldError::new(
                field.clone(),
                format!("{email} was erased and is suppressed; an admin can lift that"),
            ));
        } else if let Some(mark) = &marks.blocked {
            match previous {
                None => blocked_by = Some(mark.clone()),
                Some(previous) if previous.blocked.is_none() => refused.push(FieldError::new(
                    field.clone(),
                    format!("{email} is blocked; an admin can unblock it"),
                )),
                Some(_) => {}
            }
        }
    }
    if !refused.is_empty() {
        return Err(refused);
    }
    if let Some(mark) = blocked_by {
        next.blocked = Some(crate::domain::customer::Block {
            at: mark.at.unwrap_or_else(crate::domain::clock::now),
            by: mark.by,
        });
    }
    let primary_is_new = named.first().is_some_and(|(field, _)| field == "email");
    if primary_is_new {
        let primary = &marks[0];
        let email = next.email().to_string();
        let problem = |mark: &Option<AddressMark>| {
            mark.as_ref()
                .map(|mark| crate::domain::delivery::AddressProblem {
                    email: email.clone(),
                    at: mark.at.clone().unwrap_or_else(crate::domain::clock::now),
                    reason: mark.reason.clone().unwrap_or_default(),
                })
        };
        next.undeliverable = problem(&primary.undeliverable);
        next.complained = problem(&primary.complained);
    }
    Ok(())
}
