//! Ticket import, row by row: a ticket row creates (or updates) the ticket its external id
//! names, with its first message; a message row adds a message to it. Everything keeps the
//! file's timestamps, and nothing is sent: imported replies carry no delivery, and customers
//! created for missing addresses get no welcome email.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::domain::caller::Caller;
use crate::domain::customer::{Customer, RowOutcome};
use crate::domain::customer_input::CustomerInput;
use crate::domain::email::Email;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::patch::Command;
use crate::domain::provenance::Actor;
use crate::domain::ticket::{
    Mailbox, MessageBody, MessageKind, ThreadReason, Ticket, TicketMessage, new_ticket_id,
};
use crate::domain::ticket_import::{
    ImportRow, ImportedTicket, MessageRow, TicketRow, message_key, ticket_key,
};
use crate::domain::versioned::Versioned;
use crate::ports::store::{MessageWrite, TicketStore, TicketWrite};
use crate::services::customers::CustomerService;

/// Tries at a ticket that changed between read and write (another row, a reply).
const ATTEMPTS: usize = 4;

/// What a row came to: counted, or failed with a reason for the report.
pub(crate) type RowResult = Result<RowOutcome, String>;

/// Writes one import job's rows.
pub(crate) struct TicketImporter {
    pub(crate) tickets: Arc<dyn TicketStore>,
    pub(crate) customers: CustomerService,
    pub(crate) job_id: String,
    pub(crate) run_as: Caller,
    pub(crate) dry_run: bool,
    pub(crate) create_missing_customers: bool,
    /// A dry run writes nothing: the tickets it would create, for the message rows after them.
    pub(crate) would_create: Mutex<HashSet<String>>,
    /// Message authors by address: whose customer record they are (agents have none). A file
    /// names the same few agents on thousands of rows.
    pub(crate) authors: Mutex<HashMap<String, Option<String>>>,
}

/// Authors remembered at most (then forgotten all at once).
const AUTHORS_KEPT: usize = 10_000;

impl TicketImporter {
    pub(crate) async fn import(
        &self,
        row: u64,
        parsed: ImportRow,
    ) -> Result<RowResult, HelpdeskError> {
        match parsed {
            ImportRow::Ticket(ticket) => self.ticket(row, ticket).await,
            ImportRow::Message(message) => self.message(row, message).await,
        }
    }

    fn actor(&self, row: u64) -> Actor {
        Actor::Import {
            job: self.job_id.clone(),
            row,
        }
    }

    async fn ticket(&self, row: u64, input: TicketRow) -> Result<RowResult, HelpdeskError> {
        let key = ticket_key(&input.external_id);
        if let Some(id) = self.tickets.ticket_for_message_id(&key).await? {
            return self.update_ticket(row, &id, input).await;
        }
        if self.dry_run {
            let known = self
                .customers
                .store()
                .find_customer(&input.customer_email)
                .await?;
            if known.is_none() && !self.create_missing_customers {
                return Ok(Err(missing_customer(&input.customer_email)));
            }
            self.remember(&input.external_id);
            return Ok(Ok(RowOutcome::Created));
        }
        let customer = match self.customer(row, &input.customer_email).await? {
            Ok(customer) => customer,
            Err(reason) => return Ok(Err(reason)),
        };
        let ticket = new_ticket(
            &customer,
            &input,
            ImportedTicket {
                job: self.job_id.clone(),
                row,
                external_id: input.external_id.clone(),
            },
            self.actor(row),
        );
        let message = first_message(&ticket, &customer, &input, key);
        let write = MessageWrite {
            ticket: TicketWrite::Insert(ticket),
            message,
            inbound: None,
        };
        match self.tickets.store_message(&write).await {
            Ok(()) => Ok(Ok(RowOutcome::Created)),
            // Created by this row before a crash, or by a concurrent run: already there.
            Err(StoreError::MessageIdTaken(_)) => Ok(Ok(RowOutcome::Unchanged)),
            Err(other) => Err(other.into()),
        }
    }

