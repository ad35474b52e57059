//! The HTTP API as one axum router. Lambda runs it through `lambda_http`; `helpdesk serve`
//! serves the very same router on a socket.

pub mod auth;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::caller::Caller;
use crate::domain::error::HelpdeskError;
use crate::domain::patch::Precondition;
use crate::domain::patch::etag;
use crate::domain::validation::FieldError;
use crate::http::auth::Authenticator;
use crate::ports::objects::ObjectStore;
use crate::ports::store::CustomerQuery;
use crate::ports::store::Page;
use crate::services::Helpdesk;
use views::{BatchItemView, CustomerView};

/// Request bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

#[derive(Clone)]
pub struct AppState {
    pub helpdesk: Helpdesk,
    pub auth: Arc<dyn Authenticator>,
    /// The import bucket (S3) or the data dir (local).
    pub objects: Arc<dyn ObjectStore>,
    /// The mail bucket (S3) or the data dir (local): attachments and large message bodies.
    pub mail: Arc<dyn ObjectStore>,
}

pub fn router(
    helpdesk: Helpdesk,
    auth: Arc<dyn Authenticator>,
    objects: Arc<dyn ObjectStore>,
    mail: Arc<dyn ObjectStore>,
) -> Router {
    routes().with_state(AppState {
        helpdesk,
        auth,
        objects,
        mail,
    })
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
    "/customers/{email}/notes" => { post: add_note, get: list_notes },
    "/customers/{email}/tickets" => { get: list_customer_tickets },
    "/companies" => { post: create_company, get: list_companies },
    "/companies/{id}" => { get: get_company, patch: update_company, delete: delete_company },
    "/companies/{id}/domains" => { post: add_company_domain },
    "/fields" => { get: list_fields, post: create_field },
    "/fields/{key}" => { get: get_field, patch: update_field },
    "/imports" => { post: create_import },
    "/imports/template.csv" => { get: import_template },
    "/imports/{id}" => { get: get_import },
    "/tickets/{id}" => { get: get_ticket, patch: update_ticket },
    "/tickets/{id}/attachments/{attachment}" => { get: download_attachment },
    "/inbound" => { get: list_inbound },
    "/inbound/{id}" => { get: get_inbound },
}

/// The routes, before their state: local mode adds its own (uploads, downloads) to these.
pub fn routes() -> Router<AppState> {
    table_routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The OpenAPI 3.1 description of every route (local-only ones marked `x-local-only`).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

async fn openapi() -> Response {
    let mut response = OPENAPI_JSON.into_response();
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

/// One log line per request: method, route template (never the raw path, which may hold an
/// email), status, duration and the request id (API Gateway's, or `x-request-id`).
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
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
            .map(str::to_string)
    })
    .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let millis = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    if status >= 500 {
        tracing::error!(%method, %route, status, millis, request_id, "request");
    } else {
        tracing::info!(%method, %route, status, millis, request_id, "request");
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Errors as RFC 9457 problem details.

#[derive(Debug, Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    errors: Vec<FieldError>,
}

impl IntoResponse for HelpdeskError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            HelpdeskError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Validation failed"),
            HelpdeskError::BadRequest { .. } => (StatusCode::BAD_REQUEST, "Malformed request"),
            HelpdeskError::Unauthorized => (StatusCode::UNAUTHORIZED, "Authentication required"),
            HelpdeskError::Forbidden { .. } => (StatusCode::FORBIDDEN, "Forbidden"),
            HelpdeskError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            HelpdeskError::Conflict { .. } => (StatusCode::CONFLICT, "Conflict"),
            HelpdeskError::PreconditionFailed => {
                (StatusCode::PRECONDITION_FAILED, "Precondition failed")
            }
            HelpdeskError::PreconditionRequired => {
                (StatusCode::PRECONDITION_REQUIRED, "Precondition required")
            }
            HelpdeskError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
            HelpdeskError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            }
        };
        let detail = match &self {
            HelpdeskError::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            HelpdeskError::BadRequest { detail, .. }
            | HelpdeskError::Forbidden { detail, .. }
            | HelpdeskError::Conflict { detail, .. } => detail.clone(),
            HelpdeskError::Unavailable(message) => {
                // The cause goes to the log, not to the client.
                tracing::error!(error = %message, "store unavailable");
                "the service could not complete the request; it is safe to retry".into()
            }
            other => other.to_string(),
        };
        problem(status, title, detail, self.field_errors())
    }
}

