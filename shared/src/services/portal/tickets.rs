//! What a signed-in customer does with tickets: list, read, open, answer, solve, download.
//! Each goes through `portal::visible`; a ticket they may not see is a 404.

use serde::Deserialize;

use super::{PortalCaller, PortalService};
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::history::Actor;
use crate::domain::patch::Command;
use crate::domain::portal::{self, Visibility};
use crate::domain::ticket::*;
use crate::domain::validation::FieldError;
use crate::domain::versioned::Versioned;
use crate::ports::objects::SaveAs;
use crate::ports::store::{MessageWrite, Page, TicketWrite};

/// A message's files, at most this many.
pub const MAX_PORTAL_ATTACHMENTS: usize = 5;
/// A message's files together, at most this many bytes (an API Gateway request carries 6 MB
/// of base64).
pub const MAX_PORTAL_ATTACHMENT_BYTES: usize = 4 * 1024 * 1024;
/// A subject, at most this many characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// Which of a customer's listings: the tickets they requested or are Cc'd on, or their
/// company's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketScope {
    #[default]
    Own,
    Company,
}

/// A ticket as the portal shows it to one customer.
#[derive(Debug, Clone)]
pub struct PortalTicket {
    pub ticket: Ticket,
    pub visibility: Visibility,
    pub may_solve: bool,
    /// The customer asked it themselves.
    pub requested: bool,
}

/// A ticket and the messages its customer may see, in arrival order.
#[derive(Debug, Clone)]
pub struct PortalMessage {
    pub ticket: PortalTicket,
    pub messages: Vec<TicketMessage>,
    /// More messages than one read holds.
    pub more: bool,
}

/// A file sent with a new ticket or a reply.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// `POST /portal/tickets`, the files decoded.
#[derive(Debug, Clone, Default)]
pub struct PortalTicketInput {
    pub subject: String,
    pub text: String,
    pub attachments: Vec<NewAttachment>,
}

/// `POST /portal/tickets/{id}/messages`, the files decoded.
#[derive(Debug, Clone, Default)]
pub struct PortalReply {
    pub text: String,
    pub attachments: Vec<NewAttachment>,
}

impl Command for TicketScope {}

impl PortalService {
    /// A ticket as `caller` may see it; a 404 when they may not.
    async fn visible_ticket(
        &self,
        caller: &PortalCaller,
        id: &str,
    ) -> Result<PortalTicket, HelpdeskError> {
        let id = id.trim().to_ascii_uppercase();
        let not_found = || HelpdeskError::NotFound(format!("ticket {id}"));
        let ticket = self.tickets.get_ticket(&id).await?.ok_or_else(not_found)?;
        self.shown(caller, ticket).ok_or_else(not_found)
    }

