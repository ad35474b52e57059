//! The portal's web pages: `GET /portal` and its screens, and the forms they post. Each form
//! does what the portal's API does, then redirects (303) to the page that shows the result;
//! an error shows the page again with what went wrong.

use axum::extract::{Form, Multipart};
use maud::Markup;

use super::portal::{
    PortalConversationView, PortalMeView, PortalTicketView, check_origin, client_address, cookie,
    session_cookie,
};
use super::portal_html as pages;
use super::*;
use crate::services::portal::{
    MAX_PORTAL_ATTACHMENT_BYTES, NewAttachment, PortalCaller, PortalReply, PortalService,
    PortalTicketInput, SessionInput, SignInInput, TicketScope,
};

/// What every portal page is sent with: nothing but this site's stylesheet and icon may load,
/// nothing may frame it, and the sign-in link's token never leaves this site in a `Referer`
/// (`same-origin`: `no-referrer` would also make browsers send `Origin: null` on the forms,
/// which the cross-site check then refuses).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, axum::response::Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn see(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A page of the portal for `caller` (or for someone signed out).
struct Screen<'a> {
    portal: &'a PortalService,
    signed_in: bool,
}

impl<'a> Screen<'a> {
    /// The pages before signing in (no sign-out button).
    fn signed_out(portal: &'a PortalService) -> Self {
        Screen {
            portal,
            signed_in: false,
        }
    }

    /// The pages of a signed-in customer.
    fn signed_in(portal: &'a PortalService) -> Self {
        Screen {
            portal,
            signed_in: true,
        }
    }

    fn show(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        let brand = self.portal.brand();
        page(status, pages::layout(&brand, title, self.signed_in, body))
    }
}

/// What went wrong, as a person reads it.
fn said(error: &HelpdeskError) -> String {
    let fields = error.field_errors();
    match (error, fields.first()) {
        (HelpdeskError::Unauthorized, _) => {
            "That code is wrong or has expired. Check it, or ask for a new one.".into()
        }
        (HelpdeskError::RateLimited { .. }, _) => {
            "Too many attempts. Please wait a while and try again.".into()
        }
        (_, Some(field)) => format!("{}: {}", field.field, field.message),
        _ => "Something went wrong. Please try again.".into(),
    }
}

fn status_of(error: &HelpdeskError) -> StatusCode {
    super::problem::status_of(error)
}

/// The signed-in customer of a page request, if its session cookie holds.
async fn signed_in(portal: &PortalService, headers: &HeaderMap) -> Option<PortalCaller> {
    let token = session_cookie(headers)?;
    portal.caller(&token).await.ok()
}

// ---------------------------------------------------------------------------------------------
// Pages.

pub(super) async fn portal_home(
    State(portal): State<PortalService>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    portal.require_enabled()?;
    let Some(caller) = signed_in(&portal, &headers).await else {
        let screen = Screen::signed_out(&portal);
        return Ok(screen.show(StatusCode::OK, "Sign in", pages::sign_in(None)));
    };
    let params = query_params(query, &["scope", "cursor"])?;
    let company = params.get("scope").is_some_and(|s| s == "company");
    let scope = if company {
        TicketScope::Company
    } else {
        TicketScope::Own
    };
    let cursor = params.get("cursor").map(String::as_str);
    let screen = Screen::signed_in(&portal);
    let me = PortalMeView::new(&caller.customer);
    match portal.list_tickets(&caller, scope, None, cursor, 25).await {
        Ok(page) => {
            let items: Vec<PortalTicketView> =
                page.items.iter().map(PortalTicketView::from).collect();
            let body = pages::tickets(&me, company, &items, page.next.as_deref());
            Ok(screen.show(StatusCode::OK, "Your tickets", body))
        }
        Err(error) => Ok(screen.show(status_of(&error), "Your tickets", pages::not_found())),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EmailForm {
    email: String,
}

pub(super) async fn portal_sign_in_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
    Form(form): Form<EmailForm>,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let screen = Screen::signed_out(&portal);
    let input = SignInInput {
        email: form.email.clone(),
    };
    match portal.request_sign_in(input, &client_address(&parts)).await {
        Ok(()) => {
            let email: String =
                url::form_urlencoded::byte_serialize(form.email.trim().as_bytes()).collect();
            Ok(see(&format!("/portal/code?email={email}")))
        }
        Err(error) => Ok(screen.show(
            status_of(&error),
            "Sign in",
            pages::sign_in(Some(&said(&error))),
        )),
    }
}

pub(super) async fn portal_code_page(
    State(portal): State<PortalService>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    portal.require_enabled()?;
    let params = query_params(query, &["email"])?;
    let email = params.get("email").cloned().unwrap_or_default();
    let screen = Screen::signed_out(&portal);
    Ok(screen.show(StatusCode::OK, "Enter your code", pages::code(&email, None)))
}

#[derive(Debug, Deserialize)]
pub(super) struct CodeForm {
    email: String,
    code: String,
}

/// Signs in, sets the session cookie and goes to the tickets; or shows `again` with why not.
async fn start(
    portal: &PortalService,
    links: &Links,
    input: SessionInput,
    again: impl FnOnce(&str) -> Markup,
) -> Response {
    match portal.open_session(input).await {
        Ok((_, token)) => {
            let mut response = see("/portal");
            response
                .headers_mut()
                .insert(header::SET_COOKIE, cookie(Some(&token), links));
            response
        }
        Err(error) => {
            let screen = Screen::signed_out(portal);
            screen.show(status_of(&error), "Sign in", again(&said(&error)))
        }
    }
}

pub(super) async fn portal_code_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
    Form(form): Form<CodeForm>,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let email = form.email.clone();
    let input = SessionInput {
        email: Some(form.email),
        code: Some(form.code),
        token: None,
        jwt: None,
    };
    Ok(start(&portal, &links, input, |why| pages::code(&email, Some(why))).await)
}

