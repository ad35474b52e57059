//! Threading: which ticket an inbound message joins, or why it starts a new one.

use super::*;

impl MailContext {
    /// Where the message goes. It joins the first ticket it names that accepts mail from the
    /// sender ([`Ticket::accepts_mail_from`]): by subject token, then `In-Reply-To`, then
    /// `References` newest first. Unverified mail never joins one; a closed ticket gets a
    /// follow-up. Anything else starts a new ticket whose reason says why.
    pub(super) async fn place(
        &self,
        customer: &Customer,
        message: &TicketMessage,
        threading: &Threading,
    ) -> Result<(TicketWrite, ThreadReason), HelpdeskError> {
        // Only mail whose sender is verified copies people in: a forged Cc shows nobody a
        // ticket.
        let copied: &[String] = if message.unauthenticated {
            &[]
        } else {
            &threading.copied
        };
        let new = |follow_up_of, reason| {
            let mut ticket = new_ticket(customer, message, follow_up_of);
            copy_in(&mut ticket, copied);
            Ok((TicketWrite::Insert(ticket), reason))
        };
        match self.named_ticket(customer, message, threading).await? {
            Named::Nothing => new(None, ThreadReason::New),
            Named::OthersOnly => new(None, ThreadReason::NotParticipant),
            Named::Ticket(..) if message.unauthenticated => new(None, ThreadReason::Unverified),
            Named::Ticket(ticket, _) if ticket.status == TicketStatus::Closed => {
                new(Some(ticket.id), ThreadReason::New)
            }
            Named::Ticket(ticket, reason) => {
                let ticket = *ticket;
                let mut next = ticket.bumped();
                next.message_count += 1;
                next.last_message_at = message
                    .received_at
                    .clone()
                    .max(ticket.last_message_at.clone());
                next.last_public_at = Some(next.last_message_at.clone());
                // The customer wrote back: whatever agents were waiting for, it is their turn.
                next.status = TicketStatus::Open;
                next.changed_by = Some(crate::domain::history::Actor::Inbound {
                    message: message.id.clone(),
                });
                copy_in(&mut next, copied);
                Ok((
                    TicketWrite::Replace {
                        previous: ticket,
                        next,
                    },
                    reason,
                ))
            }
        }
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
        let mut named_others = false;
        for ((_, reason), ticket) in candidates.into_iter().zip(tickets) {
            match ticket {
                Some(ticket) if ticket.accepts_mail_from(customer) => {
                    return Ok(Named::Ticket(Box::new(ticket), reason));
                }
                Some(_) => named_others = true,
                None => {}
            }
        }
        Ok(if named_others {
            Named::OthersOnly
        } else {
            Named::Nothing
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
}

/// The Message-IDs a message answers, and the customers it was copied to.
pub(super) struct Threading {
    pub(super) in_reply_to: Vec<String>,
    pub(super) references: Vec<String>,
    /// Customers (by id) in the message's Cc: see [`MailContext::copied_customers`].
    pub(super) copied: Vec<String>,
}

/// Cc addresses of one message looked up, at most (an agent's reply copies at most as many).
const MAX_COPIED_LOOKUPS: usize = 10;

impl MailContext {
    /// The customers a message was copied to (by primary or alternate email): they join the
    /// ticket's Cc, as if an agent had copied them, so they see it in the portal and their
    /// answers by mail join it. People in Cc who are not customers are not made customers;
    /// blocked ones and those being erased are left out, and so is the sender.
    pub(super) async fn copied_customers(
        &self,
        cc: &[crate::domain::ticket::Mailbox],
        sender: &Customer,
    ) -> Result<Vec<String>, HelpdeskError> {
        let mut emails: Vec<Email> = Vec::new();
        for mailbox in cc {
            if let Ok(email) = Email::parse(&mailbox.email)
                && !emails.contains(&email)
            {
                emails.push(email);
            }
        }
        emails.truncate(MAX_COPIED_LOOKUPS);
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = Vec::new();
        for found in self.customers.store().find_customers(&emails).await? {
            if let Some(customer) = found
                && customer.id != sender.id
                && customer.blocked.is_none()
                && customer.erasure_under_way().is_none()
                && !ids.contains(&customer.id)
            {
                ids.push(customer.id);
            }
        }
        Ok(ids)
    }
}

fn copy_in(ticket: &mut Ticket, copied: &[String]) {
    for id in copied {
        crate::domain::portal::add_cc(ticket, id);
    }
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