/// An `application/problem+json` response.
fn problem(
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
) -> Response {
    let body = Problem {
        kind: "about:blank",
        title,
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

async fn not_found() -> HelpdeskError {
    HelpdeskError::NotFound("route".into())
}

async fn method_not_allowed() -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "this method is not allowed on this resource".into(),
        vec![FieldError::new("method", "not allowed here")],
    )
}

// ---------------------------------------------------------------------------------------------
// Extractors.

impl FromRequestParts<AppState> for Caller {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.auth.authenticate(parts)
    }
}

/// A JSON body: at most [`MAX_BODY_BYTES`], `application/json`, syntactically valid.
struct JsonBody(Value);

impl axum::extract::FromRequest<AppState> for JsonBody {
    type Rejection = HelpdeskError;

    async fn from_request(
        request: axum::extract::Request,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_ascii_lowercase();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        // curl's `-d` labels JSON as form data; what matters is that the body parses as JSON.
        let acceptable = essence == "application/json"
            || essence.ends_with("+json")
            || essence == "application/x-www-form-urlencoded";
        if !acceptable {
            return Err(HelpdeskError::bad_request(
                "Content-Type",
                "must be application/json",
            ));
        }
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| HelpdeskError::PayloadTooLarge)?;
        parse_json(&body).map(JsonBody)
    }
}

fn parse_json(body: &Bytes) -> Result<Value, HelpdeskError> {
    if body.is_empty() {
        return Err(HelpdeskError::bad_request(
            "body",
            "a JSON body is required",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| HelpdeskError::bad_request("body", format!("is not valid JSON: {e}")))
}

fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, HelpdeskError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| HelpdeskError::bad_request("If-Match", "is not valid text"))?;
            Precondition::parse(text).map(Some)
        }
    }
}

type Params = std::collections::HashMap<String, String>;

/// Query strings are parsed by hand so that every bad parameter is a problem+json naming it.
fn query_params(raw: Option<String>, allowed: &[&str]) -> Result<Params, HelpdeskError> {
    let mut params = Params::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(HelpdeskError::bad_request(
                key.to_string(),
                "unknown query parameter",
            ));
        }
        if params.insert(key.to_string(), value.to_string()).is_some() {
            return Err(HelpdeskError::bad_request(
                key.to_string(),
                "given more than once",
            ));
        }
    }
    Ok(params)
}

/// One path parameter, percent-decoded; a bad one is a problem+json, not axum's plain text.
pub struct Param(pub String);

impl FromRequestParts<AppState> for Param {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Param(value))
            .map_err(|_| HelpdeskError::bad_request("path", "is not a valid path parameter"))
    }
}

/// Two path parameters, as [`Param`] does one.
pub struct Params2(pub String, pub String);

impl FromRequestParts<AppState> for Params2 {
    type Rejection = HelpdeskError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|Path((a, b))| Params2(a, b))
            .map_err(|_| HelpdeskError::bad_request("path", "is not a valid path parameter"))
    }
}

/// `limit` and `cursor` of a listing whose cursors belong to `scope`; other parameters are
/// refused.
fn page_params(
    query: Option<String>,
    scope: &str,
) -> Result<(usize, Option<String>), HelpdeskError> {
    let params = query_params(query, &["limit", "cursor"])?;
    Ok((page_limit(&params)?, decode_cursor(&params, scope)?))
}

