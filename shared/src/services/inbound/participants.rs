//! Who takes part in a ticket besides its customer and their company: the customers a mail
//! was copied to, and people the ticket's mail was addressed to who answer it.

use super::*;

/// Cc addresses of one message looked up, at most (an agent's reply copies at most as many).
const MAX_COPIED_LOOKUPS: usize = 10;

impl MailContext {
    /// The customers a message was copied to (by primary or alternate email): they join the
    /// ticket's Cc, as if an agent had copied them, so they see it in the portal and their
    /// answers by mail join it. People in Cc who are not customers are not made customers;
    /// blocked ones and those being erased are left out, and so is the sender. Only mail whose
    /// sender is verified copies anyone in (nothing is looked up for the rest): a forged Cc
    /// shows nobody a ticket.
    pub(super) async fn copied_customers(
        &self,
        cc: &[crate::domain::ticket::Mailbox],
        sender: &Customer,
        message: &TicketMessage,
    ) -> Result<Vec<String>, HelpdeskError> {
        if message.unauthenticated {
            return Ok(Vec::new());
        }
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

pub(super) fn copy_in(ticket: &mut Ticket, copied: &[String]) {
    for id in copied {
        crate::domain::portal::add_cc(ticket, id);
    }
}

/// Messages of a ticket looked at for the sender's address: the thread's end, where the mail
/// they answer is.
const ADDRESSED_MESSAGES: usize = 20;

impl MailContext {
    /// Whether one of the ticket's newest messages was addressed to the customer (any of their
    /// emails in its To or Cc): an agent's reply copied to them, or a customer's mail that
    /// named them. Their answer belongs to the conversation they were brought into.
    pub(super) async fn was_addressed(
        &self,
        ticket: &Ticket,
        customer: &Customer,
    ) -> Result<bool, HelpdeskError> {
        let messages = self
            .tickets
            .newest_messages(&ticket.id, ADDRESSED_MESSAGES)
            .await?;
        let theirs = |mailbox: &crate::domain::ticket::Mailbox| {
            customer
                .all_emails()
                .any(|email| email.eq_ignore_ascii_case(&mailbox.email))
        };
        Ok(messages
            .iter()
            .any(|m| m.to.iter().chain(&m.cc).any(theirs)))
    }
}
