//! The customer record, its parts, and the rules that turn client input into a valid profile.

use crate::domain::provenance::Actor;
use crate::domain::timestamp::Timestamp;
use std::collections::BTreeMap;

use crate::domain::delivery::AddressProblem;
use crate::domain::error::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::email::Email;

pub const MAX_ALTERNATE_EMAILS: usize = 20;
pub const MAX_PHONES: usize = 20;
pub const MAX_TAGS: usize = 100;
pub const MAX_ENTITLEMENTS: usize = 50;
pub const MAX_SOCIAL_LINKS: usize = 20;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_NOTES_CHARS: usize = 20_000;
pub const MAX_BATCH: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PortalAccess {
    /// No portal at all: no sign-in code is sent, no session opens.
    None,
    /// The tickets they requested or are Cc'd on.
    #[default]
    Own,
    /// Also every ticket of their company, to read.
    CompanyRead,
    /// Also every ticket of their company, to read and answer.
    Company,
}

impl PortalAccess {
    /// `company_read` and `company` are company permissions: only admins and agents who may
    /// manage companies grant them.
    pub fn is_company_wide(self) -> bool {
        matches!(self, PortalAccess::CompanyRead | PortalAccess::Company)
    }
}

/// The portal's bookkeeping on a customer (not part of the profile clients write).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalState {
    /// `portal_access` was set explicitly (by a request or an import naming it): joining a
    /// company then keeps it instead of taking the company's default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub access_set: bool,
    /// Moves on when every portal session of the customer is revoked.
    #[serde(default, skip_serializing_if = "is_zero_epoch")]
    pub epoch: u64,
}

fn is_zero_epoch(value: &u64) -> bool {
    *value == 0
}

impl PortalState {
    pub fn is_default(&self) -> bool {
        *self == PortalState::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    pub name: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WelcomeStatus {
    Pending,
    Sent,
    Failed,
}

/// Who blocked a customer, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Block {
    /// When the customer was blocked.
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub at: Timestamp,
    /// Who blocked them: the admin's `sub` or API key id.
    pub by: String,
}

/// The state of the welcome email requested with `send_welcome: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Welcome {
    pub status: WelcomeStatus,
    /// When it was requested (pending) or sent or given up (sent, failed).
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub at: Timestamp,
    /// Set while the notifier sends it: a redelivered event then sends nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub sending_since: Option<Timestamp>,
    /// Sending attempts that failed so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Welcome {
    /// Requested and not yet being sent.
    pub fn is_due(&self) -> bool {
        self.status == WelcomeStatus::Pending && self.sending_since.is_none()
    }
}

/// Everything about a customer that clients write. Normalised and validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phones: Vec<String>,
    pub alternate_emails: Vec<Email>,
    pub company_id: Option<String>,
    pub address: Option<Address>,
    pub social: BTreeMap<String, String>,
    pub avatar: Option<String>,
    pub custom_fields: BTreeMap<String, Value>,
    pub tags: Vec<String>,
    pub portal_access: PortalAccess,
    pub notes: Option<String>,
    pub entitlements: Vec<Entitlement>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    /// Immutable; notes (and later tickets) hang off it so a change of email keeps them.
    pub id: String,
    #[serde(flatten)]
    pub profile: Profile,
    #[serde(default)]
    pub welcome: Option<Welcome>,
    /// The import row that last wrote this record, so a resumed import recognises its own
    /// writes and counts them once. Internal: never shown by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_mark: Option<ImportMark>,
    /// Set by an admin: mail from this customer is ignored and nothing automated is sent to
    /// them, until an admin unblocks them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Block>,
    /// Set when mail to the customer's address bounced for good: no reply is sent to it until
    /// the email is changed or an admin clears the mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeliverable: Option<AddressProblem>,
    /// Set when the customer marked our mail as spam: nothing automated (welcome emails) is
    /// sent to them any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complained: Option<AddressProblem>,
    #[serde(default, skip_serializing_if = "PortalState::is_default")]
    pub portal: PortalState,
    /// The avatar uploaded for the customer, in its processed sizes (not the client-given
    /// `avatar` of the profile, which is never fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_image: Option<crate::domain::avatar::AvatarImage>,
    /// Who created the record; `None` on records created before history was kept, and on
    /// records an import created while its `import_mark` still says so (see `creator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Actor>,
    /// Who is making this version: the store files the change's history entry under their
    /// name. Not stored with the record (the entry keeps it): every byte of a customer item
    /// is paid for again in each of its four index entries, and an item over 1 KB costs twice.
    #[serde(skip)]
    pub changed_by: Option<Actor>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Two records are equal when their stored state is: `changed_by` says who is writing a
