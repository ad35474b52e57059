//! Agents writing in a ticket: public replies and internal notes (`POST /tickets/{id}/messages`).
//!
//! A reply is written with status `queued`, in the same transaction as its ticket's change and
//! the claim of its Message-ID; the API never waits on the mail provider. The notifier sends it
//! from the table's stream ([`sender`]), and SES's feedback settles its fate ([`feedback`]).

pub mod feedback;
pub mod refusals;
pub mod sender;

use crate::domain::ids::TicketId;
use crate::services::addresses::AddressBook;
use crate::services::limits::{Limit, RateLimiter};
use std::sync::Arc;

use crate::domain::caller::Caller;
use crate::domain::customer::Customer;
use crate::domain::delivery::Delivery;
use crate::domain::email::Email;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::history::Actor;
use crate::domain::reply::*;
use crate::domain::ticket::*;
use crate::domain::versioned::Versioned;
use crate::ports::store::{CustomerStore, MessageWrite, TicketStore, TicketWrite};
use crate::services::retry::{Attempt, retry_on_conflict};

/// The address replies come from (and whose domain names their Message-IDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportAddress {
    pub mailbox: Mailbox,
}

impl SupportAddress {
    /// `Name <address>` or a bare address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (name, address) = match raw.rsplit_once('<') {
            Some((name, address)) => (
                name.trim().trim_matches('"').trim(),
                address.trim_end_matches('>').trim(),
            ),
            None => ("", raw),
        };
        let email =
            Email::parse(address).map_err(|why| format!("support address {address:?} {why}"))?;
        Ok(Self {
            mailbox: Mailbox {
                name: (!name.is_empty()).then(|| name.to_string()),
                email: email.to_string(),
            },
        })
    }

    /// From `SUPPORT_ADDRESS`, else `WELCOME_SENDER`, else [`fallback`](Self::fallback); its
    /// display name from `SUPPORT_NAME` when the address carries none.
    pub fn from_env() -> Result<Self, String> {
        let configured = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        let mut support =
            match configured("SUPPORT_ADDRESS").or_else(|| configured("WELCOME_SENDER")) {
                Some(raw) => Self::parse(&raw)?,
                None => Self::fallback(),
            };
        if support.mailbox.name.is_none() {
            support.mailbox.name = configured("SUPPORT_NAME")
                .map(|name| name.chars().filter(|c| !c.is_control()).collect());
        }
        Ok(support)
    }

    /// `helpdesk@localhost`, local mode's sender when none is configured (as for welcome
    /// emails).
    pub fn fallback() -> Self {
        Self {
            mailbox: Mailbox {
                name: None,
                email: "helpdesk@localhost".into(),
            },
        }
    }

    /// The sender of an agent's reply: the agent's name (with the team's, when it has one),
    /// at the support address.
    fn sender(&self, agent: Option<&str>) -> Mailbox {
        let name = match (agent, &self.mailbox.name) {
            (Some(agent), Some(team)) => Some(format!("{agent} ({team})")),
            (Some(agent), None) => Some(agent.to_string()),
            (None, team) => team.clone(),
        };
        Mailbox {
            name,
            email: self.mailbox.email.clone(),
        }
    }

    /// A new Message-ID in the support domain.
    fn new_message_id(&self) -> String {
        let domain = self
            .mailbox
            .email
            .rsplit_once('@')
            .map_or("helpdesk.invalid", |(_, d)| d);
        format!("{}@{domain}", uuid::Uuid::new_v4())
    }
}

/// Replies and notes over the tickets and customers.
#[derive(Clone)]
pub struct ReplyService {
    tickets: Arc<dyn TicketStore>,
    customers: Arc<dyn CustomerStore>,
    support: SupportAddress,
    /// Every recipient's address marks are read before a reply is accepted.
    addresses: AddressBook,
    /// Each agent's replies are limited ([`AGENT_REPLY_LIMITS`]).
    limits: RateLimiter,
}

/// How many replies one agent may send: a stolen key cannot make the support domain a relay.
pub const AGENT_REPLY_LIMITS: [Limit; 2] = [
    Limit {
        events: 20,
        seconds: 60,
    },
    Limit {
        events: 200,
        seconds: 3600,
    },
];

/// A reply or note's content, checked.
struct Content {
    text: String,
    html: Option<String>,
    internal: bool,
    cc: Vec<Email>,
}

impl ReplyService {
    pub fn new(
        tickets: Arc<dyn TicketStore>,
        customers: Arc<dyn CustomerStore>,
        support: SupportAddress,
        addresses: AddressBook,
        limits: RateLimiter,
    ) -> Self {
        Self {
            tickets,
            customers,
            support,
            addresses,
            limits,
        }
    }

