//! The customer portal's API (`/portal/...`): signing in, the customer's profile, and their
//! tickets. It authenticates its own callers (a session cookie, or its token as a Bearer
//! token); an agent's credentials never open it, and its sessions never open an agent route.

pub(super) use super::portal_views::*;
use super::*;
use crate::domain::ticket::TicketStatus;
use crate::services::portal::{
    NewAttachment, PortalCaller, PortalReply, PortalService, PortalTicketInput, SessionInput,
    SignInInput, TicketScope,
};

/// The session cookie: `HttpOnly`, `SameSite=Strict`, for the portal's paths only.
pub(super) const SESSION_COOKIE: &str = "hd_portal";
/// Portal bodies may carry files (base64): up to what one API Gateway request holds.
const MAX_PORTAL_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The network address of the client, for per-client limits: API Gateway's `sourceIp`, or
/// the peer address `helpdesk serve` puts in the request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub std::net::IpAddr);

pub(super) fn client_address(parts: &Parts) -> String {
    if let Some(ClientAddress(ip)) = parts.extensions.get::<ClientAddress>() {
        return ip.to_string();
    }
    match parts
        .extensions
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context
            .http
            .source_ip
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        _ => "unknown".into(),
    }
}

/// A signed-in customer: from the session cookie (writes then need a same-origin `Origin`)
/// or a `Bearer hdp_…` token.
pub(super) struct Portal(pub(super) PortalCaller);

impl FromRequestParts<AppState> for Portal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.portal.require_enabled()?;
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with("hdp_"));
        let token = match bearer {
            Some(token) => token.to_string(),
            None => {
                let token = session_cookie(&parts.headers).ok_or(HelpdeskError::Unauthorized)?;
                check_origin(parts, &state.links)?;
                token
            }
        };
        let caller = state.portal.caller(&token).await?;
        if let Some(audit) = parts.extensions.get::<AuditCaller>() {
            audit.record(&format!("portal:{}", caller.principal.customer_id));
        }
        Ok(Portal(caller))
    }
}

/// The session token in the request's cookies, if any.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| v.starts_with("hdp_"))
}

/// The origin a browser sends from the portal's own pages: the configured public URL's, or in
/// the cloud `https://` and the host the request came to.
pub(super) fn own_origin(parts: &Parts, links: &Links) -> Option<String> {
    if let Some(public) = links.public_url.as_deref() {
        let url = url::Url::parse(public).ok()?;
        return Some(url.origin().ascii_serialization());
    }
    let host = parts.headers.get(header::HOST)?.to_str().ok()?;
    Some(format!("https://{host}"))
}

/// Cross-site request forgery: a write that a cookie authenticates must come from the
/// portal's own origin (besides `SameSite=Strict`).
pub(super) fn check_origin(parts: &Parts, links: &Links) -> Result<(), HelpdeskError> {
    if parts.method.is_safe() {
        return Ok(());
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    match (origin, own_origin(parts, links)) {
        (Some(origin), Some(own)) if origin == own => Ok(()),
        _ => Err(HelpdeskError::forbidden(
            Some("Origin"),
            "a write with the session cookie must come from the portal's own pages",
        )),
    }
}

/// The `Set-Cookie` of a session (an empty value and no age: signing out).
pub(super) fn cookie(token: Option<&str>, links: &Links) -> HeaderValue {
    let secure = links
        .public_url
        .as_deref()
        .is_none_or(|url| url.starts_with("https://") || url.starts_with("http://localhost"));
    let (value, age) = match token {
        Some(token) => (token, crate::domain::portal::SESSION_DAYS * 86_400),
        None => ("", 0),
    };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/portal; Max-Age={age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// A file in a portal request, base64-encoded.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub filename: String,
    #[serde(default)]
    pub content_type: Option<String>,
    /// The file's bytes, base64 (standard alphabet).
    pub content_base64: String,
}

/// `POST /portal/tickets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketInput {
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

/// `POST /portal/tickets/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalReplyInput {
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

/// `POST /portal/sessions`: a code with its address, a link's token, or a host application's
/// single sign-on JWT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSessionInput {
    pub email: Option<String>,
    pub code: Option<String>,
    pub token: Option<String>,
    /// An HS256 JWT from the host application (`email`, `iat` within 3 minutes, a `jti` used
    /// once), when the operator has configured single sign-on.
    pub jwt: Option<String>,
    /// Answer the session's token in the body too, for an API client.
    #[serde(default)]
    pub return_token: bool,
}

impl Command for NewTicketInput {}
impl Command for PortalReplyInput {}
impl Command for OpenSessionInput {}

fn decode(files: Vec<AttachmentInput>) -> Result<Vec<NewAttachment>, HelpdeskError> {
    use base64::Engine;
    let mut decoded = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(file.content_base64.trim())
            .map_err(|_| {
                HelpdeskError::invalid(format!("attachments[{i}].content_base64"), "is not base64")
            })?;
        decoded.push(NewAttachment {
            filename: file.filename,
            content_type: file
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        });
    }
    Ok(decoded)
}