    fn shown(&self, caller: &PortalCaller, ticket: Ticket) -> Option<PortalTicket> {
        let visibility = portal::visible(&ticket, &caller.principal);
        (visibility != Visibility::Hidden).then(|| PortalTicket {
            may_solve: portal::may_solve(&ticket, &caller.principal)
                && !matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed),
            requested: ticket.customer_id == caller.principal.customer_id,
            visibility,
            ticket,
        })
    }

    /// One page of a listing, newest public activity first; `status` keeps those in one
    /// status (a page may then hold fewer than `limit`, and still have a next one).
    pub async fn list_tickets(
        &self,
        caller: &PortalCaller,
        scope: TicketScope,
        status: Option<TicketStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<PortalTicket>, HelpdeskError> {
        let principal = &caller.principal;
        let key = match (scope, &principal.company_id) {
            (TicketScope::Own, _) => portal::own_scope(&principal.customer_id),
            (TicketScope::Company, Some(company)) if principal.sees_company() => {
                portal::company_scope(company)
            }
            (TicketScope::Company, _) => {
                return Err(HelpdeskError::forbidden(
                    Some("scope"),
                    "your portal access shows your own tickets only",
                ));
            }
        };
        let page = self.portal.list_portal_tickets(&key, after, limit).await?;
        let tickets = self.tickets.get_tickets(&page.items).await?;
        let items = tickets
            .into_iter()
            .flatten()
            .filter(|t| status.is_none_or(|s| t.status == s))
            .filter_map(|t| self.shown(caller, t))
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// A ticket with the messages its customer sees: theirs and agents' public replies, never
    /// internal notes.
    pub async fn ticket(
        &self,
        caller: &PortalCaller,
        id: &str,
    ) -> Result<PortalMessage, HelpdeskError> {
        let ticket = self.visible_ticket(caller, id).await?;
        let page = self
            .tickets
            .list_messages(&ticket.ticket.id, None, MAX_MESSAGES_PER_READ)
            .await?;
        let mut messages = Vec::with_capacity(page.items.len());
        for mut message in page
            .items
            .into_iter()
            .filter(|m| m.kind != MessageKind::Note)
        {
            if let Some(key) = &message.body_key {
                message.body = crate::services::tickets::load_body(self.mail.as_ref(), key).await?;
            }
            messages.push(message);
        }
        Ok(PortalMessage {
            ticket,
            messages,
            more: page.next.is_some(),
        })
    }

    /// A new ticket from the customer (its first message says it came from the portal).
    pub async fn open_ticket(
        &self,
        caller: &PortalCaller,
        input: PortalTicketInput,
    ) -> Result<PortalTicket, HelpdeskError> {
        let subject = check_subject(&input.subject)?;
        check_text(&input.text)?;
        check_files(&input.attachments)?;
        let now = crate::domain::clock::now();
        let customer = &caller.customer;
        let ticket = Ticket {
            id: new_ticket_id(),
            subject,
            customer_id: customer.id.clone(),
            customer_email: customer.email().to_string(),
            company_id: customer.profile.company_id.clone(),
            status: TicketStatus::Open,
            message_count: 1,
            last_message_at: now.clone(),
            follow_up_of: None,
            moved_by: None,
            last_agent_message: None,
            cc_customers: Vec::new(),
            last_public_at: Some(now.clone()),
            tags: Vec::new(),
            imported: None,
            changed_by: Some(portal_actor(caller)),
            created_at: now.clone(),
            updated_at: now.clone(),
            version: 1,
        };
        let message = self
            .portal_message(caller, &ticket, &input.text, input.attachments)
            .await?;
        let write = MessageWrite {
            ticket: TicketWrite::Insert(ticket.clone()),
            message,
            inbound: None,
        };
        self.tickets.store_message(&write).await?;
        tracing::info!(ticket = %ticket.id, "ticket opened in the portal");
        self.shown(caller, ticket)
            .ok_or_else(|| HelpdeskError::Unavailable("a new ticket is not its customer's".into()))
    }

    /// The customer's answer: the ticket is support's turn again. A colleague who answers a
    /// company ticket (with `company` access) is added to its Cc.
    pub async fn reply(
        &self,
        caller: &PortalCaller,
        id: &str,
        input: PortalReply,
    ) -> Result<TicketMessage, HelpdeskError> {
        check_text(&input.text)?;
        check_files(&input.attachments)?;
        let shown = self.visible_ticket(caller, id).await?;
        if shown.visibility != Visibility::Reply {
            return Err(HelpdeskError::forbidden(
                Some("ticket"),
                "you may read your company's tickets, not answer them",
            ));
        }
        let ticket = shown.ticket;
        if ticket.status == TicketStatus::Closed {
            return Err(HelpdeskError::conflict(
                "status",
                "the ticket is closed; open a new one",
            ));
        }
        let message = self
            .portal_message(caller, &ticket, &input.text, input.attachments)
            .await?;
        let mut next = portal::answered_by_customer(&ticket, &message, portal_actor(caller));
        portal::add_cc(&mut next, &caller.principal.customer_id);
        let write = MessageWrite {
            ticket: TicketWrite::Replace {
                previous: ticket,
                next,
            },
            message: message.clone(),
            inbound: None,
        };
        match self.tickets.store_message(&write).await {
            Err(StoreError::VersionMismatch) => Err(HelpdeskError::conflict(
                "ticket",
                "the ticket changed meanwhile; send your answer again",
            )),
            other => Ok(other.map(|()| message)?),
        }
    }

    /// Marks a ticket the customer asked solved.
    pub async fn solve(
        &self,
        caller: &PortalCaller,
        id: &str,
    ) -> Result<PortalTicket, HelpdeskError> {
        let shown = self.visible_ticket(caller, id).await?;
        if !shown.requested {
            return Err(HelpdeskError::forbidden(
                Some("ticket"),
                "only the person who asked may mark a ticket solved",
            ));
        }
        let ticket = shown.ticket;
        if matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed) {
            return self
                .shown(caller, ticket)
                .ok_or_else(|| HelpdeskError::NotFound("ticket".into()));
        }
        let mut next = ticket.bumped();
        next.status = TicketStatus::Solved;
        next.changed_by = Some(portal_actor(caller));
        match self.tickets.replace_ticket(&ticket, &next).await {
            Err(StoreError::VersionMismatch) => Err(HelpdeskError::conflict(
                "ticket",
                "the ticket changed meanwhile; try again",
            )),
            other => {
                other?;
                self.shown(caller, next)
                    .ok_or_else(|| HelpdeskError::NotFound("ticket".into()))
            }
        }
    }

    /// A short-lived link to an attachment of a public message of a visible ticket.
    pub async fn attachment(
        &self,
        caller: &PortalCaller,
        id: &str,
        attachment_id: &str,
    ) -> Result<Download, HelpdeskError> {
        let shown = self.ticket(caller, id).await?;
        let not_found = || HelpdeskError::NotFound(format!("attachment {attachment_id}"));
        let attachment = shown
            .messages
            .iter()
            .flat_map(|m| m.attachments.iter())
            .find(|a| a.id == attachment_id)
            .ok_or_else(not_found)?;
        let lifetime = std::time::Duration::from_secs(300);
        let save_as = SaveAs {
            filename: attachment.filename.clone(),
            content_type: attachment.served_content_type(),
        };
        let url = self
            .mail
            .presign_get(&attachment.key, lifetime, &save_as)
            .await
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        Ok(Download {
            url,
            expires_in: lifetime.as_secs(),
            filename: attachment.filename.clone(),
            content_type: attachment.content_type.clone(),
            size: attachment.size,
        })
    }

    /// The customer's message in `ticket`, its files stored in the mail bucket.
    async fn portal_message(
        &self,
        caller: &PortalCaller,
        ticket: &Ticket,
        text: &str,
        files: Vec<NewAttachment>,
    ) -> Result<TicketMessage, HelpdeskError> {
        let id = format!("portal-{}", crate::domain::clock::new_id());
        let mut attachments = Vec::with_capacity(files.len());
        for (index, file) in files.into_iter().enumerate() {
            let key = format!(
                "attachments/{id}/{}-{}",
                index + 1,
                storage_name(&file.filename)
            );
            let size = file.bytes.len() as u64;
            self.mail
                .put(&key, file.bytes, &safe_content_type(&file.content_type))
                .await
                .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
            attachments.push(Attachment {
                id: format!("{id}.{}", index + 1),
                filename: file.filename,
                content_type: file.content_type,
                size,
                key,
                inline: false,
                content_id: None,
            });
        }
        let customer = &caller.customer;
        let domain = self
            .support
            .mailbox
            .email
            .rsplit('@')
            .next()
            .unwrap_or("portal.invalid");
        let now = crate::domain::clock::now();
        Ok(TicketMessage {
            message_id: format!("{id}@{domain}"),
            id,
            ticket_id: ticket.id.clone(),
            from: Mailbox {
                name: customer.display_name(),
                email: customer.email().to_string(),
            },
            reply_to: vec![],
            to: vec![self.support.mailbox.clone()],
            cc: vec![],
            date: None,
            received_at: now,
            subject: ticket.subject.clone(),
            body: MessageBody {
                text: text.to_string(),
                html: None,
                reply_text: text.to_string(),
            },
            body_key: None,
            attachments,
            thread_reason: ThreadReason::Portal,
            unauthenticated: false,
            kind: MessageKind::Inbound,
            author: None,
            delivery: None,
            in_reply_to: None,
            references: Vec::new(),
        })
    }
}

