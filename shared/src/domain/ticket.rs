//! Tickets and their messages: the records, ids and subject tokens.

use crate::domain::timestamp::Timestamp;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::customer::Customer;
use crate::domain::delivery::Delivery;
use crate::domain::patch::Command;

/// Messages whose text and HTML together exceed this are kept in the mail bucket rather than
/// in the store (DynamoDB items stop at 400 KB, and ticket listings stay light).
pub const INLINE_BODY_BYTES: usize = 64 * 1024;
/// How long an attachment download URL works.
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(300);
/// Messages one read of a thread returns at most; longer threads are read page by page.
pub const MAX_MESSAGES_PER_READ: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Pending,
    Solved,
    /// Final: a later message from the customer starts a follow-up ticket instead.
    Closed,
}

/// Why a message joined the ticket it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ThreadReason {
    /// The subject carried the ticket's `[#ID]` token.
    Token,
    /// `In-Reply-To` named a message of the ticket.
    InReplyTo,
    /// `References` named a message of the ticket.
    References,
    /// Nothing tied it to an existing ticket: it started this one.
    New,
    /// It named a ticket (token or Message-ID) of a customer who is neither the sender nor of
    /// the sender's company: it started this one instead.
    NotParticipant,
    /// Written in the helpdesk by an agent (a reply or an internal note).
    Agent,
    /// It named one of the sender's tickets, but SES could not verify the sender (neither SPF
    /// nor DKIM passed): it started this one instead, marked unverified.
    Unverified,
    /// Written by the customer in the portal.
    Portal,
    /// Brought in by a ticket import, with the time the other system gave it.
    Imported,
}

/// `[#ID]` tokens of a subject that are looked up, at most.
pub const MAX_SUBJECT_TOKENS: usize = 3;
/// `In-Reply-To` ids that are looked up, at most (the last ones).
pub const MAX_IN_REPLY_TO: usize = 3;
/// `References` ids that are looked up, at most: the newest (the end of the header).
pub const MAX_REFERENCES: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Short and upper-case, so it reads well in the subject token `[#ID]`.
    pub id: String,
    pub subject: String,
    /// Tickets hang off the immutable customer id; the email is the one the ticket began with.
    pub customer_id: String,
    pub customer_email: String,
    /// The customer's company when the ticket began: its members' mail may join by token.
    pub company_id: Option<String>,
    pub status: TicketStatus,
    pub message_count: u64,
    pub last_message_at: Timestamp,
    /// The closed ticket this one continues, when a customer wrote to a closed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<String>,
    /// Set while the ticket sits on a customer a merge moved it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_by: Option<crate::domain::provenance::MovedBy>,
    /// The newest reply or note an agent wrote: each one is a change in the ticket's history,
    /// so replies and changes of status read there in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_agent_message: Option<AgentMessageRef>,
    /// Customers (by id) who see the ticket as their own in the portal besides its customer:
    /// colleagues who answered it there, customers an agent copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc_customers: Vec<String>,
    /// When the newest message its customer can see arrived (not an internal note): the
    /// portal lists tickets by it. Unset on tickets from before the portal: `last_message_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_public_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Set on a ticket a CSV import created: the job, its row, and the other system's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedTicket>,
    /// Who is making this version: the store files a change of status in the ticket's
    /// history under their name. Not stored with the ticket (the entry keeps it).
    #[serde(skip)]
    pub changed_by: Option<crate::domain::provenance::Actor>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Where an imported ticket came from, kept on the ticket: its history says it was imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedTicket {
    pub job: String,
    pub row: u64,
    pub external_id: String,
}

/// An agent's message as the ticket's history names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessageRef {
    /// The message's id in the ticket.
    pub id: String,
    pub kind: MessageKind,
}

/// Two tickets are equal when their stored state is (`changed_by` is not kept).
impl PartialEq for Ticket {
    fn eq(&self, other: &Self) -> bool {
        let Ticket {
            id,
            subject,
            customer_id,
            customer_email,
            company_id,
            status,
            message_count,
            last_message_at,
            follow_up_of,
            moved_by,
            last_agent_message,
            cc_customers,
            last_public_at,
            tags,
            imported,
            changed_by: _,
            created_at,
            updated_at,
            version,
        } = self;
        *id == other.id
            && *subject == other.subject
            && *customer_id == other.customer_id
            && *customer_email == other.customer_email
            && *company_id == other.company_id
            && *status == other.status
            && *message_count == other.message_count
            && *last_message_at == other.last_message_at
            && *follow_up_of == other.follow_up_of
            && *moved_by == other.moved_by
            && *last_agent_message == other.last_agent_message
            && *cc_customers == other.cc_customers
            && *last_public_at == other.last_public_at
            && *tags == other.tags
            && *imported == other.imported
            && *created_at == other.created_at
            && *updated_at == other.updated_at
            && *version == other.version
    }
}

impl Eq for Ticket {}

impl Ticket {
    /// The token outgoing mail carries in its subject, e.g. `[#K7Q2M9XD4T]`.
    pub fn token(&self) -> String {
        format!("[#{}]", self.id)
    }
    /// Position in a customer's ticket listing (newest first).
    pub fn list_key(&self) -> String {
        format!("{}#{}", self.created_at, self.id)
    }
}

