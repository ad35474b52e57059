//! Local mode: the data directory layout, the SQLite store in it, and API keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::caller::Caller;
use crate::domain::caller::Role;
use crate::http::auth::ApiKeyAuthenticator;
use crate::services::Helpdesk;
use crate::store::sqlite::SqliteStore;

pub const DATABASE_FILE: &str = "helpdesk.db";
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// A data directory: the database and the folders that stand in for the buckets.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn open(root: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create data dir {}: {e}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn helpdesk(&self) -> Result<Helpdesk, String> {
        Ok(Helpdesk::new(self.store()?))
    }

    /// The SQLite store itself, for what only local mode asks of it (welcome emails due).
    pub fn store(&self) -> Result<Arc<SqliteStore>, String> {
        SqliteStore::open(&self.root.join(DATABASE_FILE))
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    /// Welcome emails go to `DATA_DIR/outbox/` as `.eml` files. The sender comes from
    /// `WELCOME_SENDER` (default `helpdesk@localhost`); subject and body as in the cloud.
    pub fn notifier(&self, helpdesk: &Helpdesk) -> crate::services::notifications::Notifier {
        let sender = std::env::var("WELCOME_SENDER")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "helpdesk@localhost".to_string());
        crate::services::notifications::Notifier {
            helpdesk: helpdesk.clone(),
            mailer: Arc::new(crate::mail::OutboxMailer::new(self.root.join(OUTBOX_DIR))),
            template: crate::services::notifications::WelcomeTemplate::with_sender(sender),
        }
    }
}

/// Outgoing mail of local mode, one `.eml` file per message.
pub const OUTBOX_DIR: &str = "outbox";