fn page_limit(params: &Params) -> Result<usize, HelpdeskError> {
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
struct Cursor {
    after: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scope: String,
}

fn encode_cursor(after: Option<String>, scope: &str) -> Option<String> {
    use base64::Engine;
    let after = after?;
    let json = serde_json::to_vec(&Cursor {
        after,
        scope: scope.to_string(),
    })
    .ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(params: &Params, scope: &str) -> Result<Option<String>, HelpdeskError> {
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

fn list_response<T: Serialize>(page: Page<T>, scope: &str) -> Response {
    axum::Json(json!({ "items": page.items, "next_cursor": encode_cursor(page.next, scope) }))
        .into_response()
}

fn with_etag(status: StatusCode, version: u64, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Handlers: each one parses, calls one service operation, and shapes the answer.

type ApiResult = Result<Response, HelpdeskError>;

async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn create_customer(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let customer = s.helpdesk.create_customer(&caller, body).await?;
    let fields = s.helpdesk.field_set().await?;
    let mut response = with_etag(
        StatusCode::CREATED,
        customer.version,
        serde_json::to_value(CustomerView::new(&customer, &fields, &caller)).unwrap_or(Value::Null),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/customers/{}", customer.email())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn get_customer(State(s): State<AppState>, caller: Caller, Param(email): Param) -> ApiResult {
    let customer = s.helpdesk.get_customer(&caller, &email).await?;
    let fields = s.helpdesk.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        serde_json::to_value(CustomerView::new(&customer, &fields, &caller)).unwrap_or(Value::Null),
    ))
}

async fn update_customer(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let customer = s
        .helpdesk
        .update_customer(&caller, &email, precondition(&headers)?, patch)
        .await?;
    let fields = s.helpdesk.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        serde_json::to_value(CustomerView::new(&customer, &fields, &caller)).unwrap_or(Value::Null),
    ))
}

async fn delete_customer(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
    headers: HeaderMap,
) -> ApiResult {
    s.helpdesk
        .delete_customer(&caller, &email, precondition(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_customers(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["limit", "cursor", "company_id", "q"])?;
    let limit = page_limit(&params)?;
    let company_id = params
        .get("company_id")
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let prefix = params
        .get("q")
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    if prefix.as_ref().is_some_and(|q| q.chars().count() > 254) {
        return Err(HelpdeskError::bad_request(
            "q",
            "must be at most 254 characters",
        ));
    }
    let scope = format!(
        "c={}&q={}",
        company_id.as_deref().unwrap_or(""),
        prefix.as_deref().unwrap_or("")
    );
    let after = decode_cursor(&params, &scope)?;
    let query = CustomerQuery {
        company_id,
        prefix,
        after,
        limit,
    };
    let page = s.helpdesk.list_customers(&caller, &query).await?;
    let fields = s.helpdesk.field_set().await?;
    Ok(list_response(
        page.map(|c| {
            serde_json::to_value(CustomerView::new(&c, &fields, &caller)).unwrap_or(Value::Null)
        }),
        &scope,
    ))
}

async fn batch_customers(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let results = s.helpdesk.batch_upsert(&caller, body).await?;
    let fields = s.helpdesk.field_set().await?;
    let views: Vec<BatchItemView> = results
        .iter()
        .map(|item| BatchItemView::new(item, &fields, &caller))
        .collect();
    Ok(axum::Json(json!({ "results": views })).into_response())
}

async fn add_note(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let note = s.helpdesk.add_note(&caller, &email, body).await?;
    Ok((StatusCode::CREATED, axum::Json(note)).into_response())
}

async fn list_notes(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "notes";
    let (limit, after) = page_params(query, scope)?;
    let page = s
        .helpdesk
        .list_notes(&caller, &email, after.as_deref(), limit)
        .await?;
    Ok(list_response(page, scope))
}

async fn create_company(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let company = s.helpdesk.create_company(&caller, body).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        company.version,
        json!(company),
    ))
}

async fn list_companies(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "companies";
    let (limit, after) = page_params(query, scope)?;
    let page = s
        .helpdesk
        .list_companies(&caller, after.as_deref(), limit)
        .await?;
    Ok(list_response(page, scope))
}

async fn get_company(State(s): State<AppState>, caller: Caller, Param(id): Param) -> ApiResult {
    let company = s.helpdesk.get_company(&caller, &id).await?;
    Ok(with_etag(StatusCode::OK, company.version, json!(company)))
}

async fn update_company(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let company = s
        .helpdesk
        .update_company(&caller, &id, precondition(&headers)?, patch)
        .await?;
    Ok(with_etag(StatusCode::OK, company.version, json!(company)))
}

async fn delete_company(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
    headers: HeaderMap,
) -> ApiResult {
    s.helpdesk
        .delete_company(&caller, &id, precondition(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_company_domain(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let added = s.helpdesk.add_company_domain(&caller, &id, body).await?;
    Ok(with_etag(
        StatusCode::OK,
        added.company.version,
        json!(added),
    ))
}

async fn list_fields(State(s): State<AppState>, caller: Caller) -> ApiResult {
    let fields = s.helpdesk.list_fields(&caller).await?;
    Ok(axum::Json(json!({ "items": fields, "next_cursor": null })).into_response())
}

async fn create_field(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let field = s.helpdesk.create_field(&caller, body).await?;
    Ok(with_etag(StatusCode::CREATED, field.version, json!(field)))
}

async fn get_field(State(s): State<AppState>, caller: Caller, Param(key): Param) -> ApiResult {
    let field = s.helpdesk.get_field(&caller, &key).await?;
    Ok(with_etag(StatusCode::OK, field.version, json!(field)))
}

async fn update_field(
    State(s): State<AppState>,
    caller: Caller,
    Param(key): Param,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let field = s
        .helpdesk
        .update_field(&caller, &key, precondition(&headers)?, patch)
        .await?;
    Ok(with_etag(StatusCode::OK, field.version, json!(field)))
}

async fn create_import(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let created = s
        .helpdesk
        .create_import(&caller, s.objects.as_ref(), body)
        .await?;
    let mut view = created.job.view();
    // Without presigning (local mode) the file goes to this API's own upload route.
    let upload_url = created.upload_url.unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:3000");
        format!("http://{host}/imports/{}/file", created.job.id)
    });
    view["upload_url"] = json!(upload_url);
    view["upload_method"] = json!("PUT");
    Ok(with_etag(StatusCode::CREATED, created.job.version, view))
}

async fn get_import(State(s): State<AppState>, caller: Caller, Param(id): Param) -> ApiResult {
    let job = s.helpdesk.get_import(&caller, &id).await?;
    Ok(with_etag(StatusCode::OK, job.version, job.view()))
}

async fn import_template(caller: Caller) -> ApiResult {
    caller.require_staff()?;
    let mut response = crate::domain::import_mapping::TEMPLATE_CSV.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"customers-template.csv\""),
    );
    Ok(response)
}

async fn list_customer_tickets(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "tickets";
    let (limit, after) = page_params(query, scope)?;
    let page = s
        .helpdesk
        .list_customer_tickets(&caller, &email, after.as_deref(), limit)
        .await?;
    Ok(list_response(page, scope))
}

async fn get_ticket(
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

async fn update_ticket(
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
async fn download_attachment(
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

async fn list_inbound(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["limit", "cursor", "status"])?;
    let limit = page_limit(&params)?;
    let status = params.get("status").map(String::as_str);
    let scope = format!("inbound:{}", status.unwrap_or_default());
    let after = decode_cursor(&params, &scope)?;
    let page = s
        .helpdesk
        .list_inbound(&caller, status, after.as_deref(), limit)
        .await?;
    Ok(list_response(page, &scope))
}

async fn get_inbound(State(s): State<AppState>, caller: Caller, Param(id): Param) -> ApiResult {
    let record = s.helpdesk.get_inbound(&caller, &id).await?;
    Ok(axum::Json(json!(record)).into_response())
}
