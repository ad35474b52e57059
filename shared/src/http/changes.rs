//! `GET /changes`: the change feed, for admins and integrations holding `changes:read`.

use super::*;
use crate::domain::caller::Role;
use crate::domain::events::{EntityKind, Event, EventType};
use crate::domain::field::FieldSet;
use crate::domain::history::Actor;
use crate::domain::timestamp::Timestamp;
use crate::services::changes::{ChangeFeed, FeedQuery};

const DEFAULT_LIMIT: usize = 100;

#[utoipa::path(get, path = "/changes", tag = "changes",
    summary = "Every change as an event, oldest first, by cursor (admins, or the changes:read scope)",
    params(
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page, or `now` for only what comes next"),
        ("since" = Option<String>, Query, description = "Start at this time (a date or an RFC 3339 time); ignored with a cursor"),
        ("types" = Option<String>, Query, description = "Comma-separated event types or their prefixes (`customer`, `ticket.message`)"),
        ("limit" = Option<usize>, Query, description = "Events per page, 1 to 1000 (default 100)")),
    responses((status = 200, description = "A page of events", body = FeedPageView)))]
pub(super) async fn list_changes(
    State(feed): State<ChangeFeed>,
    State(customers): State<CustomerService>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    caller.require_changes_read()?;
    let query = feed_query(query)?;
    let page = feed.read(&caller, query).await?;
    // An integration without a role sees records as an agent does.
    let viewer = if caller.is_staff() {
        caller.clone()
    } else {
        Caller::new(caller.subject.clone(), [Role::Agent], false)
    };
    let fields = customers.field_set().await?;
    let view = FeedPageView {
        events: page
            .events
            .iter()
            .map(|event| EventView::new(event, &fields, &viewer))
            .collect(),
        next_cursor: page.next_cursor,
        caught_up: page.caught_up,
        settled_until: page.settled_until.to_string(),
    };
    Ok((StatusCode::OK, axum::Json(view)).into_response())
}

fn feed_query(raw: Option<String>) -> Result<FeedQuery, HelpdeskError> {
    let params = query_params(raw, &["cursor", "since", "types", "limit"])?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=crate::services::changes::MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(HelpdeskError::bad_request(
                    "limit",
                    "must be a whole number from 1 to 1000",
                ));
            }
        },
    };
    let since = params
        .get("since")
        .map(|raw| Timestamp::parse_external(raw))
        .transpose()
        .map_err(|why| HelpdeskError::bad_request("since", why))?;
    let types = params
        .get("types")
        .map(|raw| parse_types(raw))
        .transpose()?;
    Ok(FeedQuery {
        cursor: params.get("cursor").map(|c| c.trim().to_string()),
        since,
        types,
        limit,
    })
}

fn parse_types(raw: &str) -> Result<Vec<EventType>, HelpdeskError> {
    let mut types = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let matching = EventType::matching(name);
        if matching.is_empty() {
            return Err(HelpdeskError::bad_request(
                "types",
                format!("'{name}' is no event type (see the docs' list of events)"),
            ));
        }
        types.extend(matching);
    }
    if types.is_empty() {
        return Err(HelpdeskError::bad_request("types", "names no event type"));
    }
    Ok(types)
}

/// A page of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FeedPage)]
pub struct FeedPageView<'a> {
    pub events: Vec<EventView<'a>>,
    /// Where the next page starts; always present: the feed never ends.
    pub next_cursor: String,
    /// True when this page reached the settled horizon: ask again later with `next_cursor`.
    pub caught_up: bool,
    /// Every change up to this time is in this page or an earlier one.
    pub settled_until: String,
}

/// One event: the envelope every channel (feed, EventBridge, webhooks) carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EventView<'a> {
    /// Stable: the same change has the same id however often it is delivered.
    pub id: &'a str,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub occurred_at: &'a str,
    #[schema(value_type = Object)]
    pub entity: &'a crate::domain::events::EntityRef,
    pub version: u64,
    /// Who made the change, as history names them; `null` when not known.
    pub actor: &'a Option<Actor>,
    pub changes: Vec<FieldChangeView<'a>>,
    /// The record as an agent sees it after the change (before it, for a deletion); `null`
    /// for an erasure.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

impl<'a> EventView<'a> {
    pub fn new(event: &'a Event, fields: &FieldSet, viewer: &Caller) -> Self {
        EventView {
            id: &event.id,
            kind: event.kind.name(),
            occurred_at: &event.occurred_at,
            entity: &event.entity,
            version: event.version,
            actor: &event.actor,
            changes: FieldChangeView::list(&event.changes, fields, viewer),
            data: data_view(event, fields, viewer),
        }
    }
}

/// The record as its own route shows it to an agent.
fn data_view(event: &Event, fields: &FieldSet, viewer: &Caller) -> Option<Value> {
    let record = event.record.clone()?;
    let view = match event.entity.kind {
        EntityKind::Customer => {
            let customer: crate::domain::customer::Customer =
                serde_json::from_value(record).ok()?;
            serde_json::to_value(CustomerView::new(&customer, fields, viewer))
        }
        EntityKind::Company => {
            let company: crate::domain::company::Company = serde_json::from_value(record).ok()?;
            serde_json::to_value(CompanyView::from(&company))
        }
        EntityKind::Ticket => {
            let ticket: crate::domain::ticket::Ticket = serde_json::from_value(record).ok()?;
            serde_json::to_value(TicketSummaryView::from(&ticket))
        }
        EntityKind::Message => {
            let message: crate::domain::ticket::TicketMessage =
                serde_json::from_value(record).ok()?;
            serde_json::to_value(MessageView::from(&message))
        }
        EntityKind::Import => {
            let job: crate::domain::import_job::ImportJob = serde_json::from_value(record).ok()?;
            serde_json::to_value(ImportJobView::new(&job))
        }
        // Already a view: the erasure's id and counts.
        EntityKind::Erasure => return Some(record),
    };
    view.ok()
}

/// An event's JSON as webhooks post it: the feed's envelope, records as an agent sees them.
pub fn event_json(event: &Event, fields: &FieldSet) -> Vec<u8> {
    let viewer = Caller::new("webhooks", [Role::Agent], false);
    serde_json::to_vec(&EventView::new(event, fields, &viewer)).unwrap_or_default()
}
