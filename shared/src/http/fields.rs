//! `/fields`: custom field definitions.

use super::*;
use crate::domain::caller::Role;
use crate::domain::field::FieldInput;
use crate::domain::field::{FieldDefinition, FieldType};
use serde::Serialize;

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
    Input(input): Input<FieldInput>,
) -> ApiResult {
    let field = fields.create_field(&caller, input).await?;
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

// ---------------------------------------------------------------------------------------------
// Views and request bodies: what clients see, built field by field from the records, and what
// they send.

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
