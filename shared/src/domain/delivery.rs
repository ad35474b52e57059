//! Outgoing mail's fate: the delivery state of an agent's reply, the problems an address can
//! have (hard bounces, complaints), and the feedback SES sends about both.

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// Sending attempts (across events) after which a reply is given up as `failed`.
pub const MAX_SEND_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Written and waiting for the notifier (or being sent: see `sending_since`).
    Queued,
    /// The mail provider accepted it.
    Sent,
    /// Refused, given up after retries, or bounced for good: `error` says which.
    Failed,
}

/// The delivery of one public reply. The message record is the ledger, as the customer
/// record is for the welcome email: the sender claims it (`sending_since`) at its
/// `revision` before sending, so of two deliveries of one stream record only one sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub status: DeliveryStatus,
    /// When the status last changed.
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub at: Timestamp,
    /// Counts every change of this state; a write names the revision it read.
    pub revision: u64,
    /// Set while a sender holds the claim: a redelivered record then sends nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub sending_since: Option<Timestamp>,
    /// Sending attempts that failed so far.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Why the last attempt failed, or why the mail bounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider's id of the sent mail (SES message id), which its feedback names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The Message-ID the mail went out with, when the provider replaced the reply's own
    /// (SES does): claimed for the ticket too, so answers naming it join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_as: Option<String>,
}

impl Delivery {
    pub fn queued(at: Timestamp) -> Self {
        Self {
            status: DeliveryStatus::Queued,
            at,
            revision: 0,
            sending_since: None,
            failed_attempts: 0,
            error: None,
            provider_id: None,
            delivered_as: None,
        }
    }

    /// Queued and not claimed by a sender.
    pub fn is_due(&self) -> bool {
        self.status == DeliveryStatus::Queued && self.sending_since.is_none()
    }

    /// The next revision of this state.
    pub fn next(&self) -> Self {
        Self {
            revision: self.revision + 1,
            ..self.clone()
        }
    }
}

/// Why mail to a customer's address stopped: a hard bounce (`undeliverable`) or a complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AddressProblem {
    /// The address the problem is about (a customer's primary email can change later).
    pub email: String,
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub at: Timestamp,
    /// What the receiving side said (the bounce's diagnostic, or the complaint's type).
    pub reason: String,
}

/// What SES reported about one sent mail, in the helpdesk's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFeedback {
    /// SES's id of the mail the feedback is about.
    pub provider_id: String,
    /// The ticket and message (our ids) of a reply, from the tags it was sent with; `None`
    /// for other mail (welcome emails).
    pub reply: Option<ReplyRef>,
    pub kind: FeedbackKind,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRef {
    pub ticket_id: String,
    pub message_id: String,
    /// When the reply was written ([`Timestamp::compact`]): with the id, its place in the
    /// ticket, so it is read in one request. Absent from replies sent before it was tagged.
    pub written: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackKind {
    /// A permanent bounce: these recipients' addresses do not take mail (address, diagnostic).
    HardBounce(Vec<(String, String)>),
    /// A temporary bounce (mailbox full, …): nothing is marked; SES has given up on this mail.
    SoftBounce(Vec<(String, String)>),
    /// These recipients marked the mail as spam (address, feedback type).
    Complaint(Vec<(String, String)>),
}

/// SES message tags carry our ids; their values may hold only letters, digits, `_` and `-`.
pub fn tag_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
