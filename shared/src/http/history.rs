//! History routes of customers, companies and tickets, and the view of a change: who changed
//! what and when, newest first, ending with the creation.

use super::*;
use crate::domain::field::FieldSet;
use crate::domain::history::{Actor, HistoryEntry};

#[utoipa::path(get, path = "/customers/{email}/history", tag = "customers",
    summary = "Who changed what and when, newest first, ending with the creation",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive"), ("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of changes", body = PageView<HistoryEntryView>)))]
pub(super) async fn customer_history(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "history";
    let (limit, after) = page_params(query, scope)?;
    let page = customers
        .customer_history(&caller, &email, after.as_deref(), limit)
        .await?;
    let fields = customers.field_set().await?;
    let view = |entry| HistoryEntryView::new(entry, &fields, &caller);
    Ok(list_response(&page, view, scope))
}

#[utoipa::path(get, path = "/companies/{id}/history", tag = "companies",
    summary = "Who changed what and when, newest first, ending with the creation",
    params(("id" = String, Path, description = "Company id"), ("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of changes", body = PageView<HistoryEntryView>)))]
pub(super) async fn company_history(
    State(companies): State<CompanyService>,
    caller: Caller,
    Id(id): Id<CompanyId>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "history";
    let (limit, after) = page_params(query, scope)?;
    let page = companies
        .company_history(&caller, &id, after.as_deref(), limit)
        .await?;
    // Companies have no custom fields: every change is visible to staff.
    let fields = FieldSet::default();
    let view = |entry| HistoryEntryView::new(entry, &fields, &caller);
    Ok(list_response(&page, view, scope))
}

#[utoipa::path(get, path = "/tickets/{id}/history", tag = "tickets",
    summary = "Changes of status, replies and notes: who and when, newest first, ending with the creation",
    params(("id" = String, Path, description = "Ticket id"), ("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of changes", body = PageView<HistoryEntryView>)))]
pub(super) async fn ticket_history(
    State(tickets): State<TicketService>,
    caller: Caller,
    Id(id): Id<TicketId>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "ticket-history";
    let (limit, after) = page_params(query, scope)?;
    let page = tickets
        .ticket_history(&caller, &id, after.as_deref(), limit)
        .await?;
    let fields = FieldSet::default();
    let view = |entry| HistoryEntryView::new(entry, &fields, &caller);
    Ok(list_response(&page, view, scope))
}

/// One change of a record as `caller` may see it: a custom field they may not view shows
/// that it changed, not its values.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = HistoryEntry)]
pub struct HistoryEntryView<'a> {
    /// The version this change made; 1 is the creation.
    pub version: u64,
    pub at: &'a str,
    /// Who made it; `null` for a creation before history was kept.
    pub by: &'a Option<Actor>,
    pub changes: Vec<FieldChangeView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldChange)]
pub struct FieldChangeView<'a> {
    /// A top-level field, or `custom_fields.<key>`.
    pub field: &'a str,
    /// The value before (`null`: not set). Left out when hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub from: Option<&'a Value>,
    /// The value after (`null`: not set). Left out when hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub to: Option<&'a Value>,
    /// True when the caller may not view this field's values.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

impl<'a> HistoryEntryView<'a> {
    pub fn new(entry: &'a HistoryEntry, fields: &FieldSet, caller: &Caller) -> Self {
        HistoryEntryView {
            version: entry.version,
            at: &entry.at,
            by: &entry.by,
            changes: FieldChangeView::list(&entry.changes, fields, caller),
        }
    }
}

impl<'a> FieldChangeView<'a> {
    /// `changes` as `caller` may see them: a custom field they may not view shows only that
    /// it changed (history, the change feed and webhooks alike).
    pub fn list(
        changes: &'a [crate::domain::history::FieldChange],
        fields: &FieldSet,
        caller: &Caller,
    ) -> Vec<Self> {
        let visible = |field: &str| match field.strip_prefix("custom_fields.") {
            Some(key) => fields.get(key).is_some_and(|d| d.can_view(caller)),
            None => true,
        };
        changes
            .iter()
            .map(|change| {
                let shown = visible(&change.field);
                FieldChangeView {
                    field: &change.field,
                    from: shown.then_some(&change.from),
                    to: shown.then_some(&change.to),
                    hidden: !shown,
                }
            })
            .collect()
    }
}
