//! Privacy requests: `POST /customers/{email}/erase`, `GET /erasures/{id}` and
//! `GET /customers/{email}/export`, with the views they answer.

use super::*;
use crate::domain::erasure::{Erasure, ErasureCounts, ErasureStatus, TicketErasure};
use crate::domain::field::FieldSet;
use crate::domain::ticket::TicketMessage;
use crate::services::privacy::erasure::EraseInput;
use crate::services::privacy::{Export, PrivacyService};

/// Exports up to this size are the response; larger ones are kept in the mail bucket and
/// answered with a link (Lambda answers at most 6 MB).
const MAX_INLINE_EXPORT_BYTES: usize = 5 * 1024 * 1024;

/// An erasure as admins see it: its progress, and once done its tombstone (hashes only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Erasure)]
pub struct ErasureView<'a> {
    pub id: &'a str,
    pub status: ErasureStatus,
    /// Salted SHA-256 of each erased address (hex).
    pub email_hashes: &'a [String],
    pub suppress: bool,
    pub tickets: TicketErasure,
    pub requested_by: &'a str,
    pub requested_at: &'a str,
    pub finished_at: Option<&'a str>,
    pub counts: &'a ErasureCounts,
}

impl<'a> From<&'a Erasure> for ErasureView<'a> {
    fn from(erasure: &'a Erasure) -> Self {
        ErasureView {
            id: &erasure.id,
            status: erasure.status,
            email_hashes: &erasure.email_hashes,
            suppress: erasure.suppress,
            tickets: erasure.tickets,
            requested_by: &erasure.requested_by,
            requested_at: &erasure.requested_at,
            finished_at: erasure.finished_at.as_deref(),
            counts: &erasure.counts,
        }
    }
}

/// Everything held about a person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CustomerExport)]
pub struct ExportView<'a> {
    pub customer: CustomerView<'a>,
    pub notes: Vec<NoteView<'a>>,
    pub history: Vec<HistoryEntryView<'a>>,
    pub tickets: Vec<ExportTicketView<'a>>,
    pub inbound: Vec<InboundRecordView<'a>>,
    /// The merges kept for undo that hold a copy of the person, with those copies.
    pub merges: Vec<ExportMergeView<'a>>,
    pub exported_at: String,
}

/// A merge holding a copy of the person: the merge, and the customers as it keeps them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExportedMerge)]
pub struct ExportMergeView<'a> {
    #[serde(flatten)]
    pub merge: MergeView<'a>,
    /// The target as it was before the merge.
    pub target_before: CustomerView<'a>,
    /// The customers merged in, as they were.
    pub merged_in: Vec<CustomerView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExportedTicket)]
pub struct ExportTicketView<'a> {
    #[serde(flatten)]
    pub ticket: TicketSummaryView<'a>,
    pub messages: Vec<ExportMessageView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExportedMessage)]
pub struct ExportMessageView<'a> {
    #[serde(flatten)]
    pub message: MessageView<'a>,
    /// API paths that answer each attachment's download link, in `attachments` order.
    pub attachment_links: Vec<String>,
}

impl<'a> ExportView<'a> {
    fn new(export: &'a Export, fields: &FieldSet, caller: &Caller) -> Self {
        let message = |m: &'a TicketMessage| ExportMessageView {
            message: MessageView::from(m),
            attachment_links: m
                .attachments
                .iter()
                .map(|a| format!("/tickets/{}/attachments/{}", m.ticket_id, a.id))
                .collect(),
        };
        ExportView {
            customer: CustomerView::new(&export.customer, fields, caller),
            notes: export.notes.iter().map(NoteView::from).collect(),
            history: export
                .history
                .iter()
                .map(|entry| HistoryEntryView::new(entry, fields, caller))
                .collect(),
            tickets: export
                .tickets
                .iter()
                .map(|t| ExportTicketView {
                    ticket: TicketSummaryView::from(&t.ticket),
                    messages: t.messages.iter().map(message).collect(),
                })
                .collect(),
            inbound: export.inbound.iter().map(InboundRecordView::from).collect(),
            merges: export
                .merges
                .iter()
                .map(|m| ExportMergeView {
                    merge: MergeView::from(m),
                    target_before: CustomerView::new(&m.target_before, fields, caller),
                    merged_in: m
                        .sources
                        .iter()
                        .map(|s| CustomerView::new(s, fields, caller))
                        .collect(),
                })
                .collect(),
            exported_at: crate::domain::clock::now().to_string(),
        }
    }
}

#[utoipa::path(post, path = "/customers/{email}/erase", tag = "privacy",
    summary = "Erase everything held about a customer (admins); runs as a job",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    request_body = EraseInput,
    responses((status = 202, description = "The erasure, queued (or the one already under way)", body = ErasureView,
        headers(("Location" = String, description = "/erasures/{id}")))))]
pub(super) async fn erase_customer(
    State(privacy): State<PrivacyService>,
    caller: Caller,
    Id(email): Id<Email>,
    Input(input): Input<EraseInput>,
) -> ApiResult {
    let erasure = privacy.request_erasure(&caller, &email, input).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(ErasureView::from(&erasure)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/erasures/{}", erasure.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/erasures/{id}", tag = "privacy",
    summary = "An erasure's progress, and once done its tombstone (admins)",
    params(("id" = String, Path, description = "Erasure id")),
    responses((status = 200, description = "The erasure", body = ErasureView)))]
pub(super) async fn get_erasure(
    State(privacy): State<PrivacyService>,
    caller: Caller,
    Id(id): Id<JobId>,
) -> ApiResult {
    let erasure = privacy.get_erasure(&caller, &id).await?;
    Ok(axum::Json(ErasureView::from(&erasure)).into_response())
}

#[utoipa::path(get, path = "/customers/{email}/export", tag = "privacy",
    summary = "Everything held about a customer, as one JSON document",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The export", body = ExportView),
        (status = 303, description = "Over 5 MiB: a link to the export, valid 15 minutes", body = DownloadView)))]
pub(super) async fn export_customer(
    State(privacy): State<PrivacyService>,
    State(customers): State<CustomerService>,
    State(links): State<Links>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let export = privacy.export(&caller, &email).await?;
    let fields = customers.field_set().await?;
    let document = serde_json::to_vec(&ExportView::new(&export, &fields, &caller))
        .map_err(|e| HelpdeskError::Unavailable(format!("export: {e}")))?;
    let no_store = HeaderValue::from_static("no-store");
    if document.len() <= MAX_INLINE_EXPORT_BYTES {
        let mut response = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            document,
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, no_store);
        return Ok(response);
    }
    let download = privacy.keep_export(&export.customer.id, document).await?;
    Ok(super::tickets::see_other(download, &links))
}
