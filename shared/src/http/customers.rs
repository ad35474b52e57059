//! `/customers`: customers, batches, notes and a customer's tickets.

use super::*;
use crate::domain::customer_input::{CustomerBatch, CustomerInput, NoteInput};
use std::collections::BTreeMap;

use crate::domain::customer::{Address, Block, Customer, Entitlement, Note, PortalAccess, Welcome};
use crate::domain::delivery::AddressProblem;
use crate::domain::email::Email;
use crate::domain::field::FieldSet;
use crate::services::customers::{BatchItemResult, BatchStatus};

#[utoipa::path(post, path = "/customers", tag = "customers", summary = "Create a customer",
    request_body = CustomerInput,
    responses((status = 201, description = "The customer", body = CustomerView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn create_customer(
    State(customers): State<CustomerService>,
    caller: Caller,
    Input(input): Input<CustomerInput>,
) -> ApiResult {
    let customer = customers.create_customer(&caller, input).await?;
    let fields = customers.field_set().await?;
    let mut response = with_etag(
        StatusCode::CREATED,
        customer.version,
        CustomerView::new(&customer, &fields, &caller),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/customers/{}", customer.email())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/customers/{email}", tag = "customers", summary = "A customer",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The customer", body = CustomerView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn get_customer(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let customer = customers.get_customer(&caller, &email).await?;
    let fields = customers.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        CustomerView::new(&customer, &fields, &caller),
    ))
}

#[utoipa::path(patch, path = "/customers/{email}", tag = "customers",
    summary = "Change a customer (JSON Merge Patch)",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive"),
        ("If-Match" = String, Header, description = "The ETag of the version this change is based on")),
    request_body(content = MergePatch, description = "JSON Merge Patch (RFC 7396) of the customer's writable fields; null removes"),
    responses((status = 200, description = "The customer", body = CustomerView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn update_customer(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let customer = customers
        .update_customer(&caller, &email, required_precondition(&headers)?, patch)
        .await?;
    let fields = customers.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        CustomerView::new(&customer, &fields, &caller),
    ))
}

#[utoipa::path(delete, path = "/customers/{email}", tag = "customers",
    summary = "Delete a customer and their notes",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive"),
        ("If-Match" = Option<String>, Header, description = "Delete only at this version")),
    responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_customer(
    State(customers): State<CustomerService>,
    State(avatars): State<crate::services::avatars::AvatarService>,
    caller: Caller,
    Id(email): Id<Email>,
    headers: HeaderMap,
) -> ApiResult {
    let deleted = customers
        .delete_customer(&caller, &email, precondition(&headers)?)
        .await?;
    avatars.forget_customer(&deleted).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/customers", tag = "customers",
    summary = "List customers, by email (or by the matching key with q)",
    params(("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page"),
        ("company_id" = Option<String>, Query, description = "Only this company's members"),
        ("q" = Option<String>, Query, description = "Prefix of the email, first or last name"),
        ("blocked" = Option<bool>, Query, description = "true: only blocked customers, by email (not with company_id or q)")),
    responses((status = 200, description = "A page of customers", body = PageView<CustomerView>)))]
pub(super) async fn list_customers(
    State(customers): State<CustomerService>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(query, &["limit", "cursor", "company_id", "q", "blocked"])?;
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
        return Err(HelpdeskError::bad_request("q", "must be at most 254 characters").into());
    }
    let blocked = match params.get("blocked").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(HelpdeskError::bad_request("blocked", "must be true or false").into());
        }
    };
    if blocked && (company_id.is_some() || prefix.is_some()) {
        return Err(HelpdeskError::bad_request(
            "blocked",
            "lists blocked customers on its own: not with company_id or q",
        )
        .into());
    }
    let scope = format!(
        "c={}&q={}{}",
        company_id.as_deref().unwrap_or(""),
        prefix.as_deref().unwrap_or(""),
        if blocked { "&blocked" } else { "" }
    );
    let after = decode_cursor(&params, &scope)?;
    let query = CustomerQuery {
        company_id,
        prefix,
        blocked,
        after,
        limit,
    };
    let page = customers.list_customers(&caller, &query).await?;
    let fields = customers.field_set().await?;
    Ok(list_response(
        &page,
        |c| CustomerView::new(c, &fields, &caller),
        &scope,
    ))
}

