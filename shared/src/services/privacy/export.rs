//! `GET /customers/{email}/export`: everything held about a person, in one document, read a
//! page at a time and handed on as it is read.

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

/// Where an export goes, piece by piece: the HTTP layer writes each piece's view as it
/// comes, so an export holds one page of records (and one message body) in memory however
/// much is held about the person. Calls come in document order: the customer, notes,
/// history, each ticket followed by its messages, inbound records, merges.
pub trait ExportSink: Send {
    fn customer(&mut self, customer: &Customer) -> Result<(), HelpdeskError>;
    fn note(&mut self, note: &Note) -> Result<(), HelpdeskError>;
    fn history(&mut self, entry: &HistoryEntry) -> Result<(), HelpdeskError>;
    /// Opens a ticket: the messages that follow are its own.
    fn ticket(&mut self, ticket: &Ticket) -> Result<(), HelpdeskError>;
    /// A message of the open ticket, its body loaded.
    fn message(&mut self, message: &TicketMessage) -> Result<(), HelpdeskError>;
    fn inbound(&mut self, record: &InboundRecord) -> Result<(), HelpdeskError>;
    fn merge(&mut self, merge: &crate::domain::merge::Merge) -> Result<(), HelpdeskError>;
}

/// Reads every page of a listing, handing each item to `each` as its page comes.
async fn each_item<T, F, Fut>(
    mut read: F,
    mut each: impl FnMut(&T) -> Result<(), HelpdeskError>,
) -> Result<(), HelpdeskError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, HelpdeskError>>,
{
    let mut after = None;
    loop {
        let page = read(after).await?;
        for item in &page.items {
            each(item)?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

impl PrivacyService {
    /// Writes everything held about the customer with this email into `sink` (admins and
    /// agents; what a caller may not view is left out by the sink's views). Answers the
    /// customer.
    pub async fn export(
        &self,
        caller: &Caller,
        email: &Email,
        sink: &mut dyn ExportSink,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let customer = find_customer(self.customers.as_ref(), email).await?;
        sink.customer(&customer)?;
        let id = customer.id.as_str();
        each_item(
            |after| async move {
                Ok(self
                    .customers
                    .list_notes(id, after.as_deref(), READ_PAGE)
                    .await?)
            },
            |note| sink.note(note),
        )
        .await?;
        let customer_ref = &customer;
        each_item(
            |after| async move {
                history_page(
                    self.history.as_ref(),
                    customer_ref,
                    after.as_deref(),
                    READ_PAGE,
                )
                .await
            },
            |entry| sink.history(entry),
        )
        .await?;
        self.export_tickets(id, sink).await?;
        for email in customer.all_emails() {
            each_item(
                |after| async move {
                    Ok(self
                        .inbound
                        .list_inbound_from(email, after.as_deref(), READ_PAGE)
                        .await?)
                },
                |record| sink.inbound(record),
            )
            .await?;
        }
        let now = crate::domain::clock::now();
        for merge_id in self.merges.merges_of(id).await? {
            if let Some(merge) = self.merges.get_job(&merge_id).await?
                && !merge.is_expired(&now)
            {
                sink.merge(&merge)?;
            }
        }
        tracing::info!(customer = %customer.id, by = %caller.subject, "customer exported");
        Ok(customer)
    }

    /// The person's tickets, newest first, each with its messages in arrival order; a
    /// message's body kept in the bucket is loaded for it alone.
    async fn export_tickets(
        &self,
        customer_id: &str,
        sink: &mut dyn ExportSink,
    ) -> Result<(), HelpdeskError> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .tickets
                .list_tickets(customer_id, after.as_deref(), READ_PAGE)
                .await?;
            for ticket in &page.items {
                sink.ticket(ticket)?;
                let mut position: Option<String> = None;
                loop {
                    let messages = self
                        .tickets
                        .list_messages(&ticket.id, position.as_deref(), READ_PAGE)
                        .await?;
                    for message in messages.items {
                        sink.message(&self.with_body(message).await?)?;
                    }
                    match messages.next {
                        Some(next) => position = Some(next),
                        None => break,
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn with_body(&self, mut message: TicketMessage) -> Result<TicketMessage, HelpdeskError> {
        if let Some(key) = &message.body_key {
            message.body = load_body(self.mail.as_ref(), key).await?;
        }
        Ok(message)
    }

    /// Keeps an export too large to answer inline (written to the file at `path`) in the mail
    /// bucket, and answers a link to it.
    pub async fn keep_export(
        &self,
        customer_id: &str,
        path: &std::path::Path,
        size: u64,
    ) -> Result<Download, HelpdeskError> {
        let unavailable =
            |e: crate::ports::objects::ObjectError| HelpdeskError::Unavailable(e.to_string());
        let key = format!("{EXPORTS_PREFIX}{}.json", crate::domain::clock::new_id());
        self.mail
            .put_file(&key, path, "application/json")
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
