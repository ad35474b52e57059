//! `/companies`: companies and their domains.

use super::*;
use crate::domain::company::{AddDomain, CompanyInput};
use crate::domain::company::{Company, DomainAdded};
use crate::domain::customer::PortalAccess;
use serde::Serialize;

#[utoipa::path(post, path = "/companies", tag = "companies", summary = "Create a company",
    request_body = CompanyInput,
    responses((status = 201, description = "The company", body = CompanyView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn create_company(
    State(companies): State<CompanyService>,
    caller: Caller,
    Input(input): Input<CompanyInput>,
) -> ApiResult {
    let company = companies.create_company(&caller, input).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        company.version,
        CompanyView::from(&company),
    ))
}

#[utoipa::path(get, path = "/companies", tag = "companies", summary = "Companies by name",
    params(("limit" = Option<usize>, Query, description = "Items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page")),
    responses((status = 200, description = "A page of companies", body = PageView<CompanyView>)))]
pub(super) async fn list_companies(
    State(companies): State<CompanyService>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let scope = "companies";
    let (limit, after) = page_params(query, scope)?;
    let page = companies
        .list_companies(&caller, after.as_deref(), limit)
        .await?;
    Ok(list_response(&page, CompanyView::from, scope))
}

#[utoipa::path(get, path = "/companies/{id}", tag = "companies", summary = "A company",
    params(("id" = String, Path, description = "Company id")),
    responses((status = 200, description = "The company", body = CompanyView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn get_company(
    State(companies): State<CompanyService>,
    caller: Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult {
    let company = companies.get_company(&caller, &id).await?;
    Ok(with_etag(
        StatusCode::OK,
        company.version,
        CompanyView::from(&company),
    ))
}

#[utoipa::path(patch, path = "/companies/{id}", tag = "companies",
    summary = "Change a company (JSON Merge Patch)",
    params(("id" = String, Path, description = "Company id"),
        ("If-Match" = String, Header, description = "The ETag of the version this change is based on")),
    request_body(content = MergePatch, description = "JSON Merge Patch (RFC 7396) of name, domains and notes"),
    responses((status = 200, description = "The company", body = CompanyView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn update_company(
    State(companies): State<CompanyService>,
    caller: Caller,
    Id(id): Id<CompanyId>,
    headers: HeaderMap,
    JsonBody(patch): JsonBody,
) -> ApiResult {
    let company = companies
        .update_company(&caller, &id, precondition(&headers)?, patch)
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        company.version,
        CompanyView::from(&company),
    ))
}

#[utoipa::path(delete, path = "/companies/{id}", tag = "companies",
    summary = "Delete a company (its customers stay, without a company)",
    params(("id" = String, Path, description = "Company id"),
        ("If-Match" = Option<String>, Header, description = "Delete only at this version")),
    responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_company(
    State(companies): State<CompanyService>,
    caller: Caller,
    Id(id): Id<CompanyId>,
    headers: HeaderMap,
) -> ApiResult {
    companies
        .delete_company(&caller, &id, precondition(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/companies/{id}/domains", tag = "companies",
    summary = "Add a domain, optionally assigning existing company-less customers",
    params(("id" = String, Path, description = "Company id")),
    request_body = AddDomain,
    responses((status = 200, description = "The company and how many customers joined it", body = DomainAddedView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn add_company_domain(
    State(companies): State<CompanyService>,
    caller: Caller,
    Id(id): Id<CompanyId>,
    Input(input): Input<AddDomain>,
) -> ApiResult {
    let added = companies.add_company_domain(&caller, &id, input).await?;
    Ok(with_etag(
        StatusCode::OK,
        added.company.version,
        DomainAddedView::from(&added),
    ))
}

// ---------------------------------------------------------------------------------------------
// Views and request bodies: what clients see, built field by field from the records, and what
// they send.

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Company)]
pub struct CompanyView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub domains: &'a [String],
    pub notes: &'a Option<String>,
    /// What a customer joining the company may see in the portal, unless theirs was set.
    pub portal_default_access: PortalAccess,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> From<&'a Company> for CompanyView<'a> {
    fn from(company: &'a Company) -> Self {
        CompanyView {
            id: &company.id,
            name: &company.name,
            domains: &company.domains,
            notes: &company.notes,
            portal_default_access: company.portal_default_access,
            created_at: &company.created_at,
            updated_at: &company.updated_at,
            version: company.version,
        }
    }
}

/// `POST /companies/{id}/domains`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DomainAdded)]
pub struct DomainAddedView<'a> {
    pub company: CompanyView<'a>,
    /// Existing customers without a company that were assigned by the back-fill.
    pub assigned_customers: u64,
}

impl<'a> From<&'a DomainAdded> for DomainAddedView<'a> {
    fn from(added: &'a DomainAdded) -> Self {
        DomainAddedView {
            company: CompanyView::from(&added.company),
            assigned_customers: added.assigned_customers,
        }
    }
}
