//! `/inbound`: what happened to received mail.

use super::*;
use crate::domain::inbound::InboundStatus;
use crate::http::views::InboundRecordView;

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
