//! Tickets: the conversations a customer has with support, built from inbound mail, and what
//! agents do with them (read, page, change status, download attachments).

use crate::domain::caller::Caller;
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::history::HistoryEntry;
use crate::domain::ids::TicketId;
use crate::domain::patch::Precondition;
use crate::domain::ticket::*;
use crate::domain::versioned::Versioned;
use crate::ports::objects::ObjectError;
use crate::ports::objects::ObjectStore;
use crate::ports::objects::SaveAs;
use crate::ports::store::Page;
use crate::ports::store::{CustomerStore, HistoryStore, TicketStore};
use crate::services::customers::find_customer;
use crate::services::history::history_page;
use std::sync::Arc;

/// Tickets as agents see them: reading (bodies and attachments come from the mail bucket) and
/// status changes.
#[derive(Clone)]
pub struct TicketService {
    store: Arc<dyn TicketStore>,
    customers: Arc<dyn CustomerStore>,
    /// The mail bucket: large message bodies and attachments.
    mail: Arc<dyn ObjectStore>,
    history: Arc<dyn HistoryStore>,
}

impl TicketService {
    pub fn new(
        store: Arc<dyn TicketStore>,
        customers: Arc<dyn CustomerStore>,
        mail: Arc<dyn ObjectStore>,
        history: Arc<dyn HistoryStore>,
    ) -> Self {
        Self {
            store,
            customers,
            mail,
            history,
        }
    }

    /// The ticket's history: who moved the ticket between statuses, newest first, ending
    /// with its creation. Its messages (with agents' replies and notes) are its thread.
    pub async fn ticket_history(
        &self,
        caller: &Caller,
        id: &TicketId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<HistoryEntry>, HelpdeskError> {
        caller.require_staff()?;
        let ticket = self.find_ticket(id).await?;
        history_page(self.history.as_ref(), &ticket, after, limit).await
    }

    /// A customer's tickets, newest first.
    pub async fn list_customer_tickets(
        &self,
        caller: &Caller,
        email: &Email,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Ticket>, HelpdeskError> {
        caller.require_staff()?;
        let customer = find_customer(self.customers.as_ref(), email).await?;
        Ok(self.store.list_tickets(&customer.id, after, limit).await?)
    }

    /// A ticket and its messages in arrival order, bodies included.
    pub async fn get_ticket(
        &self,
        caller: &Caller,
        id: &TicketId,
        after: Option<&str>,
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
                message.body = load_body(self.mail.as_ref(), key).await?;
            }
        }
        Ok(TicketView {
            ticket,
            messages,
            messages_next: page.next,
        })
    }

    /// Changes a ticket's status. A closed ticket stays closed.
    pub async fn update_ticket(
        &self,
        caller: &Caller,
        id: &TicketId,
        patch: TicketPatch,
        precondition: Option<Precondition>,
    ) -> Result<Ticket, HelpdeskError> {
        caller.require_staff()?;
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
        let mut next = ticket.bumped();
        next.status = status;
        next.changed_by = Some(crate::domain::history::Actor::caller(&caller.subject));
        match self.store.replace_ticket(&ticket, &next).await {
            Ok(()) => {
                tracing::info!(ticket = %next.id, status = ?next.status, "ticket status changed");
                Ok(next)
            }
            // Someone (often a new message) changed it meanwhile: the client re-reads.
            Err(crate::domain::error::StoreError::VersionMismatch) => {
                Err(HelpdeskError::PreconditionFailed)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// A short-lived URL for one attachment of a ticket.
    pub async fn attachment_download(
        &self,
        caller: &Caller,
        ticket_id: &TicketId,
        attachment_id: &str,
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
                let url = self
                    .mail
                    .presign_get(
                        &attachment.key,
                        DOWNLOAD_URL_LIFETIME,
                        &SaveAs {
                            filename: attachment.filename.clone(),
                            content_type: attachment.served_content_type(),
                        },
                    )
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

pub(crate) async fn load_body(
    mail: &dyn ObjectStore,
    key: &str,
) -> Result<MessageBody, HelpdeskError> {
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
