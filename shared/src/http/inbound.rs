//! `/inbound`: what happened to received mail.

#[allow(unused_imports)]
use super::*;

pub(super) async fn list_inbound(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["limit", "cursor", "status"])?;
    let limit = page_limit(&params)?;
    let status = params.get("status").map(String::as_str);
    let scope = format!("inbound:{}", status.unwrap_or_default());
    let after = decode_cursor(&params, &scope)?;
    let page = s
        .helpdesk
        .list_inbound(&caller, status, after.as_deref(), limit)
        .await?;
    Ok(list_response(page, &scope))
}

pub(super) async fn get_inbound(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
) -> ApiResult {
    let record = s.helpdesk.get_inbound(&caller, &id).await?;
    Ok(axum::Json(json!(record)).into_response())
}