/// Sends the welcome emails that are due (local mode's stand-in for the table's stream).
pub async fn send_due_welcomes(
    store: &SqliteStore,
    notifier: &crate::services::notifications::Notifier,
) -> Result<usize, String> {
    let due = store.welcomes_due(100).await.map_err(|e| e.to_string())?;
    let mut sent = 0;
    for customer in due {
        match notifier.welcome(customer.email()).await {
            Ok(crate::services::notifications::WelcomeOutcome::Sent) => sent += 1,
            Ok(_) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(sent)
}

impl DataDir {
    /// Keys from `HELPDESK_API_KEYS` when given; otherwise the admin key kept in the data dir,
    /// created on first start. Returns the authenticator and, when a key was just created, it.
    pub fn authenticator(
        &self,
        configured: Option<&str>,
    ) -> Result<(ApiKeyAuthenticator, Option<String>), String> {
        if let Some(spec) = configured.filter(|s| !s.trim().is_empty()) {
            return ApiKeyAuthenticator::parse(spec)
                .map(|a| (a, None))
                .map_err(|e| format!("HELPDESK_API_KEYS: {e}"));
        }
        let path = self.root.join(ADMIN_KEY_FILE);
        let (key, created) = match std::fs::read_to_string(&path) {
            Ok(existing) if existing.trim().len() >= 16 => (existing.trim().to_string(), false),
            _ => {
                let key = new_api_key();
                write_private(&path, &key)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                (key, true)
            }
        };
        let caller = Caller::new("local-admin", [Role::Admin], true);
        Ok((
            ApiKeyAuthenticator::with_key(&key, caller),
            created.then_some(key),
        ))
    }
}

/// 256 random bits, hex-encoded.
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Drop CSV files here (`DATA_DIR/imports/`) and `helpdesk serve` imports them.
pub const IMPORTS_DIR: &str = "imports";

impl DataDir {
    /// Objects of the data dir (imports, reports), keyed by path relative to it.
    pub fn objects(&self) -> crate::objects::FolderStore {
        crate::objects::FolderStore::new(self.root.clone())
    }

    /// Imports one file from anywhere on disk, as `helpdesk import FILE` does.
    pub async fn import_file(
        &self,
        helpdesk: &Helpdesk,
        file: &Path,
        options: crate::domain::import_job::ImportOptions,
        progress: Option<crate::services::imports::ProgressFn>,
    ) -> Result<crate::domain::import_job::ImportJob, String> {
        use crate::domain::import_job::{ImportJob, RunAs};
        use crate::services::imports::{ImportContext, RunOptions, run_import};
        options.validate().map_err(|e| {
            e.field_errors()
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let file = file
            .canonicalize()
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let (Some(folder), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str()))
        else {
            return Err(format!("{} is not a file name", file.display()));
        };
        let job = ImportJob::new(
            crate::domain::clock::new_id(),
            name.to_string(),
            options,
            RunAs::system(),
        );
        helpdesk
            .store()
            .insert_import_job(&job)
            .await
            .map_err(|e| e.to_string())?;
        let context = ImportContext {
            helpdesk: helpdesk.clone(),
            sources: Arc::new(crate::objects::FolderStore::new(folder)),
            reports: Arc::new(self.objects()),
        };
        let run = RunOptions {
            progress,
            ..RunOptions::default()
        };
        run_import(&context, &job.id, run)
            .await
            .map(|outcome| outcome.job().clone())
            .map_err(|e| e.to_string())
    }

    /// Imports the CSV files dropped into `DATA_DIR/imports/` that have no finished job yet.
    /// A file's version is its size and modification time, so a file replaced later is imported
    /// again and an unchanged one never twice.
    pub async fn import_dropped_files(
        &self,
        helpdesk: &Helpdesk,
    ) -> Result<Vec<crate::domain::import_job::ImportJob>, String> {
        use crate::services::imports::{ImportContext, RunOptions, run_import};
        let folder = self.root.join(IMPORTS_DIR);
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", folder.display())),
        };
        let context = ImportContext {
            helpdesk: helpdesk.clone(),
            sources: Arc::new(self.objects()),
            reports: Arc::new(self.objects()),
        };
        let mut finished = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() || !name.to_ascii_lowercase().ends_with(".csv") {
                continue;
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let key = format!("{IMPORTS_DIR}/{name}");
            let job = helpdesk
                .job_for_object(&key, &format!("{}-{modified}", meta.len()))
                .await
                .map_err(|e| e.to_string())?;
            if job.is_finished() {
                continue;
            }
            let outcome = run_import(&context, &job.id, RunOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            finished.push(outcome.job().clone());
        }
        Ok(finished)
    }
}

/// The API of `helpdesk serve`: the shared router plus what only local mode has, uploads of
/// import files through the API (the cloud uses presigned S3 URLs instead).
pub fn router(
    data: DataDir,
    helpdesk: Helpdesk,
    auth: Arc<dyn crate::http::auth::Authenticator>,
    uploaded: Arc<tokio::sync::Notify>,
) -> axum::Router {
    // One folder store for the API and the download route, so download tokens it issues are
    // the ones the route redeems.
    let folder = Arc::new(data.objects());
    let state = crate::http::AppState {
        helpdesk,
        auth,
        objects: folder.clone(),
        mail: folder.clone(),
    };
    let routes = crate::http::routes()
        .merge(local_routes())
        .layer(axum::Extension(LocalUploads { data, uploaded }))
        .layer(axum::Extension(folder));
    crate::http::with_request_log(routes).with_state(state)
}

crate::route_table! { LOCAL_ROUTES, local_routes;
    "/imports/{id}/file" => { put: upload_import_file },
    // Where `FolderStore::presign_get` URLs point (`objects::DOWNLOAD_ROUTE`).
    "/downloads/{token}" => { get: download },
}

/// Largest file accepted by the local upload route.
pub const MAX_UPLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;

#[derive(Clone)]
struct LocalUploads {
    data: DataDir,
    /// Wakes the folder watcher as soon as a file is in place.
    uploaded: Arc<tokio::sync::Notify>,
}

/// `PUT /imports/{id}/file`: streams the body to `DATA_DIR/imports/{id}.csv` (never whole in
/// memory), then wakes the importer.
async fn upload_import_file(
    axum::extract::State(state): axum::extract::State<crate::http::AppState>,
    axum::Extension(uploads): axum::Extension<LocalUploads>,
    caller: crate::domain::caller::Caller,
    crate::http::Param(id): crate::http::Param,
    body: axum::body::Body,
) -> Result<axum::response::Response, crate::domain::error::HelpdeskError> {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;

    use crate::domain::error::HelpdeskError;
    let job = state.helpdesk.get_import(&caller, &id).await?;
    if job.source_etag.is_some() || job.status != crate::domain::import_job::ImportStatus::Pending {
        return Err(HelpdeskError::conflict(
            "file",
            "this import already has its file; create a new import",
        ));
    }
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
                return Err(HelpdeskError::bad_request(
                    "body",
                    format!("the upload was interrupted: {error}"),
                ));
            }
        };
        written += chunk.len() as u64;
        if written > MAX_UPLOAD_BYTES {
            drop(file);
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(HelpdeskError::PayloadTooLarge);
        }
        file.write_all(&chunk).await.map_err(unavailable)?;
    }
    file.sync_all().await.map_err(unavailable)?;
    drop(file);
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(unavailable)?;
    uploads.uploaded.notify_one();
    Ok((axum::http::StatusCode::ACCEPTED, axum::Json(job.view())).into_response())
}

