//! `/imports`: import jobs, their upload URLs and the CSV template.

use super::*;
use crate::domain::import_job::{Counts, ImportJob, ImportOptions, ImportStatus};
use serde::Serialize;

#[utoipa::path(post, path = "/imports", tag = "imports",
    summary = "Start an import: answers the job and where to upload the CSV",
    request_body = ImportOptions,
    responses((status = 201, description = "The job, with upload_url", body = ImportJobView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn create_import(
    State(imports): State<ImportService>,
    State(links): State<Links>,
    caller: Caller,
    Input(options): Input<ImportOptions>,
) -> ApiResult {
    let created = imports.create_import(&caller, options).await?;
    // Without presigning (local mode) the file goes to this API's own upload route.
    let upload_url = created
        .upload_url
        .unwrap_or_else(|| links.local_url(&format!("/imports/{}/file", created.job.id)));
    let view = ImportJobView::new(&created.job).with_upload(upload_url);
    Ok(with_etag(StatusCode::CREATED, created.job.version, view))
}

#[utoipa::path(get, path = "/imports/{id}", tag = "imports",
    summary = "An import job, updated while it runs",
    params(("id" = String, Path, description = "Import job id")),
    responses((status = 200, description = "The job", body = ImportJobView, headers(("ETag" = String, description = "The version, for If-Match")))))]
pub(super) async fn get_import(
    State(imports): State<ImportService>,
    caller: Caller,
    Id(id): Id<JobId>,
) -> ApiResult {
    let job = imports.get_import(&caller, &id).await?;
    Ok(with_etag(
        StatusCode::OK,
        job.version,
        ImportJobView::new(&job),
    ))
}

#[utoipa::path(get, path = "/imports/template.csv", tag = "imports",
    summary = "A CSV with every supported column and example rows",
    params(("kind" = Option<String>, Query, description = "customers (default) or tickets")),
    responses((status = 200, description = "The template", body = String, content_type = "text/csv")))]
pub(super) async fn import_template(caller: Caller, RawQuery(query): RawQuery) -> ApiResult {
    caller.require_staff()?;
    let params = query_params(query, &["kind"])?;
    let (template, filename) = match params.get("kind").map(String::as_str) {
        None | Some("customers") => (
            crate::domain::import_mapping::TEMPLATE_CSV,
            "attachment; filename=\"customers-template.csv\"",
        ),
        Some("tickets") => (
            crate::domain::ticket_import::TICKET_TEMPLATE_CSV,
            "attachment; filename=\"tickets-template.csv\"",
        ),
        Some(_) => {
            return Err(HelpdeskError::bad_request("kind", "must be customers or tickets").into());
        }
    };
    let mut response = template.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(filename),
    );
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// Views and request bodies: what clients see, built field by field from the records, and what
// they send.

/// An import job as clients see it: the run's internals (who it runs as, checkpoint, lease,
/// the source's version) stay out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ImportJob)]
pub struct ImportJobView<'a> {
    pub id: &'a str,
    pub status: ImportStatus,
    pub dry_run: bool,
    pub options: &'a ImportOptions,
    pub counts: Counts,
    pub ignored_columns: &'a [String],
    pub error_report: &'a Option<String>,
    pub error: &'a Option<String>,
    pub source_key: &'a str,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
    /// Where to send the file, on a job just created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_method: Option<&'static str>,
}

impl<'a> ImportJobView<'a> {
    pub fn new(job: &'a ImportJob) -> Self {
        ImportJobView {
            id: &job.id,
            status: job.status,
            dry_run: job.dry_run,
            options: &job.options,
            counts: job.counts,
            ignored_columns: &job.ignored_columns,
            error_report: &job.error_report,
            error: &job.error,
            source_key: &job.source_key,
            created_at: &job.created_at,
            updated_at: &job.updated_at,
            version: job.version,
            upload_url: None,
            upload_method: None,
        }
    }

    /// The job with the URL its file is to be `PUT` to.
    pub fn with_upload(mut self, url: String) -> Self {
        self.upload_url = Some(url);
        self.upload_method = Some("PUT");
        self
    }
}
