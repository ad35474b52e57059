//! What clients see. Every response body of a record is built here from the record, field by
//! field: an internal field reaches a client only by being added to a view.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::domain::caller::{Caller, Role};
use crate::domain::company::{Company, DomainAdded};
use crate::domain::customer::Note;
use crate::domain::customer::{Address, Block, Customer, Entitlement, PortalAccess, Welcome};
use crate::domain::delivery::{AddressProblem, Delivery};
use crate::domain::email::Email;
use crate::domain::field::{FieldDefinition, FieldSet, FieldType};
use crate::domain::history::{Actor, HistoryEntry};
use crate::domain::import_job::{Counts, ImportJob, ImportOptions, ImportStatus};
use crate::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use crate::domain::ticket::MessageKind;
use crate::domain::ticket::{
    Attachment, Download, Mailbox, ThreadReason, Ticket, TicketMessage, TicketStatus, TicketView,
};
use crate::domain::validation::FieldError;
use crate::services::customers::{BatchItemResult, BatchStatus};

/// A customer as `caller` may see it: custom fields they may not view are left out, and the
/// import bookkeeping never appears.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Customer)]
pub struct CustomerView<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub first_name: &'a Option<String>,
    pub last_name: &'a Option<String>,
    pub phones: &'a [String],
    #[schema(value_type = Vec<String>)]
    pub alternate_emails: &'a [Email],
    pub company_id: &'a Option<String>,
    pub address: &'a Option<Address>,
    pub social: &'a BTreeMap<String, String>,
    pub avatar: &'a Option<String>,
    pub custom_fields: BTreeMap<&'a str, &'a Value>,
    pub tags: &'a [String],
    pub portal_access: PortalAccess,
    pub notes: &'a Option<String>,
    pub entitlements: &'a [Entitlement],
    pub welcome: &'a Option<Welcome>,
    /// Set while the customer is blocked.
    pub blocked: &'a Option<Block>,
    /// Set when mail to the address bounced for good: replies are refused until the email
    /// changes or an admin clears it (`DELETE /customers/{email}/undeliverable`).
    pub undeliverable: &'a Option<AddressProblem>,
    /// Set when the customer marked our mail as spam: no automated mail goes to them.
    pub complained: &'a Option<AddressProblem>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> CustomerView<'a> {
    pub fn new(customer: &'a Customer, fields: &FieldSet, caller: &Caller) -> Self {
        let profile = &customer.profile;
        CustomerView {
            id: &customer.id,
            email: profile.email.as_str(),
            first_name: &profile.first_name,
            last_name: &profile.last_name,
            phones: &profile.phones,
            alternate_emails: &profile.alternate_emails,
            company_id: &profile.company_id,
            address: &profile.address,
            social: &profile.social,
            avatar: &profile.avatar,
            custom_fields: profile
                .custom_fields
                .iter()
                .filter(|(key, _)| fields.get(key).is_some_and(|d| d.can_view(caller)))
                .map(|(key, value)| (key.as_str(), value))
                .collect(),
            tags: &profile.tags,
            portal_access: profile.portal_access,
            notes: &profile.notes,
            entitlements: &profile.entitlements,
            welcome: &customer.welcome,
            blocked: &customer.blocked,
            undeliverable: &customer.undeliverable,
            complained: &customer.complained,
            created_at: &customer.created_at,
            updated_at: &customer.updated_at,
            version: customer.version,
        }
    }
}

/// The outcome of one item of `POST /customers/batch`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BatchItem)]
pub struct BatchItemView<'a> {
    pub index: usize,
    pub email: &'a Option<String>,
    pub status: BatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerView<'a>>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub errors: &'a [FieldError],
}

impl<'a> BatchItemView<'a> {
    pub fn new(item: &'a BatchItemResult, fields: &FieldSet, caller: &Caller) -> Self {
        BatchItemView {
            index: item.index,
            email: &item.email,
            status: item.status,
            customer: item
                .customer
                .as_ref()
                .map(|c| CustomerView::new(c, fields, caller)),
            errors: &item.errors,
        }
    }
}

/// An import job as clients see it: the run's internals (who it runs as, checkpoint, lease,
/// the source's version) stay out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ImportJob)]
pub struct ImportJobView<'a> {
    pub id: &'a str,
    pub status: ImportStatus,
    pub dry_run: bool,
    pub options: &'a ImportOptions,
    pub counts: Counts,
    pub ignored_columns: &'a [String],
    pub error_report: &'a Option<String>,
    pub error: &'a Option<String>,
    pub source_key: &'a str,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
    /// Where to send the file, on a job just created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_method: Option<&'static str>,
}

impl<'a> ImportJobView<'a> {
    pub fn new(job: &'a ImportJob) -> Self {
        ImportJobView {
            id: &job.id,
            status: job.status,
            dry_run: job.dry_run,
            options: &job.options,
            counts: job.counts,
            ignored_columns: &job.ignored_columns,
            error_report: &job.error_report,
            error: &job.error,
            source_key: &job.source_key,
            created_at: &job.created_at,
            updated_at: &job.updated_at,
            version: job.version,
            upload_url: None,
            upload_method: None,
        }
    }

