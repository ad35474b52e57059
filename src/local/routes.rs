//! What only `helpdesk serve` has on top of the shared router: uploads of import files and
//! attachment downloads, which the cloud serves with presigned S3 URLs.

use std::sync::Arc;

use helpdesk_shared::app::Local;

use super::DataDir;

/// The customer portal as `helpdesk serve` runs it.
pub struct PortalOptions {
    pub enabled: bool,
    pub sso: Option<helpdesk_shared::services::portal::PortalSso>,
}

/// The API of `helpdesk serve`: the shared router plus what only local mode has, uploads of
/// import files through the API (the cloud uses presigned S3 URLs instead), and the mail
/// connections' status.
pub fn router(
    data: DataDir,
    app: &Local,
    auth: Arc<dyn helpdesk_shared::http::auth::Authenticator>,
    uploaded: Arc<tokio::sync::Notify>,
    public_url: &str,
    portal: PortalOptions,
    mail: super::mail::SharedStatus,
) -> axum::Router {
    let links = helpdesk_shared::http::Links {
        public_url: Some(Arc::from(public_url)),
    };
    let mut state = app.api_state(auth, links);
    state.portal.enabled = portal.enabled;
    state.portal.sso = portal.sso;
    let routes = helpdesk_shared::http::routes()
        .merge(local_routes())
        .layer(axum::Extension(LocalUploads { data, uploaded }))
        .layer(axum::Extension(mail))
        // The folder the API was built over: the download route redeems the tokens it issues.
        .layer(axum::Extension(app.folder().clone()));
    helpdesk_shared::http::with_request_log(routes).with_state(state)
}

helpdesk_shared::route_table! { LOCAL_ROUTES, local_routes;
    "/imports/{id}/file" => { put: upload_import_file },
    // Where `FolderStore::presign_get` URLs point (`objects::DOWNLOAD_ROUTE`).
    "/downloads/{token}" => { get: download },
    // The mail connections' state (admins): a wrong password shows here, not as silence.
    "/status" => { get: super::mail::status_route },
    // Signed webhooks; the cloud publishes to EventBridge instead.
    "/webhooks" => {
        post: helpdesk_shared::http::create_webhook,
        get: helpdesk_shared::http::list_webhooks,
    },
    "/webhooks/{id}" => {
        get: helpdesk_shared::http::get_webhook,
        delete: helpdesk_shared::http::delete_webhook,
    },
    "/webhooks/{id}/replay" => { post: helpdesk_shared::http::replay_webhook },
}

/// Largest file accepted by the local upload route: the largest import.
pub const MAX_UPLOAD_BYTES: u64 = helpdesk_shared::domain::import_job::MAX_IMPORT_FILE_BYTES;

#[derive(Clone)]
struct LocalUploads {
    data: DataDir,
    /// Wakes the folder watcher as soon as a file is in place.
    uploaded: Arc<tokio::sync::Notify>,
}

/// `PUT /imports/{id}/file`: streams the body to `DATA_DIR/imports/{id}.csv` (never whole in
/// memory), then wakes the importer.
async fn upload_import_file(
    axum::extract::State(imports): axum::extract::State<
        helpdesk_shared::services::imports::ImportService,
    >,
    axum::Extension(uploads): axum::Extension<LocalUploads>,
    caller: helpdesk_shared::domain::caller::Caller,
    helpdesk_shared::http::Id(id): helpdesk_shared::http::Id<helpdesk_shared::domain::ids::JobId>,
    body: axum::body::Body,
) -> Result<axum::response::Response, helpdesk_shared::http::ApiError> {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;

    use helpdesk_shared::domain::error::HelpdeskError;
    let job = imports.import_awaiting_upload(&caller, &id).await?;
    let unavailable = |e: std::io::Error| HelpdeskError::Unavailable(format!("upload: {e}"));
    let path = uploads
        .data
        .objects()
        .path(&job.source_key)
        .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(unavailable)?;
    }
    // Written aside and renamed, so the watcher never reads half a file.
    let partial = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(unavailable)?;
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                drop(file);
                let _ = tokio::fs::remove_file(&partial).await;
                let message = format!("the upload was interrupted: {error}");
                return Err(HelpdeskError::bad_request("body", message).into());
            }
        };
        written += chunk.len() as u64;
        if written > MAX_UPLOAD_BYTES {
            drop(file);
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(helpdesk_shared::http::ApiError::PayloadTooLarge);
        }
        file.write_all(&chunk).await.map_err(unavailable)?;
    }
    file.sync_all().await.map_err(unavailable)?;
    drop(file);
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(unavailable)?;
    uploads.uploaded.notify_one();
    Ok((
        axum::http::StatusCode::ACCEPTED,
        axum::Json(helpdesk_shared::http::ImportJobView::new(&job)),
    )
        .into_response())
}

/// `GET /downloads/{token}`: the file a download URL stands for, while its token is valid. The
/// token is the credential, as a presigned S3 URL's signature is.
async fn download(
    axum::Extension(folder): axum::Extension<Arc<helpdesk_shared::objects::FolderStore>>,
    helpdesk_shared::http::Param(token): helpdesk_shared::http::Param,
) -> Result<axum::response::Response, helpdesk_shared::domain::error::HelpdeskError> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let expired = || {
        helpdesk_shared::domain::error::HelpdeskError::NotFound(
            "download (expired or unknown)".into(),
        )
    };
    let (path, save_as) = folder.redeem(&token).ok_or_else(expired)?;
    let file = tokio::fs::File::open(&path).await.map_err(|_| expired())?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&save_as.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    // Always saved, never shown: an HTML or SVG attachment cannot run on this origin.
    if let Ok(value) = HeaderValue::from_str(&save_as.content_disposition()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