#[utoipa::path(post, path = "/customers/batch", tag = "customers",
    summary = "Create or update up to 100 customers",
    request_body = CustomerBatch,
    responses((status = 200, description = "One result per item", body = BatchResultView)))]
pub(super) async fn batch_customers(
    State(customers): State<CustomerService>,
    caller: Caller,
    Input(body): Input<CustomerBatch>,
) -> ApiResult {
    let results = customers.batch_upsert(&caller, body).await?;
    let fields = customers.field_set().await?;
    let results = results
        .iter()
        .map(|item| BatchItemView::new(item, &fields, &caller))
        .collect();
    Ok(axum::Json(BatchResultView { results }).into_response())
}

#[utoipa::path(post, path = "/customers/{email}/notes", tag = "customers",
    summary = "Add an internal note",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    request_body = NoteInput,
    responses((status = 201, description = "The note", body = NoteView)))]
pub(super) async fn add_note(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
    Input(body): Input<NoteInput>,
) -> ApiResult {
    let note = customers.add_note(&caller, &email, body).await?;
    Ok((StatusCode::CREATED, axum::Json(NoteView::from(&note))).into_response())
}

#[utoipa::path(get, path = "/customers/{email}/notes", tag = "customers",
    summary = "Internal notes, newest first",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive"), ("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of notes", body = PageView<NoteView>)))]
pub(super) async fn list_notes(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "notes";
    let (limit, after) = page_params(query, scope)?;
    let page = customers
        .list_notes(&caller, &email, after.as_deref(), limit)
        .await?;
    Ok(list_response(&page, NoteView::from, scope))
}

#[utoipa::path(get, path = "/customers/{email}/tickets", tag = "tickets",
    summary = "The customer's tickets, newest first",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive"), ("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of tickets", body = PageView<TicketSummaryView>)))]
pub(super) async fn list_customer_tickets(
    State(tickets): State<TicketService>,
    caller: Caller,
    Id(email): Id<Email>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "tickets";
    let (limit, after) = page_params(query, scope)?;
    let page = tickets
        .list_customer_tickets(&caller, &email, after.as_deref(), limit)
        .await?;
    Ok(list_response(&page, TicketSummaryView::from, scope))
}

#[utoipa::path(post, path = "/customers/{email}/block", tag = "customers",
    summary = "Block a customer (admin): their mail is ignored, nothing automated is sent to them",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The customer, blocked", body = CustomerView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn block_customer(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    set_blocked(&customers, &caller, &email, true).await
}

#[utoipa::path(delete, path = "/customers/{email}/block", tag = "customers",
    summary = "Unblock a customer (admin)",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The customer, no longer blocked", body = CustomerView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn unblock_customer(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    set_blocked(&customers, &caller, &email, false).await
}

#[utoipa::path(delete, path = "/customers/{email}/undeliverable", tag = "customers",
    summary = "Clear the undeliverable mark of a customer's address (admin): replies may go to it again",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The customer, deliverable", body = CustomerView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn clear_undeliverable(
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let customer = customers.clear_undeliverable(&caller, &email).await?;
    let fields = customers.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        CustomerView::new(&customer, &fields, &caller),
    ))
}

async fn set_blocked(
    customers: &CustomerService,
    caller: &Caller,
    email: &Email,
    blocked: bool,
) -> ApiResult {
    let customer = customers.set_blocked(caller, email, blocked).await?;
    let fields = customers.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        CustomerView::new(&customer, &fields, caller),
    ))
}

// ---------------------------------------------------------------------------------------------
// Views and request bodies: what clients see, built field by field from the records, and what
// they send.