/// A portal body: JSON of at most [`MAX_PORTAL_BODY_BYTES`], parsed.
pub(super) struct PortalInput<T>(pub(super) T);

impl<T: Command> axum::extract::FromRequest<AppState> for PortalInput<T> {
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.portal.require_enabled()?;
        let body = axum::body::to_bytes(request.into_body(), MAX_PORTAL_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        Ok(T::parse(parse_json(&body)?).map(PortalInput)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers.

#[utoipa::path(post, path = "/portal/sign-in", tag = "portal",
    summary = "Ask for a sign-in code by email (always 202, whether or not the address is known)",
    request_body = SignInInput,
    responses((status = 202, description = "If the address may sign in, a code is on its way")))]
pub(super) async fn portal_sign_in(
    State(portal): State<PortalService>,
    parts: Parts,
    PortalInput(input): PortalInput<SignInInput>,
) -> ApiResult {
    portal
        .request_sign_in(input, &client_address(&parts))
        .await?;
    let body = json!({"status": "accepted", "detail": "if this address may sign in, a code is on its way"});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[utoipa::path(post, path = "/portal/sessions", tag = "portal",
    summary = "Sign in with a code (and its address) or a link's token",
    request_body = OpenSessionInput,
    responses((status = 201, description = "Signed in: the session cookie is set", body = SessionView)))]
pub(super) async fn open_portal_session(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    PortalInput(input): PortalInput<OpenSessionInput>,
) -> ApiResult {
    let return_token = input.return_token;
    let (session, token) = portal
        .open_session(SessionInput {
            email: input.email,
            code: input.code,
            token: input.token,
            jwt: input.jwt,
        })
        .await?;
    let view = SessionView {
        expires_at: &session.expires_at,
        token: return_token.then_some(token.as_str()),
    };
    let mut response = (StatusCode::CREATED, axum::Json(view)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(Some(&token), &links));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(delete, path = "/portal/sessions/current", tag = "portal",
    summary = "Sign out: end this session",
    responses((status = 204, description = "Signed out")))]
pub(super) async fn close_portal_session(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    Portal(caller): Portal,
) -> ApiResult {
    portal.close_session_of(&caller).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(None, &links));
    Ok(response)
}

#[utoipa::path(get, path = "/portal/me", tag = "portal", summary = "The signed-in customer",
    responses((status = 200, description = "Their profile", body = PortalMeView)))]
pub(super) async fn portal_me(Portal(caller): Portal) -> ApiResult {
    Ok(axum::Json(PortalMeView::new(&caller.customer)).into_response())
}

#[utoipa::path(patch, path = "/portal/me", tag = "portal",
    summary = "Change one's names and phones (a JSON Merge Patch of those)",
    responses((status = 200, description = "Their profile", body = PortalMeView)))]
pub(super) async fn update_portal_me(
    State(portal): State<PortalService>,
    Portal(caller): Portal,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let customer = portal.update_me(&caller, patch).await?;
    Ok(axum::Json(PortalMeView::new(&customer)).into_response())
}

#[utoipa::path(get, path = "/portal/tickets", tag = "portal",
    summary = "The tickets the customer may see, newest activity first",
    params(("scope" = Option<String>, Query, description = "own (default) or company"),
        ("status" = Option<String>, Query, description = "open, pending, solved or closed"),
        ("cursor" = Option<String>, Query, description = "From a previous page"),
        ("limit" = Option<usize>, Query, description = "At most 100 (default 50)")),
    responses((status = 200, description = "A page", body = PortalTicketPageView)))]
