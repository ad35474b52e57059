//! Erasure: `POST /customers/{email}/erase` and `GET /erasures/{id}`, with the views they
//! answer. (The export is in `export.rs`.)

use super::*;
use crate::domain::erasure::{Erasure, ErasureCounts, ErasureStatus, TicketErasure};
use crate::services::privacy::PrivacyService;
use crate::services::privacy::erasure::EraseInput;

/// An erasure as admins see it: its progress, and once done its tombstone (hashes only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Erasure)]
pub struct ErasureView<'a> {
    pub id: &'a str,
    pub status: ErasureStatus,
    /// Salted SHA-256 of each erased address (hex).
    pub email_hashes: &'a [String],
    pub suppress: bool,
    pub tickets: TicketErasure,
    pub requested_by: &'a str,
    pub requested_at: &'a str,
    pub finished_at: Option<&'a str>,
    pub counts: &'a ErasureCounts,
}

impl<'a> From<&'a Erasure> for ErasureView<'a> {
    fn from(erasure: &'a Erasure) -> Self {
        ErasureView {
            id: &erasure.id,
            status: erasure.status,
            email_hashes: &erasure.email_hashes,
            suppress: erasure.suppress,
            tickets: erasure.tickets,
            requested_by: &erasure.requested_by,
            requested_at: &erasure.requested_at,
            finished_at: erasure.finished_at.as_deref(),
            counts: &erasure.counts,
        }
    }
}

#[utoipa::path(post, path = "/customers/{email}/erase", tag = "privacy",
    summary = "Erase everything held about a customer (admins); runs as a job",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    request_body = EraseInput,
    responses((status = 202, description = "The erasure, queued (or the one already under way)", body = ErasureView,
        headers(("Location" = String, description = "/erasures/{id}")))))]
pub(super) async fn erase_customer(
    State(privacy): State<PrivacyService>,
    caller: Caller,
    Id(email): Id<Email>,
    Input(input): Input<EraseInput>,
) -> ApiResult {
    let erasure = privacy.request_erasure(&caller, &email, input).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(ErasureView::from(&erasure)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/erasures/{}", erasure.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/erasures/{id}", tag = "privacy",
    summary = "An erasure's progress, and once done its tombstone (admins)",
    params(("id" = String, Path, description = "Erasure id")),
    responses((status = 200, description = "The erasure", body = ErasureView)))]
pub(super) async fn get_erasure(
    State(privacy): State<PrivacyService>,
    caller: Caller,
    Id(id): Id<JobId>,
) -> ApiResult {
    let erasure = privacy.get_erasure(&caller, &id).await?;
    Ok(axum::Json(ErasureView::from(&erasure)).into_response())
}