/// A mailbox as written in a header: display name and address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Mailbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// `<message id>.<n>`: names the attachment in the download route.
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Where the bytes are, in the mail bucket (or the data dir locally).
    pub key: String,
    /// Shown inside the HTML body (`cid:` reference) rather than offered as a file.
    pub inline: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

/// Content types a browser only displays or saves, never runs. Anything else (HTML, SVG, XML,
/// scripts, unknown types) is served as `application/octet-stream`.
const PASSIVE_TYPES: [&str; 22] = [
    "text/plain",
    "text/csv",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/tiff",
    "image/heic",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/json",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "message/rfc822",
];

impl Attachment {
    /// The type the attachment is stored and served with: the sender's, when it is a passive
    /// type (plus audio and video); otherwise `application/octet-stream`, so a `text/html` or
    /// `image/svg+xml` attachment can never render as a page on the bucket's origin.
    pub fn served_content_type(&self) -> String {
        safe_content_type(&self.content_type)
    }
}

/// See [`Attachment::served_content_type`].
pub fn safe_content_type(declared: &str) -> String {
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let passive = PASSIVE_TYPES.contains(&essence.as_str())
        || essence.starts_with("audio/")
        || essence.starts_with("video/");
    if passive {
        essence
    } else {
        "application/octet-stream".to_string()
    }
}

/// The bodies of a message, kept apart from the record when they are large.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    pub text: String,
    pub html: Option<String>,
    pub reply_text: String,
}

/// Who wrote a message of a ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Mail from the customer (or their company).
    #[default]
    Inbound,
    /// An agent's public reply, mailed to the customer.
    Reply,
    /// An agent's internal note: never sent, never shown to the customer.
    Note,
}

impl MessageKind {
    pub fn is_inbound(&self) -> bool {
        *self == MessageKind::Inbound
    }
    /// Mail that travelled (or travels): it has a Message-ID others may answer.
    pub fn is_mail(&self) -> bool {
        *self != MessageKind::Note
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMessage {
    /// The inbound record this message came from (SES message id, or `eml-…` locally).
    pub id: String,
    pub ticket_id: String,
    /// The RFC 5322 Message-ID, without angle brackets.
    pub message_id: String,
    pub from: Mailbox,
    #[serde(default)]
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// The sender's `Date` header (RFC 3339), when it had a valid one.
    pub date: Option<String>,
    pub received_at: Timestamp,
    pub subject: String,
    #[serde(flatten)]
    pub body: MessageBody,
    /// Set when the bodies live in the mail bucket; `body` is then empty in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_key: Option<String>,
    pub attachments: Vec<Attachment>,
    pub thread_reason: ThreadReason,
    /// SES verdicts came with the message and neither SPF nor DKIM passed: the sender may be
    /// forged. Such mail never joins an existing ticket.
    #[serde(default)]
    pub unauthenticated: bool,
    /// Mail from the customer, or an agent's reply or note.
    #[serde(default, skip_serializing_if = "MessageKind::is_inbound")]
    pub kind: MessageKind,
    /// The agent who wrote a reply or note (their `sub` or API key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A reply's way to the customer: queued, then sent or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// The Message-ID a reply answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs a reply names, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

impl Ticket {
    /// Mail joins a ticket only from its customer (by any of their emails, which resolve to
    /// the customer), a customer Cc'd on it (an agent copied them, they answered in the
    /// portal, or the mail that brought them was copied to them) or a member of the ticket's
    /// company; the same rule for the `[#ID]` token and for `In-Reply-To`/`References`.
    pub fn accepts_mail_from(&self, customer: &Customer) -> bool {
        self.customer_id == customer.id
            || self.cc_customers.contains(&customer.id)
            || (self.company_id.is_some() && self.company_id == customer.profile.company_id)
    }
}

impl TicketMessage {
    /// Position within its ticket (arrival order).
    pub fn list_key(&self) -> String {
        format!("{}#{}", self.received_at, self.id)
    }
}

/// A ticket with its messages, as agents see it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub messages: Vec<TicketMessage>,
    /// Where the next messages start when the thread is longer than one read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_next: Option<String>,
}

/// A change of a ticket: its status.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub(crate) status: Option<TicketStatus>,
}

impl Command for TicketPatch {}

/// An attachment download: a short-lived URL and what it will deliver.
#[derive(Debug, Clone, Serialize)]
pub struct Download {
    pub url: String,
    pub expires_in: u64,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

/// A new ticket id: ten characters of Crockford base32 (no I, L, O, U), about 50 random bits.
pub fn new_ticket_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..10)
        .map(|_| char::from(ALPHABET[rand::random_range(0..32usize)]))
        .collect()
}

/// The ticket ids named by `[#ID]` tokens in a subject, in order of appearance.
pub fn subject_tokens(subject: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut rest = subject;
    while let Some(start) = rest.find("[#") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(']') else { break };
        let candidate = rest[..end].trim();
        if !candidate.is_empty()
            && candidate.len() <= 32
            && candidate.chars().all(|c| c.is_ascii_alphanumeric())
        {
            tokens.push(candidate.to_ascii_uppercase());
        }
        rest = &rest[end..];
    }
    tokens
}
