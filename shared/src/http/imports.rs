//! `/imports`: import jobs, their upload URLs and the CSV template.

#[allow(unused_imports)]
use super::*;

pub(super) async fn create_import(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let created = s
        .helpdesk
        .create_import(&caller, s.objects.as_ref(), body)
        .await?;
    let mut view = created.job.view();
    // Without presigning (local mode) the file goes to this API's own upload route.
    let upload_url = created.upload_url.unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:3000");
        format!("http://{host}/imports/{}/file", created.job.id)
    });
    view["upload_url"] = json!(upload_url);
    view["upload_method"] = json!("PUT");
    Ok(with_etag(StatusCode::CREATED, created.job.version, view))
}

pub(super) async fn get_import(
    State(s): State<AppState>,
    caller: Caller,
    Param(id): Param,
) -> ApiResult {
    let job = s.helpdesk.get_import(&caller, &id).await?;
    Ok(with_etag(StatusCode::OK, job.version, job.view()))
}

pub(super) async fn import_template(caller: Caller) -> ApiResult {
    caller.require_staff()?;
    let mut response = crate::domain::import_mapping::TEMPLATE_CSV.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"customers-template.csv\""),
    );
    Ok(response)
}