pub(super) async fn portal_link_page(
    State(portal): State<PortalService>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    portal.require_enabled()?;
    let params = query_params(query, &["token"])?;
    let token = params.get("token").cloned().unwrap_or_default();
    let screen = Screen::signed_out(&portal);
    Ok(screen.show(StatusCode::OK, "Sign in", pages::link(&token, None)))
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    token: String,
}

pub(super) async fn portal_link_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
    Form(form): Form<TokenForm>,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let input = SessionInput {
        token: Some(form.token),
        ..SessionInput::default()
    };
    Ok(start(&portal, &links, input, |why| pages::sign_in(Some(why))).await)
}

pub(super) async fn portal_sign_out_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    if let Some(caller) = signed_in(&portal, &parts.headers).await {
        portal.close_session_of(&caller).await?;
    }
    let mut response = see("/portal");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(None, &links));
    Ok(response)
}

/// The signed-in customer of a page, or the sign-in page to answer instead.
async fn require_caller(
    portal: &PortalService,
    headers: &HeaderMap,
) -> Result<PortalCaller, Response> {
    match signed_in(portal, headers).await {
        Some(caller) => Ok(caller),
        None => Err(see("/portal")),
    }
}

async fn conversation_page(
    portal: &PortalService,
    caller: &PortalCaller,
    id: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    let screen = Screen::signed_in(portal);
    match portal.ticket(caller, id).await {
        Ok(shown) => {
            let view = PortalConversationView::new(&shown, caller);
            let (status, why) = match &error {
                Some((status, why)) => (*status, Some(why.as_str())),
                None => (StatusCode::OK, None),
            };
            screen.show(
                status,
                &shown.ticket.ticket.subject,
                pages::conversation(&view, why),
            )
        }
        Err(_) => screen.show(StatusCode::NOT_FOUND, "Not found", pages::not_found()),
    }
}