pub(super) async fn list_portal_tickets(
    State(portal): State<PortalService>,
    Portal(caller): Portal,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["scope", "status", "cursor", "limit"])?;
    let scope = match params.get("scope").map(|s| s.trim()) {
        None | Some("own") => TicketScope::Own,
        Some("company") => TicketScope::Company,
        Some(_) => {
            return Err(HelpdeskError::bad_request("scope", "must be own or company").into());
        }
    };
    let status = params
        .get("status")
        .map(|s| {
            serde_json::from_value::<TicketStatus>(json!(s.trim())).map_err(|_| {
                HelpdeskError::bad_request("status", "must be open, pending, solved or closed")
            })
        })
        .transpose()?;
    let limit = match params.get("limit") {
        None => 50,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| HelpdeskError::bad_request("limit", "must be 1 to 100"))?,
    };
    let page = portal
        .list_tickets(
            &caller,
            scope,
            status,
            params.get("cursor").map(String::as_str),
            limit,
        )
        .await?;
    let view = PortalTicketPageView {
        items: page.items.iter().map(PortalTicketView::from).collect(),
        next_cursor: page.next.as_deref(),
    };
    Ok(axum::Json(view).into_response())
}

#[utoipa::path(post, path = "/portal/tickets", tag = "portal", summary = "Open a ticket",
    request_body = NewTicketInput,
    responses((status = 201, description = "The ticket", body = PortalTicketView)))]
pub(super) async fn open_portal_ticket(
    State(portal): State<PortalService>,
    Portal(caller): Portal,
    PortalInput(input): PortalInput<NewTicketInput>,
) -> ApiResult {
    let input = PortalTicketInput {
        subject: input.subject,
        text: input.text,
        attachments: decode(input.attachments)?,
    };
    let shown = portal.open_ticket(&caller, input).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(PortalTicketView::from(&shown)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/portal/tickets/{id}", tag = "portal",
    summary = "A ticket the customer may see, with its public messages",
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "The ticket", body = PortalConversationView)))]
pub(super) async fn get_portal_ticket(
    State(portal): State<PortalService>,
    Portal(caller): Portal,
    Id(id): Id<TicketId>,
) -> ApiResult {
    let shown = portal.ticket(&caller, &id).await?;
    Ok(axum::Json(PortalConversationView::new(&shown, &caller)).into_response())
}

#[utoipa::path(post, path = "/portal/tickets/{id}/messages", tag = "portal",
    summary = "Answer a ticket (it becomes support's turn)",
    params(("id" = String, Path, description = "Ticket id")),
    request_body = PortalReplyInput,
    responses((status = 201, description = "The message", body = PortalMessageView)))]
pub(super) async fn reply_portal_ticket(
    State(portal): State<PortalService>,
    Portal(caller): Portal,
    Id(id): Id<TicketId>,
    PortalInput(input): PortalInput<PortalReplyInput>,
) -> ApiResult {
    let reply = PortalReply {
        text: input.text,
        attachments: decode(input.attachments)?,
    };
    let message = portal.reply(&caller, &id, reply).await?;
    let view = PortalMessageView::new(&message, &caller);
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

#[utoipa::path(post, path = "/portal/tickets/{id}/solve", tag = "portal",
    summary = "Mark a ticket one asked solved",
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "The ticket", body = PortalTicketView)))]
pub(super) async fn solve_portal_ticket(
    State(portal): State<PortalService>,
    Portal(caller): Portal,
    Id(id): Id<TicketId>,
) -> ApiResult {
    let shown = portal.solve(&caller, &id).await?;
    Ok(axum::Json(PortalTicketView::from(&shown)).into_response())
}

#[utoipa::path(get, path = "/portal/tickets/{id}/attachments/{attachment}", tag = "portal",
    summary = "Download an attachment of a visible ticket",
    params(("id" = String, Path, description = "Ticket id"),
        ("attachment" = String, Path, description = "Attachment id")),
    responses((status = 303, description = "The download, at Location", body = DownloadView)))]
pub(super) async fn download_portal_attachment(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    Portal(caller): Portal,
    Params2(id, attachment): Params2,
) -> ApiResult {
    let download = portal.attachment(&caller, &id, &attachment).await?;
    Ok(super::tickets::see_other(download, &links))
}

#[utoipa::path(delete, path = "/customers/{email}/portal-sessions", tag = "portal",
    summary = "End every portal session of a customer (admins)",
    params(("email" = String, Path, description = "A primary or alternate email")),
    responses((status = 204, description = "Every session ended")))]
pub(super) async fn revoke_portal_sessions(
    State(portal): State<PortalService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    portal.revoke_sessions(&caller, &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
