//! `/tickets`: tickets, status changes and attachment downloads.

#[allow(unused_imports)]
use super::*;

pub(super) async fn get_ticket(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["cursor"])?;
    let scope = "messages";
    let after = decode_cursor(&params, scope)?;
    let view = s
        .helpdesk
        .get_ticket(&caller, &id, after.as_deref(), s.mail.as_ref())
        .await?;
    let version = view.ticket.version;
    let next_cursor = encode_cursor(view.messages_next.clone(), scope);
    let mut body = json!(view);
    if let Some(object) = body.as_object_mut() {
        object.remove("messages_next");
        object.insert("messages_next_cursor".into(), json!(next_cursor));
    }
    Ok(with_etag(StatusCode::OK, version, body))
}

pub(super) async fn update_ticket(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let ticket = s
        .helpdesk
        .update_ticket(&caller, &id, patch, precondition(&headers)?)
        .await?;
    Ok(with_etag(StatusCode::OK, ticket.version, json!(ticket)))
}

/// Answers the download's details with a short-lived URL, and redirects there (`303`), so a
/// browser link downloads at once and an API client can read the URL from the body.
pub(super) async fn download_attachment(
    State(s): State<AppState>,
    caller: Caller,
    Params2(ticket, attachment): Params2,
    headers: HeaderMap,
) -> ApiResult {
    let mut download = s
        .helpdesk
        .attachment_download(&caller, &ticket, &attachment, s.mail.as_ref())
        .await?;
    if download.url.starts_with('/') {
        // Local folders answer a path on this server.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        download.url = format!("http://{host}{}", download.url);
    }
    let mut response = (StatusCode::SEE_OTHER, axum::Json(json!(download))).into_response();
    if let Ok(location) = HeaderValue::from_str(&download.url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
