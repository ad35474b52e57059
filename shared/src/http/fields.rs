//! `/fields`: custom field definitions.

use super::*;
use crate::domain::field::FieldInput;
use crate::http::bodies::MergePatch;
use crate::http::views::{FieldListView, FieldView};

#[utoipa::path(get, path = "/fields", tag = "fields", summary = "Custom field definitions",
    responses((status = 200, description = "Every definition, by key", body = FieldListView)))]
pub(super) async fn list_fields(State(fields): State<FieldService>, caller: Caller) -> ApiResult {
    let fields = fields.list_fields(&caller).await?;
    Ok(axum::Json(FieldListView {
        items: fields.iter().map(FieldView::from).collect(),
        next_cursor: None,
    })
    .into_response())
}

#[utoipa::path(post, path = "/fields", tag = "fields", summary = "Define a custom field (admins)",
    request_body = FieldInput,
    responses((status = 201, description = "The definition", body = FieldView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn create_field(
    State(fields): State<FieldService>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let field = fields.create_field(&caller, body).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        field.version,
        FieldView::from(&field),
    ))
}

#[utoipa::path(get, path = "/fields/{key}", tag = "fields", summary = "A custom field definition",
    params(("key" = String, Path, description = "Field key")),
    responses((status = 200, description = "The definition", body = FieldView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn get_field(
    State(fields): State<FieldService>,
    caller: Caller,
    Param(key): Param,
) -> ApiResult {
    let field = fields.get_field(&caller, &key).await?;
    Ok(with_etag(
        StatusCode::OK,
        field.version,
        FieldView::from(&field),
    ))
}

#[utoipa::path(patch, path = "/fields/{key}", tag = "fields",
    summary = "Change a custom field definition (admins; key and type stay)",
    params(("key" = String, Path, description = "Field key"),
        ("If-Match" = String, Header, description = "The ETag of the version this change is based on")),
    request_body(content = MergePatch, description = "JSON Merge Patch (RFC 7396) of the definition"),
    responses((status = 200, description = "The definition", body = FieldView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn update_field(
    State(fields): State<FieldService>,
    caller: Caller,
    Param(key): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let field = fields
        .update_field(&caller, &key, precondition(&headers)?, patch)
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        field.version,
        FieldView::from(&field),
    ))
}
