//! Merges: `POST /customers/{email}/merge` (and its preview), `GET /merges/{id}`,
//! `POST /merges/{id}/undo`, with the views they answer.

use super::*;
use crate::domain::field::FieldSet;
use crate::domain::merge::{FieldOrigin, Merge, MergeCounts, MergeStatus, UNDO_DAYS};
use crate::domain::validation::FieldError;
use crate::services::merges::{MergeInput, MergeOutcome, MergePreview, MergeService};

/// A merge as staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Merge)]
pub struct MergeView<'a> {
    pub merge_id: &'a str,
    /// `running` while tickets, notes and history move; `succeeded`; `undoing`, `undone`.
    pub status: MergeStatus,
    /// The customer merged into, by its primary email after the merge.
    pub target: &'a str,
    /// The primary emails of the customers merged in.
    pub sources: Vec<&'a str>,
    /// What moved to the target so far.
    pub moved: &'a MergeCounts,
    pub requested_by: &'a str,
    pub requested_at: &'a str,
    pub finished_at: Option<&'a str>,
    pub undone_at: Option<&'a str>,
    /// Until when `POST /merges/{id}/undo` undoes it.
    pub undo_until: String,
}

impl<'a> From<&'a Merge> for MergeView<'a> {
    fn from(merge: &'a Merge) -> Self {
        MergeView {
            merge_id: &merge.id,
            status: merge.status,
            target: merge.target_after.email(),
            sources: merge.sources.iter().map(|s| s.email()).collect(),
            moved: &merge.counts,
            requested_by: &merge.requested_by,
            requested_at: &merge.requested_at,
            finished_at: merge.finished_at.as_deref(),
            undone_at: merge.undone_at.as_deref(),
            undo_until: merge.requested_at.plus_days(UNDO_DAYS).to_string(),
        }
    }
}

/// What a merge would do (`dry_run`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MergePreview)]
pub struct MergePreviewView<'a> {
    pub dry_run: bool,
    pub target: &'a str,
    /// Each field of the target after the merge, with where its value comes from.
    pub fields: Vec<FieldOriginView<'a>>,
    /// The sources' emails that would become the target's alternates.
    pub new_alternate_emails: &'a [String],
    pub moves: MovesView,
    /// A count stopped at 1,000 per source (the merge moves them all): the preview reads no
    /// further, so its cost is bounded.
    pub moves_capped: bool,
    /// What keeps the merge from going ahead (empty: it can).
    pub conflicts: &'a [FieldError],
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MovesView {
    pub tickets: u64,
    pub notes: u64,
    pub entitlements: u64,
    pub history: u64,
}

/// One field of a preview; a custom field the caller may not view shows only its name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldOrigin)]
pub struct FieldOriginView<'a> {
    pub field: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub value: Option<Value>,
    /// `target` or the emails of the sources the value comes from.
    pub from: &'a [String],
}

impl<'a> MergePreviewView<'a> {
    fn new(preview: &'a MergePreview, fields: &FieldSet, caller: &Caller) -> Self {
        let visible = |key: &str| fields.get(key).is_some_and(|d| d.can_view(caller));
        let view = |origin: &'a FieldOrigin| {
            let mut value = origin.value.clone();
            if origin.field == "custom_fields"
                && let Some(map) = value.as_object_mut()
            {
                map.retain(|key, _| visible(key));
            }
            FieldOriginView {
                field: &origin.field,
                value: Some(value),
                from: &origin.from,
            }
        };
        MergePreviewView {
            dry_run: true,
            target: preview.target.email(),
            fields: preview.plan.origins.iter().map(view).collect(),
            new_alternate_emails: &preview.plan.new_alternates,
            moves: MovesView {
                tickets: preview.moves.tickets,
                notes: preview.moves.notes,
                entitlements: preview.entitlements,
                history: preview.moves.history,
            },
            moves_capped: preview.moves_capped,
            conflicts: &preview.plan.conflicts,
        }
    }
}

fn accepted(merge: &Merge, status: StatusCode) -> Response {
    let mut response = (status, axum::Json(MergeView::from(merge))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/merges/{}", merge.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

#[utoipa::path(post, path = "/customers/{email}/merge", tag = "customers",
    summary = "Merge customers into this one (or preview it with dry_run)",
    params(("email" = String, Path, description = "The customer merged into: a primary or alternate email")),
    request_body = MergeInput,
    responses((status = 202, description = "Merged; tickets, notes and history are moving", body = MergeView,
            headers(("Location" = String, description = "/merges/{id}"))),
        (status = 200, description = "dry_run: what the merge would do", body = MergePreviewView),
        (status = 409, description = "Conflicts keep the merge from going ahead", body = Problem)))]
pub(super) async fn merge_customers(
    State(merges): State<MergeService>,
    caller: Caller,
    Id(email): Id<Email>,
    Input(input): Input<MergeInput>,
) -> ApiResult {
    match merges.merge(&caller, &email, input).await? {
        MergeOutcome::Preview(preview) => {
            let fields = merges.field_set().await?;
            let view = MergePreviewView::new(&preview, &fields, &caller);
            Ok(axum::Json(view).into_response())
        }
        MergeOutcome::Started(merge) => Ok(accepted(&merge, StatusCode::ACCEPTED)),
    }
}

#[utoipa::path(get, path = "/merges/{id}", tag = "customers", summary = "A merge and where it is",
    params(("id" = String, Path, description = "The merge_id")),
    responses((status = 200, description = "The merge", body = MergeView)))]
pub(super) async fn get_merge(
    State(merges): State<MergeService>,
    caller: Caller,
    Id(id): Id<MergeId>,
) -> ApiResult {
    let merge = merges.get_merge(&caller, &id).await?;
    Ok(axum::Json(MergeView::from(&merge)).into_response())
}

#[utoipa::path(post, path = "/merges/{id}/undo", tag = "customers",
    summary = "Undo a merge (within 30 days): the customers as they were",
    params(("id" = String, Path, description = "The merge_id")),
    responses((status = 202, description = "Records restored; tickets, notes and history are moving back", body = MergeView),
        (status = 409, description = "Records changed since the merge (named); nothing was undone", body = Problem)))]
pub(super) async fn undo_merge(
    State(merges): State<MergeService>,
    caller: Caller,
    Id(id): Id<MergeId>,
) -> ApiResult {
    let merge = merges.undo(&caller, &id).await?;
    Ok(accepted(&merge, StatusCode::ACCEPTED))
}
