//! `GET /customers/{email}/export`: everything held about a person, in one document.

use std::time::Duration;

use super::PrivacyService;
use crate::domain::caller::Caller;
use crate::domain::customer::{Customer, Note};
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::history::HistoryEntry;
use crate::domain::inbound::InboundRecord;
use crate::domain::ticket::{Download, Ticket, TicketMessage};
use crate::ports::objects::SaveAs;
use crate::ports::store::Page;
use crate::services::customers::find_customer;
use crate::services::history::history_page;
use crate::services::tickets::load_body;

const READ_PAGE: usize = 200;
/// How long the link to an export kept in the bucket works.
const EXPORT_LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Where exports too large to answer inline are kept (the bucket expires them after a day).
pub const EXPORTS_PREFIX: &str = "exports/";

/// Everything held about one person. Views decide what a caller sees of it.
#[derive(Debug, Clone)]
pub struct Export {
    pub customer: Customer,
    pub notes: Vec<Note>,
    /// Newest first, ending with the creation.
    pub history: Vec<HistoryEntry>,
    /// Newest first, each with its messages (bodies loaded) in arrival order.
    pub tickets: Vec<ExportedTicket>,
    /// The records of mail from any of the person's addresses, oldest first.
    pub inbound: Vec<InboundRecord>,
    /// The merges (kept while they can be undone) holding a copy of the person.
    pub merges: Vec<crate::domain::merge::Merge>,
}

#[derive(Debug, Clone)]
pub struct ExportedTicket {
    pub ticket: Ticket,
    pub messages: Vec<TicketMessage>,
}

/// Reads every page of a listing.
async fn all<T, F, Fut>(mut read: F) -> Result<Vec<T>, HelpdeskError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, HelpdeskError>>,
{
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = read(after).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
    }
}

impl PrivacyService {
    /// Everything held about the customer with this email (admins and agents; what a caller
    /// may not view is left out by the view).
    pub async fn export(&self, caller: &Caller, email: &Email) -> Result<Export, HelpdeskError> {
        caller.require_staff()?;
        let customer = find_customer(self.customers.as_ref(), email).await?;
        let id = customer.id.as_str();
        let notes = all(|after| async move {
            Ok(self
                .customers
                .list_notes(id, after.as_deref(), READ_PAGE)
                .await?)
        })
        .await?;
        let customer_ref = &customer;
        let history = all(|after| async move {
            history_page(
                self.history.as_ref(),
                customer_ref,
                after.as_deref(),
                READ_PAGE,
            )
            .await
        })
        .await?;
        let tickets = all(|after| async move {
            Ok(self
                .tickets
                .list_tickets(id, after.as_deref(), READ_PAGE)
                .await?)
        })
        .await?;
        let mut exported = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            let ticket_id = ticket.id.as_str();
            let mut messages = all(|after| async move {
                Ok(self
                    .tickets
                    .list_messages(ticket_id, after.as_deref(), READ_PAGE)
                    .await?)
            })
            .await?;
            for message in &mut messages {
                if let Some(key) = &message.body_key {
                    message.body = load_body(self.mail.as_ref(), key).await?;
                }
            }
            exported.push(ExportedTicket { ticket, messages });
        }
        let mut inbound = Vec::new();
        for email in customer.all_emails() {
            inbound.extend(
                all(|after| async move {
                    Ok(self
                        .inbound
                        .list_inbound_from(email, after.as_deref(), READ_PAGE)
                        .await?)
                })
                .await?,
            );
        }
        inbound.sort_by_key(InboundRecord::list_key);
        let now = crate::domain::clock::now();
        let mut merges = Vec::new();
        for merge_id in self.merges.merges_of(id).await? {
            if let Some(merge) = self.merges.get_job(&merge_id).await?
                && !merge.is_expired(&now)
            {
                merges.push(merge);
            }
        }
        tracing::info!(customer = %customer.id, by = %caller.subject, "customer exported");
        Ok(Export {
            customer,
            notes,
            history,
            tickets: exported,
            inbound,
            merges,
        })
    }

    /// Keeps an export too large to answer inline in the mail bucket, and answers a link to it.
    pub async fn keep_export(
        &self,
        customer_id: &str,
        document: Vec<u8>,
    ) -> Result<Download, HelpdeskError> {
        let unavailable =
            |e: crate::ports::objects::ObjectError| HelpdeskError::Unavailable(e.to_string());
        let key = format!("{EXPORTS_PREFIX}{}.json", crate::domain::clock::new_id());
        let size = document.len() as u64;
        self.mail
            .put(&key, document, "application/json")
            .await
            .map_err(unavailable)?;
        let save_as = SaveAs {
            filename: format!("customer-{customer_id}.json"),
            content_type: "application/json".into(),
        };
        let url = self
            .mail
            .presign_get(&key, EXPORT_LINK_LIFETIME, &save_as)
            .await
            .map_err(unavailable)?;
        Ok(Download {
            url,
            expires_in: EXPORT_LINK_LIFETIME.as_secs(),
            filename: save_as.filename,
            content_type: save_as.content_type,
            size,
        })
    }
}
