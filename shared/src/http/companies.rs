//! `/companies`: companies and their domains.

#[allow(unused_imports)]
use super::*;

pub(super) async fn create_company(
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

pub(super) async fn list_companies(
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

pub(super) async fn get_company(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
) -> ApiResult {
    let company = s.helpdesk.get_company(&caller, &id).await?;
    Ok(with_etag(StatusCode::OK, company.version, json!(company)))
}

pub(super) async fn update_company(
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

pub(super) async fn delete_company(
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

pub(super) async fn add_company_domain(
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
