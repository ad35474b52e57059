//! Pages: `limit`, opaque cursors bound to their query, and list responses.

use super::*;

/// `limit` and `cursor` of a listing whose cursors belong to `scope`; other parameters are
/// refused.
pub(super) fn page_params(
    query: Option<String>,
    scope: &str,
) -> Result<(usize, Option<String>), HelpdeskError> {
    let params = query_params(query, &["limit", "cursor"])?;
    Ok((page_limit(&params)?, decode_cursor(&params, scope)?))
}

pub(super) fn page_limit(params: &Params) -> Result<usize, HelpdeskError> {
    match params.get("limit") {
        None => Ok(DEFAULT_PAGE),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(HelpdeskError::bad_request(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE}"),
            )),
        },
    }
}

/// Cursors are opaque to clients: the store position plus the query it belongs to, so a cursor
/// cannot be replayed against another query.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct Cursor {
    after: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scope: String,
}

pub(super) fn encode_cursor(after: Option<String>, scope: &str) -> Option<String> {
    use base64::Engine;
    let after = after?;
    let json = serde_json::to_vec(&Cursor {
        after,
        scope: scope.to_string(),
    })
    .ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

pub(super) fn decode_cursor(params: &Params, scope: &str) -> Result<Option<String>, HelpdeskError> {
    use base64::Engine;
    let Some(raw) = params.get("cursor") else {
        return Ok(None);
    };
    let invalid =
        || HelpdeskError::bad_request("cursor", "is not a cursor returned by this listing");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim())
        .map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.scope != scope {
        return Err(invalid());
    }
    Ok(Some(cursor.after))
}

/// One page of a listing: its items (views) and the cursor of the next page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageView<T> {
    pub items: Vec<T>,
    /// Opaque; pass as `?cursor=` for the next page.
    pub next_cursor: Option<String>,
}

/// A listing's page as views of its records, with a cursor bound to `scope`.
pub(super) fn list_response<'a, R, V: Serialize>(
    page: &'a Page<R>,
    view: impl Fn(&'a R) -> V,
    scope: &str,
) -> Response {
    axum::Json(PageView {
        items: page.items.iter().map(view).collect(),
        next_cursor: encode_cursor(page.next.clone(), scope),
    })
    .into_response()
}

pub(super) fn with_etag(status: StatusCode, version: u64, body: impl Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