pub(super) async fn portal_ticket_page(
    State(portal): State<PortalService>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    portal.require_enabled()?;
    let caller = match require_caller(&portal, &headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    Ok(conversation_page(&portal, &caller, &id, None).await)
}

/// A multipart form's text fields and files (`files`), within the portal's limits.
async fn read_form(
    mut form: Multipart,
) -> Result<(HashMap<String, String>, Vec<NewAttachment>), HelpdeskError> {
    let mut fields = HashMap::new();
    let mut files = Vec::new();
    let too_large = || {
        HelpdeskError::invalid(
            "files",
            format!("at most {} MiB together", MAX_PORTAL_ATTACHMENT_BYTES >> 20),
        )
    };
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|_| HelpdeskError::bad_request("body", "is not a readable form"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(filename) if name == "files" => {
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let bytes = field.bytes().await.map_err(|_| too_large())?;
                if !filename.is_empty() && !bytes.is_empty() {
                    files.push(NewAttachment {
                        filename,
                        content_type,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            _ => {
                let text = field
                    .text()
                    .await
                    .map_err(|_| HelpdeskError::bad_request(name.clone(), "is not text"))?;
                fields.insert(name, text);
            }
        }
    }
    Ok((fields, files))
}

type HashMap<K, V> = std::collections::HashMap<K, V>;

pub(super) async fn portal_reply_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
    Path(id): Path<String>,
    form: Multipart,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let caller = match require_caller(&portal, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let outcome = match read_form(form).await {
        Ok((mut fields, attachments)) => {
            let text = fields.remove("text").unwrap_or_default();
            portal
                .reply(&caller, &id, PortalReply { text, attachments })
                .await
                .map(|_| ())
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => Ok(see(&format!(
            "/portal/t/{}",
            id.trim().to_ascii_uppercase()
        ))),
        Err(error) => {
            let shown = Some((status_of(&error), said(&error)));
            Ok(conversation_page(&portal, &caller, &id, shown).await)
        }
    }
}

pub(super) async fn portal_solve_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
    Path(id): Path<String>,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let caller = match require_caller(&portal, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    match portal.solve(&caller, &id).await {
        Ok(shown) => Ok(see(&format!("/portal/t/{}", shown.ticket.id))),
        Err(error) => {
            let shown = Some((status_of(&error), said(&error)));
            Ok(conversation_page(&portal, &caller, &id, shown).await)
        }
    }
}

pub(super) async fn portal_new_page(
    State(portal): State<PortalService>,
    headers: HeaderMap,
) -> ApiResult {
    portal.require_enabled()?;
    if let Err(response) = require_caller(&portal, &headers).await {
        return Ok(response);
    }
    let screen = Screen::signed_in(&portal);
    Ok(screen.show(StatusCode::OK, "New ticket", pages::new_ticket(None)))
}

pub(super) async fn portal_new_form(
    State(portal): State<PortalService>,
    State(links): State<Links>,
    parts: Parts,
    form: Multipart,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let caller = match require_caller(&portal, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let outcome = match read_form(form).await {
        Ok((mut fields, attachments)) => {
            let input = PortalTicketInput {
                subject: fields.remove("subject").unwrap_or_default(),
                text: fields.remove("text").unwrap_or_default(),
                attachments,
            };
            portal.open_ticket(&caller, input).await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(shown) => Ok(see(&format!("/portal/t/{}", shown.ticket.id))),
        Err(error) => {
            let screen = Screen::signed_in(&portal);
            Ok(screen.show(
                status_of(&error),
                "New ticket",
                pages::new_ticket(Some(&said(&error))),
            ))
        }
    }
}

pub(super) async fn portal_stylesheet(State(portal): State<PortalService>) -> ApiResult {
    asset(&portal, "text/css; charset=utf-8", pages::STYLESHEET)
}

pub(super) async fn portal_icon(State(portal): State<PortalService>) -> ApiResult {
    asset(&portal, "image/svg+xml", pages::ICON)
}

fn asset(portal: &PortalService, content_type: &'static str, body: &'static str) -> ApiResult {
    portal.require_enabled()?;
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

pub(super) async fn portal_profile_page(
    State(portal): State<PortalService>,
    headers: HeaderMap,
) -> ApiResult {
    portal.require_enabled()?;
    let caller = match require_caller(&portal, &headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    Ok(profile_page(&portal, &caller.customer, None))
}

fn profile_page(
    portal: &PortalService,
    customer: &crate::domain::customer::Customer,
    error: Option<&HelpdeskError>,
) -> Response {
    let me = PortalMeView::new(customer);
    // The message alone: "body" means nothing to a person choosing a file.
    let said = error.map(|e| {
        e.field_errors()
            .first()
            .map(|f| f.message.clone())
            .unwrap_or_else(|| said(e))
    });
    let status = error.map(status_of).unwrap_or(StatusCode::OK);
    Screen::signed_in(portal).show(status, "Your profile", pages::profile(&me, said.as_deref()))
}

pub(super) async fn portal_avatar_form(
    State(portal): State<PortalService>,
    State(avatars): State<crate::services::avatars::AvatarService>,
    State(links): State<Links>,
    parts: Parts,
    mut form: Multipart,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let caller = match require_caller(&portal, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let mut picture = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("picture") {
            picture = field.bytes().await.ok();
        }
    }
    let outcome = match picture.filter(|bytes| !bytes.is_empty()) {
        Some(bytes) => avatars.set_own(&caller.customer, bytes.to_vec()).await,
        None => Err(HelpdeskError::invalid(
            "picture",
            "choose a picture to upload",
        )),
    };
    match outcome {
        Ok(_) => Ok(see("/portal/profile")),
        Err(error) => Ok(profile_page(&portal, &caller.customer, Some(&error))),
    }
}

pub(super) async fn portal_avatar_remove_form(
    State(portal): State<PortalService>,
    State(avatars): State<crate::services::avatars::AvatarService>,
    State(links): State<Links>,
    parts: Parts,
) -> ApiResult {
    portal.require_enabled()?;
    check_origin(&parts, &links)?;
    let caller = match require_caller(&portal, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    match avatars.remove_own(&caller.customer).await {
        Ok(_) => Ok(see("/portal/profile")),
        Err(error) => Ok(profile_page(&portal, &caller.customer, Some(&error))),
    }
}