    /// The job with the URL its file is to be `PUT` to.
    pub fn with_upload(mut self, url: String) -> Self {
        self.upload_url = Some(url);
        self.upload_method = Some("PUT");
        self
    }
}

/// `POST /customers/batch`: one result per item, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BatchResult)]
pub struct BatchResultView<'a> {
    pub results: Vec<BatchItemView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Note)]
pub struct NoteView<'a> {
    pub id: &'a str,
    /// Who wrote it: the caller's `sub`, or the local key's name.
    pub author: &'a str,
    pub text: &'a str,
    pub created_at: &'a str,
}

impl<'a> From<&'a Note> for NoteView<'a> {
    fn from(note: &'a Note) -> Self {
        NoteView {
            id: &note.id,
            author: &note.author,
            text: &note.text,
            created_at: &note.created_at,
        }
    }
}

/// One change of a record as `caller` may see it: a custom field they may not view shows
/// that it changed, not its values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = HistoryEntry)]
pub struct HistoryEntryView<'a> {
    /// The version this change made; 1 is the creation.
    pub version: u64,
    pub at: &'a str,
    /// Who made it; `null` for a creation before history was kept.
    pub by: &'a Option<Actor>,
    pub changes: Vec<FieldChangeView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldChange)]
pub struct FieldChangeView<'a> {
    /// A top-level field, or `custom_fields.<key>`.
    pub field: &'a str,
    /// The value before (`null`: not set). Left out when hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub from: Option<&'a Value>,
    /// The value after (`null`: not set). Left out when hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub to: Option<&'a Value>,
    /// True when the caller may not view this field's values.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

impl<'a> HistoryEntryView<'a> {
    pub fn new(entry: &'a HistoryEntry, fields: &FieldSet, caller: &Caller) -> Self {
        let visible = |field: &str| match field.strip_prefix("custom_fields.") {
            Some(key) => fields.get(key).is_some_and(|d| d.can_view(caller)),
            None => true,
        };
        HistoryEntryView {
            version: entry.version,
            at: &entry.at,
            by: &entry.by,
            changes: entry
                .changes
                .iter()
                .map(|change| {
                    let shown = visible(&change.field);
                    FieldChangeView {
                        field: &change.field,
                        from: shown.then_some(&change.from),
                        to: shown.then_some(&change.to),
                        hidden: !shown,
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Company)]
pub struct CompanyView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub domains: &'a [String],
    pub notes: &'a Option<String>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> From<&'a Company> for CompanyView<'a> {
    fn from(company: &'a Company) -> Self {
        CompanyView {
            id: &company.id,
            name: &company.name,
            domains: &company.domains,
            notes: &company.notes,
            created_at: &company.created_at,
            updated_at: &company.updated_at,
            version: company.version,
        }
    }
}

/// `POST /companies/{id}/domains`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DomainAdded)]
pub struct DomainAddedView<'a> {
    pub company: CompanyView<'a>,
    /// Existing customers without a company that were assigned by the back-fill.
    pub assigned_customers: u64,
}

impl<'a> From<&'a DomainAdded> for DomainAddedView<'a> {
    fn from(added: &'a DomainAdded) -> Self {
        DomainAddedView {
            company: CompanyView::from(&added.company),
            assigned_customers: added.assigned_customers,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Field)]
pub struct FieldView<'a> {
    pub key: &'a str,
    pub label: &'a str,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub options: &'a [String],
    pub required: bool,
    pub view_roles: &'a [Role],
    pub edit_roles: &'a [Role],
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> From<&'a FieldDefinition> for FieldView<'a> {
    fn from(field: &'a FieldDefinition) -> Self {
        FieldView {
            key: &field.key,
            label: &field.label,
            field_type: field.field_type,
            options: &field.options,
            required: field.required,
            view_roles: &field.view_roles,
            edit_roles: &field.edit_roles,
            created_at: &field.created_at,
            updated_at: &field.updated_at,
            version: field.version,
        }
    }
}

/// `GET /fields`: every definition at once (an admin-sized list).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldList)]
pub struct FieldListView<'a> {
    pub items: Vec<FieldView<'a>>,
    /// Always null: the list is never paged.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Ticket)]
pub struct TicketSummaryView<'a> {
    /// Short and upper-case: the `[#ID]` subject token.
    pub id: &'a str,
    pub subject: &'a str,
    pub customer_id: &'a str,
    pub customer_email: &'a str,
    pub company_id: &'a Option<String>,
    pub status: TicketStatus,
    pub message_count: u64,
    pub last_message_at: &'a str,
    /// The closed ticket this one continues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<&'a str>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> From<&'a Ticket> for TicketSummaryView<'a> {
    fn from(ticket: &'a Ticket) -> Self {
        TicketSummaryView {
            id: &ticket.id,
            subject: &ticket.subject,
            customer_id: &ticket.customer_id,
            customer_email: &ticket.customer_email,
            company_id: &ticket.company_id,
            status: ticket.status,
            message_count: ticket.message_count,
            last_message_at: &ticket.last_message_at,
            follow_up_of: ticket.follow_up_of.as_deref(),
            created_at: &ticket.created_at,
            updated_at: &ticket.updated_at,
            version: ticket.version,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TicketMessage)]
pub struct MessageView<'a> {
    pub id: &'a str,
    pub ticket_id: &'a str,
    /// The RFC 5322 Message-ID, without angle brackets.
    pub message_id: &'a str,
    pub from: &'a Mailbox,
    pub reply_to: &'a [Mailbox],
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    /// The sender's `Date` header (RFC 3339), when it had a valid one.
    pub date: &'a Option<String>,
    pub received_at: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// Sanitised HTML.
    pub html: &'a Option<String>,
    /// The new text, quoted history removed.
    pub reply_text: &'a str,
    /// Where large bodies are kept (they are read back into `text` and `html`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_key: Option<&'a str>,
    pub attachments: &'a [Attachment],
    pub thread_reason: ThreadReason,
    pub unauthenticated: bool,
    /// Mail from the customer, or an agent's reply or internal note.
    pub kind: MessageKind,
    /// The agent who wrote a reply or note.
    pub author: &'a Option<String>,
    /// A reply's way to the customer: `queued`, then `sent` or `failed`.
    pub delivery: &'a Option<Delivery>,
    /// The Message-ID a reply answers.
    pub in_reply_to: &'a Option<String>,
    /// The thread's Message-IDs a reply names.
    pub references: &'a [String],
}

impl<'a> From<&'a TicketMessage> for MessageView<'a> {
    fn from(message: &'a TicketMessage) -> Self {
        MessageView {
            id: &message.id,
            ticket_id: &message.ticket_id,
            message_id: &message.message_id,
            from: &message.from,
            reply_to: &message.reply_to,
            to: &message.to,
            cc: &message.cc,
            date: &message.date,
            received_at: &message.received_at,
            subject: &message.subject,
            text: &message.body.text,
            html: &message.body.html,
            reply_text: &message.body.reply_text,
            body_key: message.body_key.as_deref(),
            attachments: &message.attachments,
            thread_reason: message.thread_reason,
            unauthenticated: message.unauthenticated,
            kind: message.kind,
            author: &message.author,
            delivery: &message.delivery,
            in_reply_to: &message.in_reply_to,
            references: &message.references,
        }
    }
}