/// `GET /downloads/{token}`: the file a download URL stands for, while its token is valid. The
/// token is the credential, as a presigned S3 URL's signature is.
async fn download(
    axum::Extension(folder): axum::Extension<Arc<crate::objects::FolderStore>>,
    crate::http::Param(token): crate::http::Param,
) -> Result<axum::response::Response, crate::domain::error::HelpdeskError> {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let expired =
        || crate::domain::error::HelpdeskError::NotFound("download (expired or unknown)".into());
    let (key, path) = folder.redeem(&token).ok_or_else(expired)?;
    let file = tokio::fs::File::open(&path).await.map_err(|_| expired())?;
    // Attachment keys end in `<n>-<file name>`.
    let name = key
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once('-').map(|(_, name)| name))
        .unwrap_or("download");
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Drop `.eml` files here (`DATA_DIR/inbox/`) and `helpdesk serve` ingests them.
pub const INBOX_DIR: &str = "inbox";

impl DataDir {
    /// The mail context of local mode: raw mail, attachments and bodies live in the data dir.
    pub fn mail(&self, helpdesk: &Helpdesk) -> crate::services::inbound::MailContext {
        crate::services::inbound::MailContext {
            helpdesk: helpdesk.clone(),
            mail: Arc::new(self.objects()),
        }
    }

    /// Ingests one `.eml` file, as `helpdesk ingest FILE` does. Its id is a digest of its bytes,
    /// so the same file ingested twice is recognised; the raw message is kept under
    /// `DATA_DIR/inbound/`.
    pub async fn ingest_file(
        &self,
        helpdesk: &Helpdesk,
        file: &Path,
    ) -> Result<crate::domain::inbound::InboundRecord, String> {
        let raw = tokio::fs::read(file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let id = format!(
            "eml-{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &raw).simple()
        );
        let raw_key = format!("{}{id}.eml", crate::domain::inbound::INBOUND_PREFIX);
        let context = self.mail(helpdesk);
        if let Some(existing) = helpdesk
            .store()
            .get_inbound(&id)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(existing);
        }
        context
            .mail
            .put_file(&raw_key, file, "message/rfc822")
            .await
            .map_err(|e| e.to_string())?;
        let envelope = crate::services::inbound::Envelope {
            id,
            raw_key,
            received_at: crate::domain::clock::now(),
            verdicts: None,
        };
        context
            .ingest_new(envelope, &raw)
            .await
            .map_err(|e| e.to_string())
    }

    /// Ingests the `.eml` files dropped into `DATA_DIR/inbox/`; each is removed once its outcome
    /// is recorded (its raw copy stays under `DATA_DIR/inbound/`). A file whose ingestion hit a
    /// transient error stays for the next round.
    pub async fn ingest_dropped_mail(
        &self,
        helpdesk: &Helpdesk,
    ) -> Result<Vec<crate::domain::inbound::InboundRecord>, String> {
        let folder = self.root.join(INBOX_DIR);
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", folder.display())),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
            })
            .collect();
        // Oldest name first: a mail client's export numbers messages in order.
        paths.sort();
        let mut done = Vec::new();
        for path in paths {
            match self.ingest_file(helpdesk, &path).await {
                Ok(record) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    done.push(record);
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "ingest failed; will retry")
                }
            }
        }
        Ok(done)
    }
}

/// Imports files dropped into `DATA_DIR/imports/` (or uploaded), ingests mail dropped into
/// `DATA_DIR/inbox/` and writes due welcome emails to `DATA_DIR/outbox/`, checking every two seconds and whenever `uploaded` is notified. Runs until
/// the process ends.
pub async fn watch_folders(
    data: DataDir,
    helpdesk: Helpdesk,
    store: Arc<SqliteStore>,
    uploaded: Arc<tokio::sync::Notify>,
) {
    let notifier = data.notifier(&helpdesk);
    loop {
        if let Err(error) = send_due_welcomes(&store, &notifier).await {
            tracing::warn!(%error, "welcome emails: will retry");
        }
        match data.ingest_dropped_mail(&helpdesk).await {
            Ok(records) => {
                for record in records {
                    tracing::info!(inbound = %record.id, status = record.status.as_str(), ticket = record.ticket_id.as_deref().unwrap_or_default(), reason = record.reason.as_deref().unwrap_or_default(), "mail from the inbox");
                }
            }
            Err(error) => tracing::warn!(%error, "inbox scan failed; retrying"),
        }
        match data.import_dropped_files(&helpdesk).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::info!(job = %job.id, file = %job.source_key, status = ?job.status, counts = ?job.counts, "import done");
                }
            }
            Err(error) => tracing::warn!(%error, "import of dropped files failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            () = uploaded.notified() => {}
        }
    }
}
