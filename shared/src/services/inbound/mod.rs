//! Inbound mail: a raw message (stored by SES in the mail bucket, or an `.eml` file locally)
//! becomes a customer, a ticket and a message in its history, or a record of why not.
//!
//! Every message ends as exactly one [`InboundRecord`] (`ingested`, `ignored` or `failed`), so
//! nothing disappears silently, and its id (the SES message id) makes redelivery harmless.

pub mod parse;
mod participants;
pub mod quotes;
pub mod screen;
mod threading;

use crate::domain::timestamp::Timestamp;
use std::sync::Arc;

use crate::domain::customer::Customer;
use crate::domain::customer::MAX_NAME_CHARS;
use crate::domain::customer::Profile;
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::inbound::*;
use crate::domain::ticket::Attachment;
use crate::domain::ticket::INLINE_BODY_BYTES;
use crate::domain::ticket::MAX_IN_REPLY_TO;
use crate::domain::ticket::MAX_REFERENCES;
use crate::domain::ticket::MAX_SUBJECT_TOKENS;
use crate::domain::ticket::MessageBody;
use crate::domain::ticket::ThreadReason;
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::domain::ticket::TicketStatus;
use crate::domain::ticket::new_ticket_id;
use crate::domain::ticket::subject_tokens;
use crate::ports::objects::ObjectError;
use crate::ports::objects::ObjectStore;
use crate::ports::store::MessageWrite;
use crate::ports::store::TicketWrite;
use crate::ports::store::{InboundStore, TicketStore};
use crate::services::customers::CustomerService;
use crate::services::customers::split_full_name;
use crate::services::retry::{Attempt, retry_on_conflict};
use parse::ParsedMail;
use threading::Threading;

/// How a message arrived: its id, where the raw bytes are, when and with which verdicts.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: String,
    pub raw_key: String,
    pub received_at: Timestamp,
    /// `None` when the message carries no SES event (local files): read from its headers.
    pub verdicts: Option<Verdicts>,
}

/// Who a message is from: a customer (and whether the message created it), or an address
/// whose mail makes no customer (the reason).
enum Sender {
    Customer(Box<Customer>, bool),
    Barred(String),
}

/// What inbound mail needs: customers (found or created), tickets and their messages, the
/// inbound records, and the mail bucket, which holds raw messages, attachments and large bodies.
#[derive(Clone)]
pub struct MailContext {
    pub customers: CustomerService,
    pub tickets: Arc<dyn TicketStore>,
    pub inbound: Arc<dyn InboundStore>,
    pub mail: Arc<dyn ObjectStore>,
}