/// version, and is not kept with it.
impl PartialEq for Customer {
    fn eq(&self, other: &Self) -> bool {
        let Customer {
            id,
            profile,
            welcome,
            import_mark,
            blocked,
            undeliverable,
            complained,
            portal,
            avatar_image,
            created_by,
            changed_by: _,
            created_at,
            updated_at,
            version,
        } = self;
        *id == other.id
            && *profile == other.profile
            && *welcome == other.welcome
            && *import_mark == other.import_mark
            && *blocked == other.blocked
            && *undeliverable == other.undeliverable
            && *complained == other.complained
            && *portal == other.portal
            && *avatar_image == other.avatar_image
            && *created_by == other.created_by
            && *created_at == other.created_at
            && *updated_at == other.updated_at
            && *version == other.version
    }
}

/// `blocked.by` of a customer under erasure: this, then the erasure's id.
pub const ERASURE_BLOCK: &str = "erasure ";

impl Customer {
    /// The erasure under way for this customer, if one is: the erasure blocks the customer in
    /// its name first thing.
    pub fn erasure_under_way(&self) -> Option<&str> {
        self.blocked
            .as_ref()
            .and_then(|block| block.by.strip_prefix(ERASURE_BLOCK))
    }

    /// A customer under erasure changes no more. The stores refuse every change of such a
    /// record (an edit, a batch item, an import row, a merge, an undo, delivery feedback), so
    /// no path can write it back or move it out of the erasure's reach; the erasure itself
    /// deletes it, which is not a change.
    pub fn refuse_change_under_erasure(&self) -> Result<(), StoreError> {
        match self.erasure_under_way() {
            Some(_) => Err(StoreError::UnderErasure(self.email().to_string())),
            None => Ok(()),
        }
    }
    pub fn email(&self) -> &str {
        &self.profile.email
    }
    /// First and last name as a mail header shows them, if the customer has either.
    pub fn display_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.profile.first_name, &self.profile.last_name]
            .into_iter()
            .flatten()
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
    /// Every email this customer owns: primary first.
    pub fn all_emails(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.profile.email.as_str())
            .chain(self.profile.alternate_emails.iter().map(Email::as_str))
    }
    pub fn first_name_key(&self) -> Option<String> {
        self.profile.first_name.as_deref().map(str::to_lowercase)
    }
    pub fn last_name_key(&self) -> Option<String> {
        self.profile.last_name.as_deref().map(str::to_lowercase)
    }
    /// Who created the record. An imported row's record does not repeat its import mark's
    /// job and row in `created_by`: a new customer's item stays under 1 KB, one write unit in
    /// the table and in each index (#15).
    pub fn creator(&self) -> Option<Actor> {
        self.created_by.clone().or_else(|| {
            self.import_mark
                .as_ref()
                .filter(|mark| mark.outcome == RowOutcome::Created)
                .map(|mark| Actor::Import {
                    job: mark.job.clone(),
                    row: mark.row,
                })
        })
    }

    /// The import row that wrote this version over `previous`, if an import did: only an
    /// import's write moves the mark (every other change keeps it as it was), so the records'
    /// change alone names its author. The cloud store files such a change without its history
    /// entry, one item at 1 WRU, and the change log files the entry from this.
    pub fn written_by_import(&self, previous: &Customer) -> Option<Actor> {
        self.import_mark
            .as_ref()
            .filter(|mark| previous.import_mark.as_ref() != Some(*mark))
            .map(|mark| Actor::Import {
                job: mark.job.clone(),
                row: mark.row,
            })
    }

    /// The successor of this record carrying `profile`, one version on, made by `by`. Its
    /// creator is kept in `created_by`, as a later import overwrites the import mark.
    pub fn next_version(&self, profile: Profile, now: &Timestamp, by: Actor) -> Customer {
        // A bounce is about an address: a new primary email starts clean.
        let undeliverable = self
            .undeliverable
            .clone()
            .filter(|_| profile.email == self.profile.email);
        Customer {
            created_by: self.creator(),
            undeliverable,
            profile,
            changed_by: Some(by),
            updated_at: now.clone(),
            version: self.version + 1,
            ..self.clone()
        }
    }
}

// Shortcut so list keys can read `customer.email`.
impl std::ops::Deref for Customer {
    type Target = Profile;
    fn deref(&self) -> &Profile {
        &self.profile
    }
}

/// What an import row did to its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    Created,
    Updated,
    Unchanged,
}

/// Which import row wrote a customer, and what that write was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMark {
    pub job: String,
    pub row: u64,
    pub outcome: RowOutcome,
}

/// An internal note on a customer: visible to agents, never to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub author: String,
    pub text: String,
    pub created_at: Timestamp,
    /// Set while the note sits on a customer a merge moved it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_by: Option<crate::domain::provenance::MovedBy>,
}
