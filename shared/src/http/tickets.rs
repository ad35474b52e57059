//! `/tickets`: tickets, status changes and attachment downloads.

use super::*;
use crate::domain::reply::ReplyInput;
use crate::domain::ticket::TicketPatch;
use crate::http::views::{
    DownloadView, HistoryEntryView, MessageView, TicketSummaryView, TicketThreadView,
};

#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets",
    summary = "A ticket with its messages in arrival order",
    params(("id" = String, Path, description = "Ticket id (the [#ID] subject token)"),
        ("cursor" = Option<String>, Query, description = "From messages_next_cursor, for long threads")),
    responses((status = 200, description = "The ticket and its messages", body = TicketThreadView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn get_ticket(
    State(tickets): State<TicketService>,
    caller: Caller,
    Param(id): Param,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["cursor"])?;
    let scope = "messages";
    let after = decode_cursor(&params, scope)?;
    let view = tickets.get_ticket(&caller, &id, after.as_deref()).await?;
    let version = view.ticket.version;
    let next_cursor = encode_cursor(view.messages_next.clone(), scope);
    Ok(with_etag(
        StatusCode::OK,
        version,
        TicketThreadView::new(&view, next_cursor),
    ))
}

#[utoipa::path(patch, path = "/tickets/{id}", tag = "tickets", summary = "Change a ticket's status",
    params(("id" = String, Path, description = "Ticket id (the [#ID] subject token)"),
        ("If-Match" = Option<String>, Header, description = "Change only at this version")),
    request_body = TicketPatch,
    responses((status = 200, description = "The ticket", body = TicketSummaryView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn update_ticket(
    State(tickets): State<TicketService>,
    caller: Caller,
    Param(id): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let ticket = tickets
        .update_ticket(&caller, &id, patch, precondition(&headers)?)
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        ticket.version,
        TicketSummaryView::from(&ticket),
    ))
}

#[utoipa::path(post, path = "/tickets/{id}/messages", tag = "tickets",
    summary = "Reply to the customer (queued, then sent by mail) or add an internal note",
    params(("id" = String, Path, description = "Ticket id (the [#ID] subject token)")),
    request_body = ReplyInput,
    responses((status = 201, description = "The message: a reply with delivery status queued, or a note", body = MessageView)))]
pub(super) async fn post_message(
    State(replies): State<ReplyService>,
    caller: Caller,
    Param(id): Param,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let message = replies.post_message(&caller, &id, body).await?;
    Ok((StatusCode::CREATED, axum::Json(MessageView::from(&message))).into_response())
}

#[utoipa::path(get, path = "/tickets/{id}/history", tag = "tickets",
    summary = "Changes of status, replies and notes: who and when, newest first, ending with the creation",
    params(("id" = String, Path, description = "Ticket id"), ("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of changes", body = PageView<HistoryEntryView>)))]
pub(super) async fn ticket_history(
    State(tickets): State<TicketService>,
    caller: Caller,
    Param(id): Param,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "ticket-history";
    let (limit, after) = page_params(query, scope)?;
    let page = tickets
        .ticket_history(&caller, &id, after.as_deref(), limit)
        .await?;
    let fields = crate::domain::field::FieldSet::default();
    let view = |entry| HistoryEntryView::new(entry, &fields, &caller);
    Ok(list_response(&page, view, scope))
}

/// Answers the download's details with a short-lived URL, and redirects there (`303`), so a
/// browser link downloads at once and an API client can read the URL from the body.
#[utoipa::path(get, path = "/tickets/{id}/attachments/{attachment}", tag = "tickets",
    summary = "Download an attachment: a redirect to a short-lived URL",
    params(("id" = String, Path, description = "Ticket id"),
        ("attachment" = String, Path, description = "Attachment id")),
    responses((status = 303, description = "The download, at Location", body = DownloadView,
        headers(("Location" = String, description = "The short-lived URL")))))]
pub(super) async fn download_attachment(
    State(tickets): State<TicketService>,
    State(links): State<Links>,
    caller: Caller,
    Params2(ticket, attachment): Params2,
) -> ApiResult {
    let download = tickets
        .attachment_download(&caller, &ticket, &attachment)
        .await?;
    Ok(see_other(download, &links))
}

/// A 303 to a short-lived download link, with the link's details in the body. Local folders
/// answer a path on this server, made absolute here.
pub(super) fn see_other(mut download: crate::domain::ticket::Download, links: &Links) -> Response {
    if download.url.starts_with('/') {
        download.url = links.local_url(&download.url);
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        axum::Json(DownloadView::from(&download)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&download.url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
