//! `/inbound`: what happened to received mail.

use super::*;
use crate::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use crate::domain::ticket::ThreadReason;
use serde::Serialize;

#[utoipa::path(get, path = "/inbound", tag = "inbound",
    summary = "Received mail and what became of it, newest first",
    params(("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page"),
        ("status" = Option<InboundStatus>, Query, description = "Only records of this status")),
    responses((status = 200, description = "A page of inbound records", body = PageView<InboundRecordView>)))]
pub(super) async fn list_inbound(
    State(inbound): State<InboundRecordService>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["limit", "cursor", "status"])?;
    let limit = page_limit(&params)?;
    let status = params.get("status").map(String::as_str);
    let scope = format!("inbound:{}", status.unwrap_or_default());
    let after = decode_cursor(&params, &scope)?;
    let page = inbound
        .list_inbound(&caller, status, after.as_deref(), limit)
        .await?;
    Ok(list_response(&page, InboundRecordView::from, &scope))
}

#[utoipa::path(get, path = "/inbound/{id}", tag = "inbound", summary = "One received message's record",
    params(("id" = String, Path, description = "SES message id (or eml-… locally)")),
    responses((status = 200, description = "The record", body = InboundRecordView)))]
pub(super) async fn get_inbound(
    State(inbound): State<InboundRecordService>,
    caller: Caller,
    Param(id): Param,
) -> ApiResult {
    let record = inbound.get_inbound(&caller, &id).await?;
    Ok(axum::Json(InboundRecordView::from(&record)).into_response())
}

// ---------------------------------------------------------------------------------------------
// Views and request bodies: what clients see, built field by field from the records, and what
// they send.

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
