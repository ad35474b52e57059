//! `/fields`: custom field definitions.

#[allow(unused_imports)]
use super::*;

pub(super) async fn list_fields(State(s): State<AppState>, caller: Caller) -> ApiResult {
    let fields = s.helpdesk.list_fields(&caller).await?;
    Ok(axum::Json(json!({ "items": fields, "next_cursor": null })).into_response())
}

pub(super) async fn create_field(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let field = s.helpdesk.create_field(&caller, body).await?;
    Ok(with_etag(StatusCode::CREATED, field.version, json!(field)))
}

pub(super) async fn get_field(
    State(s): State<AppState>,
    caller: Caller,
    Param(key): Param,
) -> ApiResult {
    let field = s.helpdesk.get_field(&caller, &key).await?;
    Ok(with_etag(StatusCode::OK, field.version, json!(field)))
}

pub(super) async fn update_field(
    State(s): State<AppState>,
    caller: Caller,
    Param(key): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let field = s
        .helpdesk
        .update_field(&caller, &key, precondition(&headers)?, patch)
        .await?;
    Ok(with_etag(StatusCode::OK, field.version, json!(field)))
}