    /// The ticket row of a ticket imported before: its subject, status and tags as the row
    /// says (the customer and the first message stay).
    async fn update_ticket(
        &self,
        row: u64,
        id: &str,
        input: TicketRow,
    ) -> Result<RowResult, HelpdeskError> {
        for _ in 0..ATTEMPTS {
            let Some(current) = self.tickets.get_ticket(id).await? else {
                return Ok(Err(format!("ticket {id} was deleted while importing")));
            };
            // A ticket that moved on after the row's times (a message since) keeps its
            // status: the file's is older news.
            let row_time = [&input.updated_at, &input.solved_at]
                .into_iter()
                .flatten()
                .fold(&input.created_at, |a, b| a.max(b));
            let status = match current.last_message_at > *row_time {
                true => current.status,
                false => input.status,
            };
            let unchanged = current.subject == input.subject
                && current.status == status
                && current.tags == input.tags;
            if unchanged {
                return Ok(Ok(RowOutcome::Unchanged));
            }
            if self.dry_run {
                return Ok(Ok(RowOutcome::Updated));
            }
            let mut next = current.bumped();
            next.subject = input.subject.clone();
            next.status = status;
            next.tags = input.tags.clone();
            next.changed_by = Some(self.actor(row));
            match self.tickets.replace_ticket(&current, &next).await {
                Ok(()) => return Ok(Ok(RowOutcome::Updated)),
                Err(StoreError::VersionMismatch) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(HelpdeskError::Unavailable(format!(
            "ticket {id} kept changing"
        )))
    }

    async fn message(&self, row: u64, input: MessageRow) -> Result<RowResult, HelpdeskError> {
        let Some(id) = self
            .tickets
            .ticket_for_message_id(&ticket_key(&input.external_id))
            .await?
        else {
            if self.dry_run && self.would_create(&input.external_id) {
                return Ok(Ok(RowOutcome::Created));
            }
            return Ok(Err(format!(
                "no ticket has external_id {} yet: its ticket row must come first (in this file \
                 or an earlier import)",
                input.external_id
            )));
        };
        // Looked up where it would be stored (its time and key-derived id): notes and replies
        // claim no Message-ID, so the claim cannot say whether this row was imported.
        let key = message_key(&input);
        let position = format!("{}#{}", input.created_at, message_id_of(&key));
        if self.tickets.get_message(&id, &position).await?.is_some() {
            return Ok(Ok(RowOutcome::Unchanged));
        }
        if self.dry_run {
            return Ok(Ok(RowOutcome::Created));
        }
        for _ in 0..ATTEMPTS {
            let Some(current) = self.tickets.get_ticket(&id).await? else {
                return Ok(Err(format!("ticket {id} was deleted while importing")));
            };
            let kind = self.kind_of(&current, &input).await?;
            let message = later_message(&current, &input, kind, key.clone());
            let mut next = current.bumped();
            next.message_count += 1;
            next.last_message_at = current
                .last_message_at
                .clone()
                .max(input.created_at.clone());
            // The other system's times stand: the import is not an activity of the ticket.
            next.updated_at = current.updated_at.clone().max(input.created_at.clone());
            if kind != MessageKind::Note {
                let public = current.last_public_at.clone().unwrap_or_default();
                next.last_public_at = Some(public.max(input.created_at.clone()));
            }
            if kind != MessageKind::Inbound {
                next.last_agent_message = Some(crate::domain::ticket::AgentMessageRef {
                    id: message.id.clone(),
                    kind,
                });
            }
            next.changed_by = Some(self.actor(row));
            let write = MessageWrite {
                ticket: TicketWrite::Replace {
                    previous: current,
                    next,
                },
                message,
                inbound: None,
            };
            match self.tickets.store_message(&write).await {
                Ok(()) => return Ok(Ok(RowOutcome::Created)),
                Err(StoreError::MessageIdTaken(_)) => return Ok(Ok(RowOutcome::Unchanged)),
                Err(StoreError::VersionMismatch) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(HelpdeskError::Unavailable(format!(
            "ticket {id} kept changing"
        )))
    }

    /// Internal rows are notes; a row by the ticket's customer (any of their addresses), or
    /// without an author, is theirs; anyone else's is an agent's reply (never sent).
    async fn kind_of(
        &self,
        ticket: &Ticket,
        input: &MessageRow,
    ) -> Result<MessageKind, HelpdeskError> {
        if input.internal {
            return Ok(MessageKind::Note);
        }
        let Some(author) = &input.author_email else {
            return Ok(MessageKind::Inbound);
        };
        if author.as_str() == ticket.customer_email {
            return Ok(MessageKind::Inbound);
        }
        let known = self
            .authors
            .lock()
            .ok()
            .and_then(|a| a.get(author.as_str()).cloned());
        let holder = match known {
            Some(holder) => holder,
            None => {
                let found = self.customers.store().find_customer(author).await?;
                let holder = found.map(|c| c.id);
                if let Ok(mut authors) = self.authors.lock() {
                    if authors.len() >= AUTHORS_KEPT {
                        authors.clear();
                    }
                    authors.insert(author.to_string(), holder.clone());
                }
                holder
            }
        };
        Ok(match holder {
            Some(id) if id == ticket.customer_id => MessageKind::Inbound,
            _ => MessageKind::Reply,
        })
    }

    /// The ticket's customer; created (without a welcome email) when allowed.
    async fn customer(
        &self,
        row: u64,
        email: &Email,
    ) -> Result<Result<Customer, String>, HelpdeskError> {
        if let Some(customer) = self.customers.store().find_customer(email).await? {
            return Ok(Ok(customer));
        }
        if !self.create_missing_customers {
            return Ok(Err(missing_customer(email)));
        }
        let input = CustomerInput::parse(serde_json::json!({ "email": email.as_str() }))?;
        match self.customers.create_customer(&self.run_as, input).await {
            Ok(customer) => {
                tracing::info!(job = %self.job_id, row, "customer created for an imported ticket");
                Ok(Ok(customer))
            }
            // Created meanwhile (an earlier row of a concurrent run): use it.
            Err(HelpdeskError::Conflict { .. }) => Ok(self
                .customers
                .store()
                .find_customer(email)
                .await?
                .ok_or_else(|| missing_customer(email))),
            Err(HelpdeskError::Validation(errors)) => Ok(Err(errors
                .iter()
                .map(|e| format!("customer {}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "))),
            Err(other) => Err(other),
        }
    }

    fn remember(&self, external_id: &str) {
        if let Ok(mut set) = self.would_create.lock() {
            set.insert(external_id.to_string());
        }
    }

    fn would_create(&self, external_id: &str) -> bool {
        self.would_create
            .lock()
            .map(|set| set.contains(external_id))
            .unwrap_or(false)
    }
}

/// The id an imported message is stored under, from its key.
fn message_id_of(key: &str) -> String {
    format!("import-{}", key.split('@').next().unwrap_or_default())
}

fn missing_customer(email: &Email) -> String {
    format!(
        "no customer has the address {email}: import customers first, or set \
         create_missing_customers"
    )
}

fn new_ticket(
    customer: &Customer,
    input: &TicketRow,
    imported: ImportedTicket,
    by: Actor,
) -> Ticket {
    let created = input.created_at.clone();
    let updated = [&input.updated_at, &input.solved_at]
        .into_iter()
        .flatten()
        .cloned()
        .fold(created.clone(), Ord::max);
    Ticket {
        id: new_ticket_id(),
        subject: input.subject.clone(),
        customer_id: customer.id.clone(),
        customer_email: customer.email().to_string(),
        company_id: customer.profile.company_id.clone(),
        status: input.status,
        message_count: 1,
        last_message_at: created.clone(),
        follow_up_of: None,
        moved_by: None,
        last_agent_message: None,
        cc_customers: Vec::new(),
        last_public_at: Some(created.clone()),
        tags: input.tags.clone(),
        imported: Some(imported),
        changed_by: Some(by),
        created_at: created,
        updated_at: updated,
        version: 1,
    }
}

fn first_message(
    ticket: &Ticket,
    customer: &Customer,
    input: &TicketRow,
    key: String,
) -> TicketMessage {
    let text = input
        .description
        .clone()
        .unwrap_or_else(|| "(imported without a description)".into());
    let from = Mailbox {
        name: customer.display_name(),
        email: customer.email().to_string(),
    };
    message(
        ticket,
        key,
        from,
        &input.created_at,
        text,
        MessageKind::Inbound,
        None,
    )
}

fn later_message(
    ticket: &Ticket,
    input: &MessageRow,
    kind: MessageKind,
    key: String,
) -> TicketMessage {
    let from = Mailbox {
        name: None,
        email: input
            .author_email
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_else(|| ticket.customer_email.clone()),
    };
    let author = (kind != MessageKind::Inbound).then(|| from.email.clone());
    message(
        ticket,
        key,
        from,
        &input.created_at,
        input.text.clone(),
        kind,
        author,
    )
}

fn message(
    ticket: &Ticket,
    key: String,
    from: Mailbox,
    at: &crate::domain::timestamp::Timestamp,
    text: String,
    kind: MessageKind,
    author: Option<String>,
) -> TicketMessage {
    TicketMessage {
        id: message_id_of(&key),
        ticket_id: ticket.id.clone(),
        message_id: key,
        from,
        reply_to: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        date: Some(at.to_string()),
        received_at: at.clone(),
        subject: ticket.subject.clone(),
        body: MessageBody {
            reply_text: text.clone(),
            text,
            html: None,
        },
        body_key: None,
        attachments: Vec::new(),
        thread_reason: ThreadReason::Imported,
        unauthenticated: false,
        kind,
        author,
        delivery: None,
        in_reply_to: None,
        references: Vec::new(),
    }
}