fn portal_actor(caller: &PortalCaller) -> Actor {
    Actor::Portal {
        customer: caller.principal.customer_id.clone(),
    }
}

fn check_subject(raw: &str) -> Result<String, HelpdeskError> {
    let subject = raw.trim();
    if subject.is_empty() {
        return Err(HelpdeskError::invalid("subject", "is required"));
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS || subject.chars().any(char::is_control) {
        return Err(HelpdeskError::invalid(
            "subject",
            format!("one line of at most {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    Ok(subject.to_string())
}

fn check_text(text: &str) -> Result<(), HelpdeskError> {
    if text.trim().is_empty() {
        return Err(HelpdeskError::invalid("text", "is required"));
    }
    if text.len() > crate::domain::reply::MAX_REPLY_BYTES {
        return Err(HelpdeskError::invalid(
            "text",
            format!("at most {} bytes", crate::domain::reply::MAX_REPLY_BYTES),
        ));
    }
    Ok(())
}

fn check_files(files: &[NewAttachment]) -> Result<(), HelpdeskError> {
    let mut errors = Vec::new();
    if files.len() > MAX_PORTAL_ATTACHMENTS {
        errors.push(FieldError::new(
            "attachments",
            format!("at most {MAX_PORTAL_ATTACHMENTS} files"),
        ));
    }
    if files.iter().map(|f| f.bytes.len()).sum::<usize>() > MAX_PORTAL_ATTACHMENT_BYTES {
        errors.push(FieldError::new(
            "attachments",
            format!("at most {} MiB together", MAX_PORTAL_ATTACHMENT_BYTES >> 20),
        ));
    }
    for (i, file) in files.iter().enumerate() {
        let name = file.filename.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("attachments[{i}].filename"),
                "a file name of at most 200 characters on one line",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(HelpdeskError::Validation(errors))
    }
}

/// A file name as a key part: letters, digits, `.`, `-`, `_`; at most 100 characters.
fn storage_name(filename: &str) -> String {
    let name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.is_empty() { "file".into() } else { name }
}
