//! `/tickets`: tickets, status changes and attachment downloads.

use super::*;
use crate::domain::delivery::Delivery;
use crate::domain::reply::ReplyInput;
use crate::domain::ticket::{
    Attachment, Download, Mailbox, MessageKind, ThreadReason, Ticket, TicketMessage, TicketPatch,
    TicketStatus, TicketView,
};

#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets",
    summary = "A ticket with its messages in arrival order",
    params(("id" = String, Path, description = "Ticket id (the [#ID] subject token)"),
        ("cursor" = Option<String>, Query, description = "From messages_next_cursor, for long threads")),
    responses((status = 200, description = "The ticket and its messages", body = TicketThreadView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn get_ticket(
    State(tickets): State<TicketService>,
    caller: Caller,
    Id(id): Id<TicketId>,
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
    Id(id): Id<TicketId>,
    headers: HeaderMap,
    Input(patch): Input<TicketPatch>,
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
    Id(id): Id<TicketId>,
    Input(input): Input<ReplyInput>,
) -> ApiResult {
    let message = replies.post_message(&caller, &id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(MessageView::from(&message))).into_response())
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
    let ticket = TicketId::parse_name(&ticket)
        .ok_or_else(|| HelpdeskError::NotFound(format!("ticket {}", ticket.trim())))?;
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

// ---------------------------------------------------------------------------------------------
// Views and request bodies: what clients see, built field by field from the records, and what
// they send.

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Ticket)]
pub struct TicketSummaryView<'a> {
    /// Short and upper-case: the `[#ID]` subject token.
    pub id: &'a str,
    pub subject: &'a str,
    pub customer_id: &'a str,
    pub customer_email: &'a str,
    pub company_id: &'a Option<String>,
    pub status: TicketStatus,
    pub message_count: u64,
    pub last_message_at: &'a str,
    /// The closed ticket this one continues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<&'a str>,
    pub tags: &'a [String],
    /// Customers (by id) who see the ticket as theirs in the portal besides its customer, and
    /// whose mail joins it: those an agent copied, colleagues who answered it in the portal,
    /// customers a verified mail was copied to.
    pub cc_customers: &'a [String],
    /// The ticket's id in the system it was imported from (`external_id` of a ticket import).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> From<&'a Ticket> for TicketSummaryView<'a> {
    fn from(ticket: &'a Ticket) -> Self {
        TicketSummaryView {
            id: &ticket.id,
            subject: &ticket.subject,
            customer_id: &ticket.customer_id,
            customer_email: &ticket.customer_email,
            company_id: &ticket.company_id,
            status: ticket.status,
            message_count: ticket.message_count,
            last_message_at: &ticket.last_message_at,
            follow_up_of: ticket.follow_up_of.as_deref(),
            tags: &ticket.tags,
            cc_customers: &ticket.cc_customers,
            external_id: ticket.imported.as_ref().map(|i| i.external_id.as_str()),
            created_at: &ticket.created_at,
            updated_at: &ticket.updated_at,
            version: ticket.version,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TicketMessage)]
pub struct MessageView<'a> {
    pub id: &'a str,
    pub ticket_id: &'a str,
    /// The RFC 5322 Message-ID, without angle brackets.
    pub message_id: &'a str,
    pub from: &'a Mailbox,
    pub reply_to: &'a [Mailbox],
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    /// The sender's `Date` header (RFC 3339), when it had a valid one.
    pub date: &'a Option<String>,
    pub received_at: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// Sanitised HTML.
    pub html: &'a Option<String>,
    /// The new text, quoted history removed.
    pub reply_text: &'a str,
    /// Where large bodies are kept (they are read back into `text` and `html`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_key: Option<&'a str>,
    pub attachments: &'a [Attachment],
    pub thread_reason: ThreadReason,
    pub unauthenticated: bool,
    /// Mail from the customer, or an agent's reply or internal note.
    pub kind: MessageKind,
    /// The agent who wrote a reply or note.
    pub author: &'a Option<String>,
    /// A reply's way to the customer: `queued`, then `sent` or `failed`.
    pub delivery: &'a Option<Delivery>,
    /// The Message-ID a reply answers.
    pub in_reply_to: &'a Option<String>,
    /// The thread's Message-IDs a reply names.
    pub references: &'a [String],
}

impl<'a> From<&'a TicketMessage> for MessageView<'a> {
    fn from(message: &'a TicketMessage) -> Self {
        MessageView {
            id: &message.id,
            ticket_id: &message.ticket_id,
            message_id: &message.message_id,
            from: &message.from,
            reply_to: &message.reply_to,
            to: &message.to,
            cc: &message.cc,
            date: &message.date,
            received_at: &message.received_at,
            subject: &message.subject,
            text: &message.body.text,
            html: &message.body.html,
            reply_text: &message.body.reply_text,
            body_key: message.body_key.as_deref(),
            attachments: &message.attachments,
            thread_reason: message.thread_reason,
            unauthenticated: message.unauthenticated,
            kind: message.kind,
            author: &message.author,
            delivery: &message.delivery,
            in_reply_to: &message.in_reply_to,
            references: &message.references,
        }
    }
}

/// `GET /tickets/{id}`: the ticket with its messages in arrival order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TicketView)]
pub struct TicketThreadView<'a> {
    #[serde(flatten)]
    pub ticket: TicketSummaryView<'a>,
    pub messages: Vec<MessageView<'a>>,
    /// Where the next messages start when the thread is longer than one read.
    pub messages_next_cursor: Option<String>,
}

impl<'a> TicketThreadView<'a> {
    pub fn new(view: &'a TicketView, messages_next_cursor: Option<String>) -> Self {
        TicketThreadView {
            ticket: TicketSummaryView::from(&view.ticket),
            messages: view.messages.iter().map(MessageView::from).collect(),
            messages_next_cursor,
        }
    }
}

/// An attachment download: a short-lived URL and what it will deliver.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Download)]
pub struct DownloadView<'a> {
    pub url: &'a str,
    /// Seconds the URL stays valid.
    pub expires_in: u64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: u64,
}

impl<'a> From<&'a Download> for DownloadView<'a> {
    fn from(download: &'a Download) -> Self {
        DownloadView {
            url: &download.url,
            expires_in: download.expires_in,
            filename: &download.filename,
            content_type: &download.content_type,
            size: download.size,
        }
    }
}
