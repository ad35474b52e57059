//! `/exports`: customer exports as CSV that imports back unchanged (admins). `POST` records
//! one for the job runner; `GET` shows it, with a download link once written.

use super::*;
use crate::domain::export_job::{ExportFilter, ExportJob, ExportStatus, parse_since};
use crate::domain::patch::Command;
use crate::services::exports::{EXPORT_LINK_LIFETIME, ExportService};

/// What `POST /exports` takes.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    #[serde(default)]
    pub filter: ExportFilterInput,
    /// Start the file with a UTF-8 byte-order mark, for spreadsheet apps.
    #[serde(default)]
    pub bom: bool,
}

impl Command for ExportRequest {}

/// Which customers: every one by default.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportFilterInput {
    pub company_id: Option<String>,
    /// `true`: the blocked customers only; `false`: the others.
    pub blocked: Option<bool>,
    /// A date (`2026-12-01`) or an RFC 3339 time: customers changed at or after it.
    pub updated_since: Option<String>,
}

impl ExportFilterInput {
    fn parse(self) -> Result<ExportFilter, HelpdeskError> {
        let updated_since = self
            .updated_since
            .as_deref()
            .map(parse_since)
            .transpose()
            .map_err(|why| HelpdeskError::bad_request("filter.updated_since", why))?;
        Ok(ExportFilter {
            company_id: self.company_id,
            blocked: self.blocked,
            updated_since,
        })
    }
}

/// An export as admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Export)]
pub struct ExportView<'a> {
    pub id: &'a str,
    pub status: ExportStatus,
    pub filter: &'a ExportFilter,
    pub bom: bool,
    pub counts: ExportCounts,
    /// Once written: the file, valid `expires_in` seconds from this answer.
    pub download_url: Option<String>,
    pub expires_in: Option<u64>,
    pub error: Option<&'a str>,
    pub requested_by: &'a str,
    pub created_at: &'a str,
    pub finished_at: Option<&'a str>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportCounts {
    pub customers: u64,
}

impl<'a> ExportView<'a> {
    fn new(job: &'a ExportJob, download_url: Option<String>) -> Self {
        ExportView {
            id: &job.id,
            status: job.status,
            filter: &job.filter,
            bom: job.bom,
            counts: ExportCounts {
                customers: job.customers,
            },
            expires_in: download_url
                .as_ref()
                .map(|_| EXPORT_LINK_LIFETIME.as_secs()),
            download_url,
            error: job.error.as_deref(),
            requested_by: &job.requested_by,
            created_at: &job.created_at,
            finished_at: job.finished_at.as_deref(),
        }
    }
}

#[utoipa::path(post, path = "/exports", tag = "customers",
    summary = "Export customers as CSV that imports back unchanged (admins); runs as a job",
    request_body = ExportRequest,
    responses((status = 202, description = "The export, running", body = ExportView,
        headers(("Location" = String, description = "/exports/{id}")))))]
pub(super) async fn start_export(
    State(exports): State<ExportService>,
    caller: Caller,
    Input(request): Input<ExportRequest>,
) -> ApiResult {
    let filter = request.filter.parse()?;
    let job = exports.start(&caller, filter, request.bom).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(ExportView::new(&job, None)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/exports/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/exports/{id}", tag = "customers",
    summary = "An export: its status, count and, once written, a download link valid 15 minutes (admins)",
    params(("id" = String, Path, description = "Export id")),
    responses((status = 200, description = "The export", body = ExportView)))]
pub(super) async fn get_export(
    State(exports): State<ExportService>,
    State(links): State<Links>,
    caller: Caller,
    Id(id): Id<crate::domain::ids::JobId>,
) -> ApiResult {
    let (job, url) = exports.get(&caller, &id).await?;
    // Local mode's links are this server's own download route.
    let url = url.map(|url| match url.starts_with('/') {
        true => links.local_url(&url),
        false => url,
    });
    Ok(axum::Json(ExportView::new(&job, url)).into_response())
}