    /// Writes an agent's message: a note, or a reply queued for sending. A reply sets the
    /// ticket `pending` (the customer's turn); a note leaves its status alone.
    pub async fn post_message(
        &self,
        caller: &Caller,
        ticket_id: &TicketId,
        input: ReplyInput,
    ) -> Result<TicketMessage, HelpdeskError> {
        caller.require_staff()?;
        let content = content(input)?;
        if !content.internal {
            let agent = format!("agent:{}", caller.subject);
            self.limits
                .allow("replies sent by one agent", &agent, &AGENT_REPLY_LIMITS)
                .await?;
        }
        let ticket_id = ticket_id.trim().to_ascii_uppercase();
        retry_on_conflict("ticket", || async {
            let ticket = self
                .tickets
                .get_ticket(&ticket_id)
                .await?
                .ok_or_else(|| HelpdeskError::NotFound(format!("ticket {ticket_id}")))?;
            if ticket.status == TicketStatus::Closed {
                return Err(HelpdeskError::conflict(
                    "status",
                    "the ticket is closed; a new message from the customer opens a follow-up ticket",
                ));
            }
            let now = crate::domain::clock::now();
            let message = if content.internal {
                self.note(&ticket, &content, caller, &now)
            } else {
                let customer = self.recipient(&ticket).await?;
                self.check_recipients(&customer, &content.cc).await?;
                self.reply(&ticket, &customer, &content, caller, &now)
                    .await?
            };
            let mut next = ticket.bumped();
            next.message_count += 1;
            next.last_message_at = now.clone().max(ticket.last_message_at.clone());
            if !content.internal {
                next.status = TicketStatus::Pending;
                next.last_public_at = Some(now.clone());
                self.copy_in_customers(&mut next, &content.cc).await?;
            }
            next.last_agent_message = Some(AgentMessageRef {
                id: message.id.clone(),
                kind: message.kind,
            });
            next.changed_by = Some(Actor::caller(&caller.subject));
            let write = MessageWrite {
                ticket: TicketWrite::Replace {
                    previous: ticket,
                    next,
                },
                message: message.clone(),
                inbound: None,
            };
            match self.tickets.store_message(&write).await {
                Ok(()) => {
                    tracing::info!(ticket = %ticket_id, message = %message.id, kind = ?message.kind, "agent message written");
                    Ok(Attempt::Done(message))
                }
                // A message arrived or the status changed meanwhile: write on the new version.
                Err(StoreError::VersionMismatch | StoreError::MessageIdTaken(_)) => {
                    Ok(Attempt::Conflict)
                }
                Err(other) => Err(other.into()),
            }
        })
        .await
    }

    /// The ticket's customer, if mail may go to them.
    async fn recipient(&self, ticket: &Ticket) -> Result<Customer, HelpdeskError> {
        let customer = self
            .customers
            .find_customer(&Email::stored(&ticket.customer_email))
            .await?
            .filter(|c| c.id == ticket.customer_id)
            .ok_or_else(|| {
                HelpdeskError::invalid(
                    "ticket",
                    format!(
                        "the ticket's customer no longer has the address {}",
                        ticket.customer_email
                    ),
                )
            })?;
        if customer.blocked.is_some() {
            return Err(HelpdeskError::invalid(
                "ticket",
                "the customer is blocked: nothing is sent to them",
            ));
        }
        if let Some(problem) = &customer.undeliverable {
            return Err(HelpdeskError::invalid(
                "ticket",
                format!(
                    "the customer's address {} is undeliverable ({}); change it, or have an admin clear the mark",
                    problem.email, problem.reason
                ),
            ));
        }
        Ok(customer)
    }

    /// Customers an agent copies on a reply see the ticket as their own in the portal.
    async fn copy_in_customers(
        &self,
        ticket: &mut Ticket,
        cc: &[Email],
    ) -> Result<(), HelpdeskError> {
        if cc.is_empty() {
            return Ok(());
        }
        for customer in self
            .customers
            .find_customers(cc)
            .await?
            .into_iter()
            .flatten()
        {
            crate::domain::portal::add_cc(ticket, &customer.id);
        }
        Ok(())
    }