impl MailContext {
    pub fn new(
        customers: CustomerService,
        tickets: Arc<dyn TicketStore>,
        inbound: Arc<dyn InboundStore>,
        mail: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            customers,
            tickets,
            inbound,
            mail,
        }
    }

    /// What happened to the message with this id, if it was seen before.
    pub async fn record(&self, id: &str) -> Result<Option<InboundRecord>, HelpdeskError> {
        Ok(self.inbound.get_inbound(id).await?)
    }

    /// Ingests the raw message stored at `envelope.raw_key`. A redelivered message answers its
    /// first outcome; a missing object is recorded as failed. Errors are transient (store or
    /// bucket unavailable): the caller retries and nothing is duplicated.
    pub async fn ingest_stored(&self, envelope: Envelope) -> Result<InboundRecord, HelpdeskError> {
        if let Some(existing) = self.inbound.get_inbound(&envelope.id).await? {
            return Ok(existing);
        }
        let raw = match self.mail.get(&envelope.raw_key).await {
            Ok(raw) => raw,
            Err(ObjectError::NotFound(key)) => {
                let record = blank_record(&envelope, Verdicts::default());
                return self
                    .finish(
                        record,
                        InboundStatus::Failed,
                        format!("raw message {key} not found"),
                    )
                    .await;
            }
            Err(ObjectError::Unavailable(message)) => {
                return Err(HelpdeskError::Unavailable(message));
            }
        };
        self.ingest_new(envelope, &raw).await
    }

    /// Ingests `raw`, which is already stored at `envelope.raw_key`.
    pub async fn ingest(
        &self,
        envelope: Envelope,
        raw: &[u8],
    ) -> Result<InboundRecord, HelpdeskError> {
        if let Some(existing) = self.inbound.get_inbound(&envelope.id).await? {
            return Ok(existing);
        }
        self.ingest_new(envelope, raw).await
    }

    /// [`ingest`](Self::ingest) for a caller that has just found no record for the envelope (a
    /// race with a concurrent delivery is still settled by the store's conditional writes).
    pub async fn ingest_new(
        &self,
        envelope: Envelope,
        raw: &[u8],
    ) -> Result<InboundRecord, HelpdeskError> {
        let parsed_message = mail_parser::MessageParser::default().parse(raw);
        let verdicts = match (&envelope.verdicts, &parsed_message) {
            (Some(verdicts), _) => verdicts.clone(),
            (None, Some(message)) => parse::verdicts_from_headers(message),
            (None, None) => Verdicts::default(),
        };
        let mut record = blank_record(&envelope, verdicts.clone());
        if raw.len() > MAX_MESSAGE_BYTES {
            let reason = format!("{} bytes: larger than SES's 40 MB limit", raw.len());
            return self.finish(record, InboundStatus::Failed, reason).await;
        }
        for (name, verdict) in [("spam", &verdicts.spam), ("virus", &verdicts.virus)] {
            if fails(verdict) {
                let reason = format!("{name} verdict FAIL");
                return self.finish(record, InboundStatus::Ignored, reason).await;
            }
        }
        let Some(message) = parsed_message.filter(|m| !m.headers().is_empty()) else {
            let reason = "malformed message: no MIME headers could be read".to_string();
            return self.finish(record, InboundStatus::Failed, reason).await;
        };
        let parsed = match parse::read(&message) {
            Ok(parsed) => parsed,
            Err(reason) => {
                record.subject = message.subject().map(str::to_string);
                let reason = format!("malformed message: {reason}");
                return self.finish(record, InboundStatus::Failed, reason).await;
            }
        };
        record.from = Some(parsed.from.email.clone());
        record.subject = Some(parsed.subject.clone());
        record.message_id = parsed.message_id.clone();
        if let Some(reason) = screen::automated(&message, &parsed.from.email) {
            return self.finish(record, InboundStatus::Ignored, reason).await;
        }
        let sender = match Email::parse(&parsed.from.email) {
            Ok(sender) => sender,
            Err(why) => {
                let reason = format!("sender address {} {why}", parsed.from.email);
                return self.finish(record, InboundStatus::Failed, reason).await;
            }
        };
        let message_id = parsed
            .message_id
            .clone()
            .unwrap_or_else(|| format!("{}@inbound.invalid", envelope.id));
        if let Some(ticket) = self.tickets.ticket_for_message_id(&message_id).await? {
            record.ticket_id = Some(ticket.clone());
            let reason = format!("duplicate: message {message_id} is already in ticket {ticket}");
            return self.finish(record, InboundStatus::Ignored, reason).await;
        }
        let (customer, created) = match self.customer_for(&sender, &parsed, &record.id).await? {
            Sender::Customer(customer, created) => (*customer, created),
            Sender::Barred(reason) => {
                // An erased person asked that nothing of theirs be kept, and a blocked
                // address's mail makes no customer and no ticket either.
                return self.finish(record, InboundStatus::Ignored, reason).await;
            }
        };
        record.customer_email = Some(customer.email().to_string());
        record.customer_created = created;
        if customer.blocked.is_some() {
            // An admin blocked the sender: recorded, and no ticket, message or attachment kept.
            return self
                .finish(record, InboundStatus::Ignored, "blocked".into())
                .await;
        }
        let ticket_message = self
            .message(&envelope, &parsed, message_id, verdicts.unverified())
            .await?;
        let threading = Threading {
            in_reply_to: parsed.in_reply_to.clone(),
            references: parsed.references.clone(),
            copied: self
                .copied_customers(&parsed.cc, &customer, &ticket_message)
                .await?,
        };
        // The parsed message (and its decoded parts) can go before the writes.
        drop(parsed);
        drop(message);
        retry_on_conflict("ticket", || async {
            let mut ticket_message = ticket_message.clone();
            let (ticket, reason) = self.place(&customer, &ticket_message, &threading).await?;
            ticket_message.ticket_id = ticket.ticket().id.clone();
            ticket_message.thread_reason = reason;
            let mut ingested = record.clone();
            ingested.status = InboundStatus::Ingested;
            ingested.ticket_id = Some(ticket.ticket().id.clone());
            ingested.thread_reason = Some(reason);
            let write = MessageWrite {
                ticket,
                message: ticket_message,
                inbound: Some(ingested.clone()),
            };
            match self.tickets.store_message(&write).await {
                Ok(()) => {
                    tracing::info!(
                        inbound = %ingested.id,
                        customer = %customer.email(),
                        ticket = %write.message.ticket_id,
                        thread_reason = ?reason,
                        "message ingested"
                    );
                    Ok(Attempt::Done(ingested))
                }
                // Another message changed the ticket, or a new id collided: place again.
                Err(StoreError::VersionMismatch) => Ok(Attempt::Conflict),
                Err(StoreError::Exists(_)) => match self.inbound.get_inbound(&envelope.id).await? {
                    // The same delivery got in first (a concurrent redelivery).
                    Some(existing) => Ok(Attempt::Done(existing)),
                    None => Ok(Attempt::Conflict),
                },
                Err(StoreError::MessageIdTaken(id)) => {
                    let ticket = self.tickets.ticket_for_message_id(&id).await?;
                    let mut duplicate = record.clone();
                    duplicate.ticket_id = ticket.clone();
                    let reason = format!(
                        "duplicate: message {id} is already in ticket {}",
                        ticket.unwrap_or_default()
                    );
                    let finished = self
                        .finish(duplicate, InboundStatus::Ignored, reason)
                        .await?;
                    Ok(Attempt::Done(finished))
                }
                Err(other) => Err(other.into()),
            }
        })
        .await
    }

    /// Records an ignored or failed message (the first record wins on redelivery).
    async fn finish(
        &self,
        mut record: InboundRecord,
        status: InboundStatus,
        reason: String,
    ) -> Result<InboundRecord, HelpdeskError> {
        record.status = status;
        record.reason = Some(reason);
        match self.inbound.insert_inbound(&record).await {
            Ok(()) => {
                tracing::info!(inbound = %record.id, status = status.as_str(), reason = record.reason.as_deref().unwrap_or_default(), "message not ingested");
                Ok(record)
            }
            Err(StoreError::Exists(_)) => self
                .inbound
                .get_inbound(&record.id)
                .await?
                .ok_or_else(|| HelpdeskError::Unavailable("inbound record vanished".into())),
            Err(other) => Err(other.into()),
        }
    }

    /// The customer the sender is (by primary or alternate email), created when unknown with
    /// the name from the display name and a company by domain matching; barred when unknown
    /// and the address is suppressed by an erasure, or blocked.
    async fn customer_for(
        &self,
        sender: &Email,
        parsed: &ParsedMail<'_>,
        inbound_id: &str,
    ) -> Result<Sender, HelpdeskError> {
        let store = self.customers.store();
        if let Some(customer) = store.find_customer(sender).await? {
            return Ok(Sender::Customer(Box::new(customer), false));
        }
        let marks = self.customers.addresses().marks(sender).await?;
        if marks.suppressed.is_some() {
            return Ok(Sender::Barred("erased".into()));
        }
        if marks.blocked.is_some() {
            return Ok(Sender::Barred("blocked".into()));
        }
        let (first_name, last_name) = parsed
            .from
            .name
            .as_deref()
            .filter(|name| !name.contains('@'))
            .map(split_full_name)
            .unwrap_or_default();
        // Display names are the sender's to choose: no control characters, and the API's length.
        let clip = |name: Option<String>| {
            name.map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_NAME_CHARS)
                    .collect::<String>()
            })
            .filter(|n| !n.trim().is_empty())
        };
        let profile = Profile {
            email: sender.clone(),
            first_name: clip(first_name),
            last_name: clip(last_name),
            ..Profile::default()
        };
        let by = crate::domain::history::Actor::Inbound {
            message: inbound_id.to_string(),
        };
        let customer = self
            .customers
            .new_customer(profile, false, by, false)
            .await?;
        match store.insert_customer(&customer).await {
            Ok(()) => {
                tracing::info!(customer = %customer.email(), "customer created from inbound mail");
                Ok(Sender::Customer(Box::new(customer), true))
            }
            // Another message from the same new sender got there first.
            Err(StoreError::EmailTaken(_)) => store
                .find_customer(sender)
                .await?
                .map(|c| Sender::Customer(Box::new(c), false))
                .ok_or_else(|| HelpdeskError::Unavailable("customer vanished; retry".into())),
            Err(other) => Err(other.into()),
        }
    }

    /// Builds the message: bodies in UTF-8, sanitised HTML, the reply without its history, and
    /// attachments written to the mail bucket (at keys derived from the message, so a retry
    /// overwrites rather than duplicates).
    async fn message(
        &self,
        envelope: &Envelope,
        parsed: &ParsedMail<'_>,
        message_id: String,
        unauthenticated: bool,
    ) -> Result<TicketMessage, HelpdeskError> {
        let mut attachments = Vec::with_capacity(parsed.attachments.len());
        for (index, part) in parsed.attachments.iter().enumerate() {
            let key = format!(
                "attachments/{}/{}-{}",
                envelope.id,
                index + 1,
                storage_name(&part.filename)
            );
            // Stored with a type that cannot render as a page, whatever the sender declared.
            self.mail
                .put(
                    &key,
                    part.bytes.to_vec(),
                    &crate::domain::ticket::safe_content_type(&part.content_type),
                )
                .await
                .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
            attachments.push(Attachment {
                id: format!("{}.{}", envelope.id, index + 1),
                filename: part.filename.clone(),
                content_type: part.content_type.clone(),
                size: part.bytes.len() as u64,
                key,
                inline: part.inline,
                content_id: part.content_id.clone(),
            });
        }
        let body = MessageBody {
            reply_text: quotes::reply_text(&parsed.text),
            text: parsed.text.clone(),
            html: parsed.html.as_deref().map(quotes::sanitize_html),
        };
        let size =
            body.text.len() + body.reply_text.len() + body.html.as_ref().map_or(0, String::len);
        let (body, body_key) = if size > INLINE_BODY_BYTES {
            let key = format!("bodies/{}.json", envelope.id);
            let json = serde_json::to_vec(&body)
                .map_err(|e| HelpdeskError::Unavailable(format!("encode body: {e}")))?;
            self.mail
                .put(&key, json, "application/json")
                .await
                .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
            (MessageBody::default(), Some(key))
        } else {
            (body, None)
        };
        Ok(TicketMessage {
            id: envelope.id.clone(),
            ticket_id: String::new(),
            message_id,
            from: parsed.from.clone(),
            reply_to: parsed.reply_to.clone(),
            to: parsed.to.clone(),
            cc: parsed.cc.clone(),
            date: parsed.date.clone(),
            received_at: envelope.received_at.clone(),
            subject: parsed.subject.clone(),
            body,
            body_key,
            attachments,
            thread_reason: ThreadReason::New,
            unauthenticated,
            kind: Default::default(),
            author: None,
            delivery: None,
            in_reply_to: None,
            references: Vec::new(),
        })
    }
}

fn blank_record(envelope: &Envelope, verdicts: Verdicts) -> InboundRecord {
    InboundRecord {
        id: envelope.id.clone(),
        status: InboundStatus::Failed,
        reason: None,
        received_at: envelope.received_at.clone(),
        raw_key: envelope.raw_key.clone(),
        from: None,
        subject: None,
        message_id: None,
        customer_email: None,
        customer_created: false,
        ticket_id: None,
        thread_reason: None,
        verdicts,
    }
}

/// A file name safe as part of an object key: letters, digits, `.`, `-`, `_`; at most 100.
fn storage_name(filename: &str) -> String {
    let safe: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() {
        "file".to_string()
    } else {
        safe.to_string()
    }
}