/// A customer as `caller` may see it: custom fields they may not view are left out, and the
/// import bookkeeping never appears.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Customer)]
pub struct CustomerView<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub first_name: &'a Option<String>,
    pub last_name: &'a Option<String>,
    pub phones: &'a [String],
    #[schema(value_type = Vec<String>)]
    pub alternate_emails: &'a [Email],
    pub company_id: &'a Option<String>,
    pub address: &'a Option<Address>,
    pub social: &'a BTreeMap<String, String>,
    /// The client-given avatar key (never fetched by the helpdesk).
    pub avatar: &'a Option<String>,
    /// The uploaded avatar, processed into square sizes (`PUT /customers/{email}/avatar`).
    pub avatar_image: Option<super::AvatarImageView>,
    pub custom_fields: BTreeMap<&'a str, &'a Value>,
    pub tags: &'a [String],
    pub portal_access: PortalAccess,
    pub notes: &'a Option<String>,
    pub entitlements: &'a [Entitlement],
    pub welcome: &'a Option<Welcome>,
    /// Set while the customer is blocked.
    pub blocked: &'a Option<Block>,
    /// Set when mail to the address bounced for good: replies are refused until the email
    /// changes or an admin clears it (`DELETE /customers/{email}/undeliverable`).
    pub undeliverable: &'a Option<AddressProblem>,
    /// Set when the customer marked our mail as spam: no automated mail goes to them.
    pub complained: &'a Option<AddressProblem>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> CustomerView<'a> {
    pub fn new(customer: &'a Customer, fields: &FieldSet, caller: &Caller) -> Self {
        let profile = &customer.profile;
        CustomerView {
            id: &customer.id,
            email: profile.email.as_str(),
            first_name: &profile.first_name,
            last_name: &profile.last_name,
            phones: &profile.phones,
            alternate_emails: &profile.alternate_emails,
            company_id: &profile.company_id,
            address: &profile.address,
            social: &profile.social,
            avatar: &profile.avatar,
            avatar_image: customer
                .avatar_image
                .as_ref()
                .map(super::AvatarImageView::new),
            custom_fields: profile
                .custom_fields
                .iter()
                .filter(|(key, _)| fields.get(key).is_some_and(|d| d.can_view(caller)))
                .map(|(key, value)| (key.as_str(), value))
                .collect(),
            tags: &profile.tags,
            portal_access: profile.portal_access,
            notes: &profile.notes,
            entitlements: &profile.entitlements,
            welcome: &customer.welcome,
            blocked: &customer.blocked,
            undeliverable: &customer.undeliverable,
            complained: &customer.complained,
            created_at: &customer.created_at,
            updated_at: &customer.updated_at,
            version: customer.version,
        }
    }
}

/// The outcome of one item of `POST /customers/batch`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BatchItem)]
pub struct BatchItemView<'a> {
    pub index: usize,
    pub email: &'a Option<String>,
    pub status: BatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerView<'a>>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub errors: &'a [FieldError],
}

impl<'a> BatchItemView<'a> {
    pub fn new(item: &'a BatchItemResult, fields: &FieldSet, caller: &Caller) -> Self {
        BatchItemView {
            index: item.index,
            email: &item.email,
            status: item.status,
            customer: item
                .customer
                .as_ref()
                .map(|c| CustomerView::new(c, fields, caller)),
            errors: &item.errors,
        }
    }
}

/// `POST /customers/batch`: one result per item, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BatchResult)]
pub struct BatchResultView<'a> {
    pub results: Vec<BatchItemView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Note)]
pub struct NoteView<'a> {
    pub id: &'a str,
    /// Who wrote it: the caller's `sub`, or the local key's name.
    pub author: &'a str,
    pub text: &'a str,
    pub created_at: &'a str,
}

impl<'a> From<&'a Note> for NoteView<'a> {
    fn from(note: &'a Note) -> Self {
        NoteView {
            id: &note.id,
            author: &note.author,
            text: &note.text,
            created_at: &note.created_at,
        }
    }
}