    /// Every recipient's address marks: the customer's address must take mail from agents
    /// (not erased, blocked or bouncing), and each Cc as well as not have complained; the
    /// same marks bar them at send.
    async fn check_recipients(
        &self,
        customer: &Customer,
        cc: &[Email],
    ) -> Result<(), HelpdeskError> {
        let mut addresses = vec![customer.email()];
        addresses.extend(cc.iter().map(Email::as_str));
        let marks = self.addresses.marks_of(&addresses).await?;
        let mut refused = Vec::new();
        for (index, marks) in marks.iter().enumerate() {
            let (field, barred) = match index {
                0 => ("ticket".to_string(), marks.bars_replies()),
                i => (format!("cc[{}]", i - 1), marks.bars_copies()),
            };
            if let Some(why) = barred {
                refused.push(crate::domain::validation::FieldError::new(field, why));
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(HelpdeskError::Validation(refused))
        }
    }

    fn note(
        &self,
        ticket: &Ticket,
        content: &Content,
        caller: &Caller,
        now: &crate::domain::timestamp::Timestamp,
    ) -> TicketMessage {
        let id = new_reply_id();
        let mut message = self.message(ticket, content, caller, now, &id);
        message.kind = MessageKind::Note;
        // Notes never travel: no Message-ID is claimed for them.
        message.message_id = format!("{id}@note.invalid");
        message
    }

    async fn reply(
        &self,
        ticket: &Ticket,
        customer: &Customer,
        content: &Content,
        caller: &Caller,
        now: &crate::domain::timestamp::Timestamp,
    ) -> Result<TicketMessage, HelpdeskError> {
        let id = new_reply_id();
        let mut message = self.message(ticket, content, caller, now, &id);
        let earlier = self.thread(&ticket.id).await?;
        let (in_reply_to, references) = thread_headers(&earlier.iter().collect::<Vec<_>>());
        message.kind = MessageKind::Reply;
        message.message_id = self.support.new_message_id();
        message.to = vec![Mailbox {
            name: customer.display_name(),
            email: customer.email().to_string(),
        }];
        message.cc = content
            .cc
            .iter()
            .map(|email| Mailbox {
                name: None,
                email: email.to_string(),
            })
            .collect();
        message.in_reply_to = in_reply_to;
        message.references = references;
        message.delivery = Some(Delivery::queued(now.clone()));
        Ok(message)
    }

    fn message(
        &self,
        ticket: &Ticket,
        content: &Content,
        caller: &Caller,
        now: &crate::domain::timestamp::Timestamp,
        id: &str,
    ) -> TicketMessage {
        TicketMessage {
            id: id.to_string(),
            ticket_id: ticket.id.clone(),
            message_id: String::new(),
            from: self.support.sender(caller.name.as_deref()),
            reply_to: Vec::new(),
            to: Vec::new(),
            cc: Vec::new(),
            date: Some(now.to_string()),
            received_at: now.clone(),
            subject: reply_subject(ticket),
            body: MessageBody {
                text: content.text.clone(),
                html: content.html.clone(),
                reply_text: content.text.clone(),
            },
            body_key: None,
            attachments: Vec::new(),
            thread_reason: ThreadReason::Agent,
            unauthenticated: false,
            kind: MessageKind::Note,
            author: Some(caller.subject.clone()),
            delivery: None,
            in_reply_to: None,
            references: Vec::new(),
        }
    }

    /// The messages a reply's thread headers name, in arrival order: the ticket's first and
    /// its newest ones. Two reads, whatever the thread's length.
    async fn thread(&self, ticket_id: &str) -> Result<Vec<TicketMessage>, HelpdeskError> {
        let first = self.tickets.list_messages(ticket_id, None, 1).await?.items;
        let mut newest = self
            .tickets
            .newest_messages(ticket_id, MAX_REFERENCES_SENT * 2)
            .await?;
        newest.reverse();
        let mut messages = first;
        for message in newest {
            if !messages.iter().any(|m| m.id == message.id) {
                messages.push(message);
            }
        }
        Ok(messages)
    }
}

/// Checks a reply's content: text required, bodies within [`MAX_REPLY_BYTES`], HTML
/// sanitised, Cc valid addresses (at most [`MAX_CC`]).
fn content(input: ReplyInput) -> Result<Content, HelpdeskError> {
    let mut errors = Vec::new();
    let text = input.text.replace("\r\n", "\n");
    if text.trim().is_empty() {
        errors.push(("text", "must not be empty".to_string()));
    }
    let html = input
        .html
        .filter(|h| !h.trim().is_empty())
        .map(|h| ammonia::Builder::default().clean(&h).to_string());
    let size = text.len() + html.as_ref().map_or(0, String::len);
    if size > MAX_REPLY_BYTES {
        errors.push((
            "text",
            format!("text and html together must be at most {MAX_REPLY_BYTES} bytes"),
        ));
    }
    if input.cc.len() > MAX_CC {
        errors.push(("cc", format!("at most {MAX_CC} addresses")));
    }
    if input.internal && !input.cc.is_empty() {
        errors.push(("cc", "an internal note is not sent to anyone".to_string()));
    }
    let mut cc = Vec::new();
    for (index, raw) in input.cc.iter().enumerate().take(MAX_CC) {
        match Email::parse(raw) {
            Ok(email) if !cc.contains(&email) => cc.push(email),
            Ok(_) => {}
            Err(why) => errors.push(("cc", format!("entry {}: {why}", index + 1))),
        }
    }
    if !errors.is_empty() {
        return Err(HelpdeskError::Validation(
            errors
                .into_iter()
                .map(|(field, message)| crate::domain::validation::FieldError::new(field, message))
                .collect(),
        ));
    }
    Ok(Content {
        text,
        html,
        internal: input.internal,
        cc,
    })
}
