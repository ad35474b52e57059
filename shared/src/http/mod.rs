//! The HTTP API as one axum router. Lambda runs it through `lambda_http`; `helpdesk serve`
//! serves the very same router on a socket.

mod addresses;
mod avatars;
mod changes;
mod companies;
mod customers;
mod export;
mod exports;
mod extract;
mod fields;
mod history;
mod imports;
mod inbound;
mod merges;
mod migrations;
mod pagination;
mod portal;
mod portal_html;
mod portal_pages;
mod portal_views;
mod privacy;
mod problem;
mod tickets;
mod webhooks;

pub mod auth;
pub mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::caller::Caller;
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::ids::{CompanyId, JobId, MergeId, Named, TicketId};
use crate::domain::patch::etag;
use crate::domain::patch::{Command, Precondition};
use crate::domain::validation::FieldError;
use crate::http::auth::Authenticator;
use crate::ports::store::CustomerQuery;
use crate::ports::store::Page;
use crate::services::companies::CompanyService;
use crate::services::customers::AddressService;
use crate::services::customers::CustomerService;
use crate::services::fields::FieldService;
use crate::services::imports::ImportService;
use crate::services::inbound_records::InboundRecordService;
use crate::services::merges::MergeService;
use crate::services::migrations::MigrationService;
use crate::services::privacy::PrivacyService;
use crate::services::replies::ReplyService;
use crate::services::tickets::TicketService;
use addresses::*;
pub use avatars::AvatarImageView;
use avatars::*;
pub use changes::event_json;
use changes::*;
use companies::*;
use customers::*;
use export::*;
use exports::*;
use extract::*;
pub use extract::{Id, Input, Param};
use fields::*;
use history::*;
pub use imports::ImportJobView;
use imports::*;
use inbound::*;
use merges::*;
use migrations::*;
pub use pagination::PageView;
use pagination::*;
pub use portal::ClientAddress;
use portal::*;
use portal_pages::*;
use privacy::*;
pub use problem::ApiError;
use problem::*;
use tickets::*;
pub use webhooks::{create_webhook, delete_webhook, get_webhook, list_webhooks, replay_webhook};

/// Request bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const DEFAULT_PAGE: usize = 50;

pub const MAX_PAGE: usize = 200;

/// What the routes share: every service the API calls, the authenticator and how links are
/// made. Each handler extracts only the service it calls (`State<CustomerService>`, …) through
/// the `FromRef` impls below, so a handler reaches no port it does not use. Built by
/// `app::api_state`.
#[derive(Clone)]
pub struct AppState {
    pub customers: CustomerService,
    pub addresses: AddressService,
    pub avatars: crate::services::avatars::AvatarService,
    pub companies: CompanyService,
    pub fields: FieldService,
    pub imports: ImportService,
    pub tickets: TicketService,
    pub inbound: InboundRecordService,
    pub privacy: PrivacyService,
    pub exports: crate::services::exports::ExportService,
    pub merges: MergeService,
    pub migrations: MigrationService,
    pub replies: ReplyService,
    pub portal: crate::services::portal::PortalService,
    pub changes: crate::services::changes::ChangeFeed,
    /// Local mode's webhooks (`None` in the cloud, which uses EventBridge).
    pub webhooks: Option<crate::services::webhooks::WebhookService>,
    pub auth: Arc<dyn Authenticator>,
    pub links: Links,
}

/// Where `helpdesk serve` listens unless told otherwise.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:3000";

/// Local mode's base URL for links to this server (upload and download routes). Never taken
/// from a request's `Host` header, which the client chooses. `None` in the cloud, whose links
/// are presigned S3 URLs.
#[derive(Clone, Default)]
pub struct Links {
    pub public_url: Option<Arc<str>>,
}

impl Links {
    /// An absolute URL for `path` on this server, from the configured public base URL.
    pub(super) fn local_url(&self, path: &str) -> String {
        let base = self.public_url.as_deref().unwrap_or(DEFAULT_PUBLIC_URL);
        format!("{}{path}", base.trim_end_matches('/'))
    }
}

macro_rules! substate {
    ($($service:ty => $field:ident),+ $(,)?) => {$(
        impl FromRef<AppState> for $service {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        }
    )+};
}

