//! `/webhooks`: signed deliveries of events to endpoints admins register. Local mode's routes
//! (`helpdesk serve` adds them); the cloud sends events through EventBridge.

use super::*;
use crate::domain::events::EventType;
use crate::domain::webhook::{Attempt, Webhook, WebhookState};
use crate::services::webhooks::WebhookService;

/// What `POST /webhooks` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// An http(s) URL; loopback and private addresses need `--allow-private-webhooks`.
    pub url: String,
    /// Event types or their prefixes (`customer`, `ticket.message`); all when left out.
    pub types: Option<Vec<String>>,
}

impl Command for WebhookRequest {}

/// What `POST /webhooks/{id}/replay` takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// A `next_cursor` of `GET /changes`: every event after it is delivered again.
    pub cursor: String,
}

impl Command for ReplayRequest {}

/// An endpoint as admins see it; the secret only in the answer that made it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookView<'a> {
    pub id: &'a str,
    pub url: &'a str,
    #[schema(value_type = Option<Vec<String>>)]
    pub types: Option<Vec<&'static str>>,
    /// Signs each delivery (`X-Helpdesk-Signature`); shown once, when the webhook is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'a str>,
    #[schema(value_type = String)]
    pub state: &'a WebhookState,
    /// Why the endpoint was turned off.
    pub disabled_reason: &'a Option<String>,
    pub failures_in_row: u32,
    pub delivered: u64,
    /// The latest attempts, newest first.
    #[schema(value_type = Vec<Object>)]
    pub recent: &'a [Attempt],
    pub created_at: &'a str,
}

impl<'a> WebhookView<'a> {
    fn new(hook: &'a Webhook, with_secret: bool) -> Self {
        WebhookView {
            id: &hook.id,
            url: &hook.url,
            types: hook
                .types
                .as_ref()
                .map(|types| types.iter().map(|t| t.name()).collect()),
            secret: with_secret.then_some(hook.secret.as_str()),
            state: &hook.state,
            disabled_reason: &hook.disabled_reason,
            failures_in_row: hook.failures_in_row,
            delivered: hook.delivered,
            recent: &hook.recent,
            created_at: &hook.created_at,
        }
    }
}

fn service(webhooks: Option<WebhookService>) -> Result<WebhookService, HelpdeskError> {
    webhooks.ok_or_else(|| {
        HelpdeskError::NotFound(
            "webhooks (local mode's; in the cloud, events reach endpoints through EventBridge: \
             see the stack's WebhookUrl parameter)"
                .into(),
        )
    })
}

fn parse_types(raw: Option<Vec<String>>) -> Result<Option<Vec<EventType>>, HelpdeskError> {
    let Some(names) = raw else { return Ok(None) };
    let mut types = Vec::new();
    for name in &names {
        let matching = EventType::matching(name);
        if matching.is_empty() {
            return Err(HelpdeskError::bad_request(
                "types",
                format!("'{name}' is no event type"),
            ));
        }
        types.extend(matching);
    }
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(HelpdeskError::bad_request("types", "names no event type"));
    }
    Ok(Some(types))
}

#[utoipa::path(post, path = "/webhooks", tag = "changes",
    summary = "Register an endpoint for signed event deliveries (admins; local mode)",
    request_body = WebhookRequest,
    responses((status = 201, description = "The webhook, with its secret (shown once)", body = WebhookView)))]
pub async fn create_webhook(
    State(webhooks): State<Option<WebhookService>>,
    caller: Caller,
    Input(request): Input<WebhookRequest>,
) -> ApiResult {
    let webhooks = service(webhooks)?;
    let types = parse_types(request.types)?;
    let hook = webhooks.create(&caller, &request.url, types).await?;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(WebhookView::new(&hook, true)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/webhooks/{}", hook.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/webhooks", tag = "changes",
    summary = "The registered endpoints (admins; local mode)",
    responses((status = 200, description = "Every webhook", body = Object)))]
pub async fn list_webhooks(
    State(webhooks): State<Option<WebhookService>>,
    caller: Caller,
) -> ApiResult {
    let hooks = service(webhooks)?.list(&caller).await?;
    let items: Vec<WebhookView> = hooks.iter().map(|h| WebhookView::new(h, false)).collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "changes",
    summary = "An endpoint: its state, latest deliveries and failures (admins; local mode)",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook", body = WebhookView)))]
pub async fn get_webhook(
    State(webhooks): State<Option<WebhookService>>,
    caller: Caller,
    Param(id): Param,
) -> ApiResult {
    let hook = service(webhooks)?.get(&caller, &id).await?;
    Ok(axum::Json(WebhookView::new(&hook, false)).into_response())
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "changes",
    summary = "Remove an endpoint and its waiting deliveries (admins; local mode)",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204, description = "Removed")))]
pub async fn delete_webhook(
    State(webhooks): State<Option<WebhookService>>,
    caller: Caller,
    Param(id): Param,
) -> ApiResult {
    service(webhooks)?.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/webhooks/{id}/replay", tag = "changes",
    summary = "Deliver again every event after a feed cursor; turns a disabled endpoint back on (admins; local mode)",
    params(("id" = String, Path, description = "Webhook id")),
    request_body = ReplayRequest,
    responses((status = 202, description = "How many deliveries were queued", body = Object)))]
pub async fn replay_webhook(
    State(webhooks): State<Option<WebhookService>>,
    caller: Caller,
    Param(id): Param,
    Input(request): Input<ReplayRequest>,
) -> ApiResult {
    let queued = service(webhooks)?
        .replay(&caller, &id, request.cursor.trim())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "queued": queued })),
    )
        .into_response())
}
