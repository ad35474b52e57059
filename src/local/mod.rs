//! Local mode: the data directory, the SQLite store in it, API keys, and the folders that
//! stand in for the buckets and the mail system.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use helpdesk_shared::app::{self, Local, LocalMail};
use helpdesk_shared::domain::caller::Caller;
use helpdesk_shared::domain::caller::Role;
use helpdesk_shared::http::auth::ApiKeyAuthenticator;
use helpdesk_shared::mail::OutboxMailer;
use helpdesk_shared::services::notifications::WelcomeTemplate;
use helpdesk_shared::services::replies::SupportAddress;
use helpdesk_shared::store::sqlite::SqliteStore;

mod export;
mod imports;
mod inbox;
pub mod mail;
mod routes;
mod server;
mod watch;
mod webhooks;

pub use export::parse_since;
pub use imports::IMPORTS_DIR;
pub use inbox::INBOX_DIR;
pub use routes::{LOCAL_ROUTES, MAX_UPLOAD_BYTES, PortalOptions, router};
pub use server::{Limits, serve};
pub use watch::{log_changes, watch_folders};
pub use webhooks::deliver_webhooks;

pub const DATABASE_FILE: &str = "helpdesk.db";
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// A data directory: the database and the folders that stand in for the buckets.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the directory if needed and makes it the owner's alone (0700), with the
    /// database files 0600: a data dir made by an older version, or under a loose umask, is
    /// tightened on start.
    pub fn open(root: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create data dir {}: {e}", root.display()))?;
        set_mode(root, 0o700)?;
        // Absolute from here on: what it prints names the folder wherever it was started.
        let root = &root
            .canonicalize()
            .map_err(|e| format!("cannot open data dir {}: {e}", root.display()))?;
        // The drop folders exist from the start, so users see where files go.
        for folder in [INBOX_DIR, IMPORTS_DIR] {
            std::fs::create_dir_all(root.join(folder))
                .map_err(|e| format!("cannot create {}: {e}", root.join(folder).display()))?;
        }
        for name in [
            DATABASE_FILE,
            "helpdesk.db-wal",
            "helpdesk.db-shm",
            ADMIN_KEY_FILE,
        ] {
            let path = root.join(name);
            if path.exists() {
                set_mode(&path, 0o600)?;
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Local mode over this data dir: its SQLite store, its folder for the buckets, and mail
    /// to its outbox. Replies go out from `SUPPORT_ADDRESS`, welcome emails from
    /// `WELCOME_SENDER` (default `helpdesk@localhost`); subject and body as in the cloud.
    /// With the portal's address (`helpdesk serve` with the portal on), welcome emails invite
    /// customers to it and sign-in codes are mailed.
    pub fn app(&self, portal_url: Option<&str>) -> Result<Local, String> {
        self.app_sending_with(portal_url, None)
    }

    /// [`DataDir::app`] sending through `mailer` (an SMTP relay) instead of to the outbox.
    pub fn app_sending_with(
        &self,
        portal_url: Option<&str>,
        mailer: Option<Arc<dyn helpdesk_shared::ports::mailer::Mailer>>,
    ) -> Result<Local, String> {
        let store = SqliteStore::open(&self.root.join(DATABASE_FILE))
            .map(Arc::new)
            .map_err(|e| e.to_string())?;
        let sender = std::env::var("WELCOME_SENDER")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "helpdesk@localhost".to_string());
        let mail = LocalMail {
            support: SupportAddress::from_env()?,
            welcome: WelcomeTemplate::with_sender(sender)
                .with_portal(portal_url.map(str::to_string)),
            mailer: mailer.unwrap_or_else(|| Arc::new(self.outbox())),
        };
        Ok(app::local(store, Arc::new(self.objects()), mail))
    }
}

/// Outgoing mail of local mode, one `.eml` file per message.
pub const OUTBOX_DIR: &str = "outbox";

impl DataDir {
    /// The outbox folder's mailer: all of local mode's mail without SMTP, a copy of it with.
    pub fn outbox(&self) -> OutboxMailer {
        OutboxMailer::new(self.root.join(OUTBOX_DIR))
    }
}

/// How long an export too large to answer inline stays in `DATA_DIR/exports/` (as the cloud's
/// bucket rule keeps it): personal data, kept only as long as its link may be used.
pub const EXPORT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl DataDir {
    /// Deletes exports older than [`EXPORT_LIFETIME`]; answers how many.
    pub fn expire_exports(&self) -> Result<usize, String> {
        let folder = self
            .root
            .join(helpdesk_shared::services::privacy::EXPORTS_PREFIX.trim_end_matches('/'));
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(format!("{}: {e}", folder.display())),
        };
        let mut expired = 0;
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > EXPORT_LIFETIME);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                expired += 1;
            }
        }
        Ok(expired)
    }
}

impl DataDir {
    /// The API keys `helpdesk serve` accepts: those of `HELPDESK_API_KEYS` when given, and the
    /// admin key kept in the data dir. That key is made (and printed once) on the first start
    /// without configured keys; configured keys never retire it silently, deleting its file
    /// does. Answers the authenticator and the start-up line that says which keys work.
    pub fn authenticator(
        &self,
        configured: Option<&str>,
    ) -> Result<(ApiKeyAuthenticator, String), String> {
        let path = self.root.join(ADMIN_KEY_FILE);
        let admin = Caller::new("local-admin", [Role::Admin], true);
        let existing = std::fs::read_to_string(&path)
            .ok()
            .map(|key| key.trim().to_string())
            .filter(|key| key.len() >= 16);
        if let Some(spec) = configured.filter(|s| !s.trim().is_empty()) {
            let mut auth =
                ApiKeyAuthenticator::parse(spec).map_err(|e| format!("HELPDESK_API_KEYS: {e}"))?;
            let configured = auth.len();
            let line = match existing {
                Some(key) => {
                    auth.add_key(&key, admin);
                    format!(
                        "API keys: {configured} from HELPDESK_API_KEYS, and the admin key in {} \
                         (delete that file to retire it)",
                        path.display()
                    )
                }
                None => format!("API keys: {configured} from HELPDESK_API_KEYS"),
            };
            return Ok((auth, line));
        }
        let (key, line) = match existing {
            Some(key) => (key, format!("Admin API key: see {}", path.display())),
            None => {
                let key = new_api_key();
                write_private(&path, &key)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let line = format!(
                    "Created an admin API key (kept in {}):\n\n    {key}\n\n\
                     Send it as: Authorization: Bearer {key}",
                    path.display()
                );
                (key, line)
            }
        };
        Ok((ApiKeyAuthenticator::with_key(&key, admin), line))
    }
}

/// A configured public base URL: absolute http(s), no query or fragment, without the final `/`.
pub fn public_url(raw: &str) -> Result<String, String> {
    let bad = || format!("--public-url {raw:?} must be an absolute http:// or https:// URL");
    let url = url::Url::parse(raw.trim()).map_err(|_| bad())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !ok {
        return Err(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// 256 random bits, hex-encoded.
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Sets a file's permission bits (Unix); elsewhere the platform's defaults apply.
fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot make {} private: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes a secret 0600, also over an existing file whose mode was looser.
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
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