substate! {
    CustomerService => customers,
    AddressService => addresses,
    crate::services::avatars::AvatarService => avatars,
    CompanyService => companies,
    FieldService => fields,
    ImportService => imports,
    TicketService => tickets,
    InboundRecordService => inbound,
    PrivacyService => privacy,
    crate::services::exports::ExportService => exports,
    MergeService => merges,
    MigrationService => migrations,
    ReplyService => replies,
    crate::services::portal::PortalService => portal,
    crate::services::changes::ChangeFeed => changes,
    Option<crate::services::webhooks::WebhookService> => webhooks,
}

impl FromRef<AppState> for Links {
    fn from_ref(state: &AppState) -> Self {
        state.links.clone()
    }
}

/// The API's router over `state`, with the request log around every route.
pub fn router(state: AppState) -> Router {
    with_request_log(routes()).with_state(state)
}

/// Declares routes once, for both the router and the list the OpenAPI description is checked
/// against: `const NAME` lists `(method, path)`, `fn name()` builds them.
#[macro_export]
macro_rules! route_table {
    ($table:ident, $build:ident; $($path:literal => { $($method:ident: $handler:path),+ $(,)? }),+ $(,)?) => {
        /// Every route here as `(method, path)`; `openapi.json` describes exactly these.
        pub const $table: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),+];

        fn $build() -> axum::Router<$crate::http::AppState> {
            axum::Router::new()
                $(.route($path, $crate::route_table!(@methods $($method: $handler),+)))+
        }
    };
    (@methods $first:ident: $first_handler:path $(, $method:ident: $handler:path)*) => {
        axum::routing::$first($first_handler)$(.$method($handler))*
    };
}

route_table! { ROUTES, table_routes;

    "/health" => { get: health },
    "/openapi.json" => { get: openapi },
    "/customers" => { post: create_customer, get: list_customers },
    "/customers/batch" => { post: batch_customers },
    "/customers/{email}" => { get: get_customer, patch: update_customer, delete: delete_customer },
    "/customers/{email}/avatar" => { put: set_avatar, delete: remove_avatar },
    "/customers/{email}/avatar/upload" => { post: avatar_upload_url },
    "/customers/{email}/avatar/uploads/{id}" => { get: avatar_upload_status },
    "/avatars/{customer}/{hash}/{file}" => { get: serve_avatar },
    "/customers/{email}/notes" => { post: add_note, get: list_notes },
    "/customers/{email}/history" => { get: customer_history },
    "/customers/{email}/erase" => { post: erase_customer },
    "/customers/{email}/export" => { get: export_customer },
    "/exports" => { post: start_export },
    "/exports/{id}" => { get: get_export },
    "/erasures/{id}" => { get: get_erasure },
    "/customers/{email}/merge" => { post: merge_customers },
    "/merges/{id}" => { get: get_merge },
    "/merges/{id}/undo" => { post: undo_merge },
    "/customers/{email}/block" => { post: block_customer, delete: unblock_customer },
    "/customers/{email}/undeliverable" => { delete: clear_undeliverable },
    "/addresses/{email}" => { get: get_address },
    "/addresses/{email}/marks/{mark}" => { delete: lift_address_mark },
    "/customers/{email}/tickets" => { get: list_customer_tickets },
    "/companies" => { post: create_company, get: list_companies },
    "/companies/{id}" => { get: get_company, patch: update_company, delete: delete_company },
    "/companies/{id}/domains" => { post: add_company_domain },
    "/companies/{id}/history" => { get: company_history },
    "/fields" => { get: list_fields, post: create_field },
    "/fields/{key}" => { get: get_field, patch: update_field },
    "/imports" => { post: create_import },
    "/imports/template.csv" => { get: import_template },
    "/imports/{id}" => { get: get_import },
    "/tickets/{id}" => { get: get_ticket, patch: update_ticket },
    "/tickets/{id}/messages" => { post: post_message },
    "/tickets/{id}/history" => { get: ticket_history },
    "/tickets/{id}/attachments/{attachment}" => { get: download_attachment },
    "/inbound" => { get: list_inbound },
    "/inbound/{id}" => { get: get_inbound },
    "/migrations/{name}" => { get: get_migration, post: start_migration },
    "/changes" => { get: list_changes },
    "/customers/{email}/portal-sessions" => { delete: revoke_portal_sessions },
    "/portal/sign-in" => { post: portal_sign_in },
    "/portal/sessions" => { post: open_portal_session },
    "/portal/sessions/current" => { delete: close_portal_session },
    "/portal/me" => { get: portal_me, patch: update_portal_me },
    "/portal/me/avatar" => { put: set_portal_avatar, delete: remove_portal_avatar },
    "/portal/tickets" => { get: list_portal_tickets, post: open_portal_ticket },
    "/portal/tickets/{id}" => { get: get_portal_ticket },
    "/portal/tickets/{id}/messages" => { post: reply_portal_ticket },
    "/portal/tickets/{id}/solve" => { post: solve_portal_ticket },
    "/portal/tickets/{id}/attachments/{attachment}" => { get: download_portal_attachment },
}

