//! Layout migrations: `POST /migrations/{name}` starts one (or answers the run under way),
//! `GET /migrations/{name}` shows its progress.

use super::*;
use crate::domain::migration::{Migration, MigrationCounts, MigrationStatus};
use crate::services::migrations::MigrationService;

/// A migration run as admins see it (its position in the table stays inside).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Migration)]
pub struct MigrationView<'a> {
    pub name: &'a str,
    pub status: MigrationStatus,
    pub counts: MigrationCounts,
    pub started_by: &'a str,
    pub started_at: &'a str,
    pub finished_at: Option<&'a str>,
}

impl<'a> From<&'a Migration> for MigrationView<'a> {
    fn from(migration: &'a Migration) -> Self {
        MigrationView {
            name: &migration.name,
            status: migration.status,
            counts: migration.counts,
            started_by: &migration.started_by,
            started_at: &migration.started_at,
            finished_at: migration.finished_at.as_deref(),
        }
    }
}

#[utoipa::path(post, path = "/migrations/{name}", tag = "admin",
    summary = "Start a migration of stored records to this version's layout (admins); runs as a job",
    params(("name" = String, Path, description = "The migration, e.g. layout-2026-12")),
    responses((status = 202, description = "The run, started (or the one under way)", body = MigrationView,
        headers(("Location" = String, description = "/migrations/{name}")))))]
pub(super) async fn start_migration(
    State(migrations): State<MigrationService>,
    caller: Caller,
    Param(name): Param,
) -> ApiResult {
    let migration = migrations.start(&caller, &name).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(MigrationView::from(&migration)),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/migrations/{}", migration.name)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/migrations/{name}", tag = "admin",
    summary = "A migration's last run and its progress (admins)",
    params(("name" = String, Path, description = "The migration, e.g. layout-2026-12")),
    responses((status = 200, description = "The run", body = MigrationView)))]
pub(super) async fn get_migration(
    State(migrations): State<MigrationService>,
    caller: Caller,
    Param(name): Param,
) -> ApiResult {
    let migration = migrations.get(&caller, &name).await?;
    Ok(axum::Json(MigrationView::from(&migration)).into_response())
}
