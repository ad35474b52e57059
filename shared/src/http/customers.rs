//! `/customers`: customers, batches, notes and a customer's tickets.

#[allow(unused_imports)]
use super::*;

pub(super) async fn create_customer(
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

pub(super) async fn get_customer(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
) -> ApiResult {
    let customer = s.helpdesk.get_customer(&caller, &email).await?;
    let fields = s.helpdesk.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        serde_json::to_value(CustomerView::new(&customer, &fields, &caller)).unwrap_or(Value::Null),
    ))
}

pub(super) async fn update_customer(
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

pub(super) async fn delete_customer(
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

pub(super) async fn list_customers(
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

pub(super) async fn batch_customers(
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

pub(super) async fn add_note(
    State(s): State<AppState>,
    caller: Caller,
    Param(email): Param,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let note = s.helpdesk.add_note(&caller, &email, body).await?;
    Ok((StatusCode::CREATED, axum::Json(note)).into_response())
}

pub(super) async fn list_notes(
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

pub(super) async fn list_customer_tickets(
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