// The portal's web pages and forms (HTML, not part of the API's description).
route_table! { PORTAL_PAGES, portal_page_routes;
    "/portal" => { get: portal_home },
    "/portal/code" => { get: portal_code_page },
    "/portal/link" => { get: portal_link_page },
    "/portal/new" => { get: portal_new_page, post: portal_new_form },
    "/portal/t/{id}" => { get: portal_ticket_page },
    "/portal/t/{id}/reply" => { post: portal_reply_form },
    "/portal/t/{id}/solve" => { post: portal_solve_form },
    "/portal/form/sign-in" => { post: portal_sign_in_form },
    "/portal/form/code" => { post: portal_code_form },
    "/portal/form/link" => { post: portal_link_form },
    "/portal/form/sign-out" => { post: portal_sign_out_form },
    "/portal/profile" => { get: portal_profile_page },
    "/portal/form/avatar" => { post: portal_avatar_form },
    "/portal/form/avatar/remove" => { post: portal_avatar_remove_form },
    "/portal/static/portal.css" => { get: portal_stylesheet },
    "/portal/static/icon.svg" => { get: portal_icon },
}

/// The routes, before their state: local mode adds its own (uploads, downloads) to these.
pub fn routes() -> Router<AppState> {
    table_routes()
        .merge(portal_page_routes())
        // Multipart forms (portal files) read up to this; JSON bodies keep their own limits.
        .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The OpenAPI 3.1 description of every route (local-only ones marked `x-local-only`).
#[utoipa::path(get, path = "/openapi.json", tag = "meta", summary = "This description",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub(super) async fn openapi() -> Response {
    let mut response = openapi::openapi_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Adds the request log to a finished router (every route, including ones added later).
pub fn with_request_log(routes: Router<AppState>) -> Router<AppState> {
    routes.layer(axum::middleware::from_fn(log_request))
}

/// Who made a request, for its log lines: filled by the [`Caller`] extractor.
#[derive(Clone, Default)]
pub(super) struct AuditCaller(Arc<std::sync::OnceLock<String>>);

impl AuditCaller {
    pub(super) fn record(&self, subject: &str) {
        let _ = self.0.set(subject.to_string());
        tracing::Span::current().record("caller", subject);
    }
}

/// One log line per request: method, route template (never the raw path, which may hold an
/// email), status, duration, the request id (API Gateway's, or `x-request-id`) and the caller
/// (the JWT's `sub` or the local key's id, never a credential). Every line logged while the
/// request is handled carries the request id and the caller too.
pub(super) async fn log_request(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let request_id = match request
        .extensions()
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.request_id.clone()
        }
        _ => None,
    }
    .or_else(|| {
        request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string)
    })
    // Locally nothing in front gives one: every request still gets an id to find its lines by.
    .unwrap_or_else(crate::domain::clock::new_id);
    let audit = AuditCaller::default();
    request.extensions_mut().insert(audit.clone());
    let span = tracing::info_span!("request", %request_id, caller = tracing::field::Empty);
    let mut response = next.run(request).instrument(span.clone()).await;
    if audit.0.get().is_none() {
        span.record("caller", "anonymous");
    }
    let _entered = span.enter();
    let status = response.status().as_u16();
    let millis = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    // The request id and the caller are the span's fields, on this line as on every other.
    if status >= 500 {
        tracing::error!(%method, %route, status, millis, "answered");
    } else {
        tracing::info!(%method, %route, status, millis, "answered");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Handlers: each one parses, calls one service operation, and shapes the answer.
pub(super) type ApiResult = Result<Response, ApiError>;

/// `{"status": "ok"}` while the function (or server) runs.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    pub(super) status: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "meta", summary = "Liveness",
    responses((status = 200, description = "Alive", body = Health)))]
pub(super) async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}