/// `GET /tickets/{id}`: the ticket with its messages in arrival order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TicketView)]
pub struct TicketThreadView<'a> {
    #[serde(flatten)]
    pub ticket: TicketSummaryView<'a>,
    pub messages: Vec<MessageView<'a>>,
    /// Where the next messages start when the thread is longer than one read.
    pub messages_next_cursor: Option<String>,
}

impl<'a> TicketThreadView<'a> {
    pub fn new(view: &'a TicketView, messages_next_cursor: Option<String>) -> Self {
        TicketThreadView {
            ticket: TicketSummaryView::from(&view.ticket),
            messages: view.messages.iter().map(MessageView::from).collect(),
            messages_next_cursor,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = InboundRecord)]
pub struct InboundRecordView<'a> {
    /// The SES message id (cloud) or `eml-` and a digest of the file (local).
    pub id: &'a str,
    pub status: InboundStatus,
    /// Why it was ignored or failed.
    pub reason: &'a Option<String>,
    pub received_at: &'a str,
    /// The raw message, kept whatever the outcome.
    pub raw_key: &'a str,
    pub from: &'a Option<String>,
    pub subject: &'a Option<String>,
    pub message_id: &'a Option<String>,
    pub customer_email: &'a Option<String>,
    /// Whether this message created the customer.
    pub customer_created: bool,
    pub ticket_id: &'a Option<String>,
    pub thread_reason: Option<ThreadReason>,
    pub verdicts: &'a Verdicts,
}

impl<'a> From<&'a InboundRecord> for InboundRecordView<'a> {
    fn from(record: &'a InboundRecord) -> Self {
        InboundRecordView {
            id: &record.id,
            status: record.status,
            reason: &record.reason,
            received_at: &record.received_at,
            raw_key: &record.raw_key,
            from: &record.from,
            subject: &record.subject,
            message_id: &record.message_id,
            customer_email: &record.customer_email,
            customer_created: record.customer_created,
            ticket_id: &record.ticket_id,
            thread_reason: record.thread_reason,
            verdicts: &record.verdicts,
        }
    }
}

/// An attachment download: a short-lived URL and what it will deliver.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Download)]
pub struct DownloadView<'a> {
    pub url: &'a str,
    /// Seconds the URL stays valid.
    pub expires_in: u64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: u64,
}

impl<'a> From<&'a Download> for DownloadView<'a> {
    fn from(download: &'a Download) -> Self {
        DownloadView {
            url: &download.url,
            expires_in: download.expires_in,
            filename: &download.filename,
            content_type: &download.content_type,
            size: download.size,
        }
    }
}
