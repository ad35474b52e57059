//! Tickets: the conversations a customer has with support, built from inbound mail, and what
//! agents do with them (read, page, change status, download attachments).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Helpdesk;
use crate::auth::Caller;
use crate::error::HelpdeskError;
use crate::objects::{ObjectError, ObjectStore};
use crate::patch::{Precondition, parse_input};
use crate::store::Page;

/// Messages whose text and HTML together exceed this are kept in the mail bucket rather than
/// in the store (DynamoDB items stop at 400 KB, and ticket listings stay light).
pub const INLINE_BODY_BYTES: usize = 64 * 1024;
/// How long an attachment download URL works.
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(300);
/// Messages one `GET /tickets/{id}` returns at most; longer threads page with `?after=`.
pub const MAX_MESSAGES_PER_READ: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub last_message_at: String,
    /// The closed ticket this one continues, when a customer wrote to a closed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

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
pub struct Mailbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The bodies of a message, kept apart from the record when they are large.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    pub text: String,
    pub html: Option<String>,
    pub reply_text: String,
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
    pub received_at: String,
    pub subject: String,
    #[serde(flatten)]
    pub body: MessageBody,
    /// Set when the bodies live in the mail bucket; `body` is then empty in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_key: Option<String>,
    pub attachments: Vec<Attachment>,
    pub thread_reason: ThreadReason,
    /// SPF, DKIM and DMARC all failed: the sender may be forged. Such mail never joins an
    /// existing ticket.
    #[serde(default)]
    pub unauthenticated: bool,
}

impl TicketMessage {
    /// Position within its ticket (arrival order).
    pub fn list_key(&self) -> String {
        format!("{}#{}", self.received_at, self.id)
    }
}

/// A ticket with its messages, as `GET /tickets/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub messages: Vec<TicketMessage>,
    /// Where the next messages start when the thread is longer than one read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_next: Option<String>,
}

/// What `PATCH /tickets/{id}` accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketPatch {
    status: Option<TicketStatus>,
}

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

impl Helpdesk {
    /// `GET /customers/{email}/tickets`: newest first.
    pub async fn list_customer_tickets(
        &self,
        caller: &Caller,
        email: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Ticket>, HelpdeskError> {
        caller.require_staff()?;
        let customer = self.find_customer(email).await?;
        Ok(self.store.list_tickets(&customer.id, after, limit).await?)
    }

    /// `GET /tickets/{id}`: the ticket and its messages in arrival order, bodies included.
    pub async fn get_ticket(
        &self,
        caller: &Caller,
        id: &str,
        after: Option<&str>,
        mail: &dyn ObjectStore,
    ) -> Result<TicketView, HelpdeskError> {
        caller.require_staff()?;
        let ticket = self.find_ticket(id).await?;
        let page = self
            .store
            .list_messages(&ticket.id, after, MAX_MESSAGES_PER_READ)
            .await?;
        let mut messages = page.items;
        for message in &mut messages {
            if let Some(key) = &message.body_key {
                message.body = load_body(mail, key).await?;
            }
        }
        Ok(TicketView {
            ticket,
            messages,
            messages_next: page.next,
        })
    }

    /// `PATCH /tickets/{id}`: changes the status. A closed ticket stays closed.
    pub async fn update_ticket(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        precondition: Option<Precondition>,
    ) -> Result<Ticket, HelpdeskError> {
        caller.require_staff()?;
        let patch: TicketPatch = parse_input(body)?;
        let ticket = self.find_ticket(id).await?;
        if let Some(precondition) = &precondition
            && !precondition.matches(ticket.version)
        {
            return Err(HelpdeskError::PreconditionFailed);
        }
        let Some(status) = patch.status else {
            return Ok(ticket);
        };
        if status == ticket.status {
            return Ok(ticket);
        }
        if ticket.status == TicketStatus::Closed {
            return Err(HelpdeskError::conflict(
                "status",
                "the ticket is closed; a new message from the customer opens a follow-up ticket",
            ));
        }
        let now = crate::now();
        let next = Ticket {
            status,
            updated_at: now,
            version: ticket.version + 1,
            ..ticket.clone()
        };
        match self.store.replace_ticket(&ticket, &next).await {
            Ok(()) => {
                tracing::info!(ticket = %next.id, status = ?next.status, "ticket status changed");
                Ok(next)
            }
            // Someone (often a new message) changed it meanwhile: the client re-reads.
            Err(crate::store::StoreError::VersionMismatch) => {
                Err(HelpdeskError::PreconditionFailed)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// `GET /tickets/{id}/attachments/{attachment}`: a short-lived URL for one attachment.
    pub async fn attachment_download(
        &self,
        caller: &Caller,
        ticket_id: &str,
        attachment_id: &str,
        mail: &dyn ObjectStore,
    ) -> Result<Download, HelpdeskError> {
        caller.require_staff()?;
        let ticket = self.find_ticket(ticket_id).await?;
        let not_found = || HelpdeskError::NotFound(format!("attachment {attachment_id}"));
        let (message_id, _) = attachment_id.rsplit_once('.').ok_or_else(not_found)?;
        let mut after: Option<String> = None;
        // Attachment ids start with their message's id: read the thread until that message.
        loop {
            let page = self
                .store
                .list_messages(&ticket.id, after.as_deref(), MAX_MESSAGES_PER_READ)
                .await?;
            let found = page
                .items
                .iter()
                .filter(|m| m.id == message_id)
                .flat_map(|m| m.attachments.iter())
                .find(|a| a.id == attachment_id);
            if let Some(attachment) = found {
                let url = mail
                    .presign_get(&attachment.key, DOWNLOAD_URL_LIFETIME)
                    .await
                    .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
                return Ok(Download {
                    url,
                    expires_in: DOWNLOAD_URL_LIFETIME.as_secs(),
                    filename: attachment.filename.clone(),
                    content_type: attachment.content_type.clone(),
                    size: attachment.size,
                });
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Err(not_found()),
            }
        }
    }

    async fn find_ticket(&self, id: &str) -> Result<Ticket, HelpdeskError> {
        let id = id.trim().to_ascii_uppercase();
        self.store
            .get_ticket(&id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("ticket {id}")))
    }
}

async fn load_body(mail: &dyn ObjectStore, key: &str) -> Result<MessageBody, HelpdeskError> {
    let bytes = mail.get(key).await.map_err(|e| match e {
        ObjectError::NotFound(key) => {
            HelpdeskError::Unavailable(format!("message body {key} is missing"))
        }
        other => HelpdeskError::Unavailable(other.to_string()),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| HelpdeskError::Unavailable(format!("message body {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_anywhere_in_the_subject() {
        assert_eq!(
            subject_tokens("Re: [#k7q2m9xd4t] Printer on fire [#ABC]"),
            vec!["K7Q2M9XD4T".to_string(), "ABC".to_string()]
        );
        assert!(subject_tokens("Re: [#] nothing [# x-y] [#unclosed").is_empty());
    }

    #[test]
    fn ticket_ids_use_the_crockford_alphabet() {
        let id = new_ticket_id();
        assert_eq!(id.len(), 10);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c)))
        );
    }
}
