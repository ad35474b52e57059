//! Request bodies that the handlers read as JSON values (the services parse them), described
//! here for the OpenAPI document.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A JSON Merge Patch (RFC 7396): any object; `null` removes a field.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct MergePatch(pub Value);

/// `POST /customers/batch`: either `customers` (each created or updated by email) or `emails`
/// (a comma-, semicolon- or newline-separated list of addresses).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    #[schema(max_items = 100, value_type = Option<Vec<Object>>)]
    pub customers: Option<Vec<Value>>,
    pub emails: Option<String>,
}
