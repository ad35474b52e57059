//! Threading: which ticket an inbound message joins, or why it starts a new one.

use super::participants::copy_in;
use super::*;

/// Tickets a message names but whose mail the sender may not write into, looked at for the
/// sender's address (a read of each one's newest messages); only mail that names tickets of
/// others pays for it.
const MAX_ADDRESSED_LOOKUPS: usize = 3;

impl MailContext {
    /// Where the message goes. It joins the first ticket it names that accepts mail from the
    /// sender ([`Ticket::accepts_mail_from`]): by subject token, then `In-Reply-To`, then
    /// `References` newest first; failing that, one whose recent mail was addressed to the
    /// sender, who then joins its Cc. Unverified mail never joins one; a closed ticket gets a
    /// follow-up. Anything else starts a new ticket whose reason says why.
    pub(super) async fn place(
        &self,
        customer: &Customer,
        message: &TicketMessage,
        threading: &Threading,
    ) -> Result<(TicketWrite, ThreadReason), HelpdeskError> {
        let copied = threading.copied.as_slice();
        let new = |follow_up_of, reason| {
            let mut ticket = new_ticket(customer, message, follow_up_of);
            copy_in(&mut ticket, copied);
            Ok((TicketWrite::Insert(ticket), reason))
        };
        // Someone the ticket's mail was addressed to answers it: they join its Cc.
        let (ticket, reason, addressed) =
            match self.named_ticket(customer, message, threading).await? {
                Named::Nothing => return new(None, ThreadReason::New),
                Named::OthersOnly => return new(None, ThreadReason::NotParticipant),
                Named::Ticket(ticket, reason) => (*ticket, reason, false),
                Named::Addressed(ticket, reason) => (*ticket, reason, true),
            };
        if message.unauthenticated {
            return new(None, ThreadReason::Unverified);
        }
        if ticket.status == TicketStatus::Closed {
            return new(Some(ticket.id), ThreadReason::New);
        }
        let by = crate::domain::history::Actor::Inbound {
            message: message.id.clone(),
        };
        let mut next = crate::domain::portal::answered_by_customer(&ticket, message, by);
        copy_in(&mut next, copied);
        if addressed {
            crate::domain::portal::add_cc(&mut next, &customer.id);
        }
        Ok((
            TicketWrite::Replace {
                previous: ticket,
                next,
            },
            reason,
        ))
    }

    /// The ticket a message names, in two batched reads whatever it carries: a few subject
    /// tokens and the newest references only.
    async fn named_ticket(
        &self,
        customer: &Customer,
        message: &TicketMessage,
        threading: &Threading,
    ) -> Result<Named, HelpdeskError> {
        let store = &self.tickets;
        let mut candidates: Vec<(String, ThreadReason)> = subject_tokens(&message.subject)
            .into_iter()
            .take(MAX_SUBJECT_TOKENS)
            .map(|token| (token, ThreadReason::Token))
            .collect();
        let newest = |ids: &[String], limit: usize| -> Vec<String> {
            ids.iter().rev().take(limit).cloned().collect()
        };
        let mut referenced: Vec<(String, ThreadReason)> = Vec::new();
        for (ids, reason) in [
            (
                newest(&threading.in_reply_to, MAX_IN_REPLY_TO),
                ThreadReason::InReplyTo,
            ),
            (
                newest(&threading.references, MAX_REFERENCES),
                ThreadReason::References,
            ),
        ] {
            for id in ids {
                if !referenced.iter().any(|(seen, _)| *seen == id) {
                    referenced.push((id, reason));
                }
            }
        }
        if !referenced.is_empty() {
            let ids: Vec<String> = referenced.iter().map(|(id, _)| id.clone()).collect();
            let owners = store.tickets_for_message_ids(&ids).await?;
            for ((_, reason), owner) in referenced.into_iter().zip(owners) {
                if let Some(ticket_id) = owner {
                    candidates.push((ticket_id, reason));
                }
            }
        }
        let mut ids: Vec<String> = Vec::with_capacity(candidates.len());
        candidates.retain(|(id, _)| {
            let first = !ids.contains(id);
            if first {
                ids.push(id.clone());
            }
            first
        });
        if ids.is_empty() {
            return Ok(Named::Nothing);
        }
        let tickets = store.get_tickets(&ids).await?;
        let mut others = Vec::new();
        for ((_, reason), ticket) in candidates.into_iter().zip(tickets) {
            match ticket {
                Some(ticket) if ticket.accepts_mail_from(customer) => {
                    return Ok(Named::Ticket(Box::new(ticket), reason));
                }
                Some(ticket) => others.push((ticket, reason)),
                None => {}
            }
        }
        if !message.unauthenticated {
            for (ticket, reason) in others.iter().take(MAX_ADDRESSED_LOOKUPS) {
                if self.was_addressed(ticket, customer).await? {
                    return Ok(Named::Addressed(Box::new(ticket.clone()), *reason));
                }
            }
        }
        Ok(if others.is_empty() {
            Named::Nothing
        } else {
            Named::OthersOnly
        })
    }
}

/// What a message's token and references point at.
pub(super) enum Named {
    Nothing,
    /// Only tickets the sender may not write into.
    OthersOnly,
    /// The first ticket that accepts the sender's mail, and how it was found.
    Ticket(Box<Ticket>, ThreadReason),
    /// A ticket that does not accept the sender's mail yet, though its recent mail was
    /// addressed to them (To or Cc): they join its Cc.
    Addressed(Box<Ticket>, ThreadReason),
}

/// The Message-IDs a message answers, and the customers it was copied to.
pub(super) struct Threading {
    pub(super) in_reply_to: Vec<String>,
    pub(super) references: Vec<String>,
    /// Customers (by id) in the message's Cc, none for unverified mail: see
    /// [`MailContext::copied_customers`].
    pub(super) copied: Vec<String>,
}

fn new_ticket(
    customer: &Customer,
    message: &TicketMessage,
    follow_up_of: Option<String>,
) -> Ticket {
    let now = crate::domain::clock::now();
    let subject = if message.subject.is_empty() {
        "(no subject)".to_string()
    } else {
        message.subject.clone()
    };
    Ticket {
        id: new_ticket_id(),
        subject,
        customer_id: customer.id.clone(),
        customer_email: customer.email().to_string(),
        company_id: customer.profile.company_id.clone(),
        status: TicketStatus::Open,
        message_count: 1,
        last_message_at: message.received_at.clone(),
        follow_up_of,
        moved_by: None,
        changed_by: None,
        last_agent_message: None,
        cc_customers: Vec::new(),
        last_public_at: None,
        tags: Vec::new(),
        imported: None,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    }
}
