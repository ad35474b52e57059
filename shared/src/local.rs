//! Local mode: the data directory layout, the SQLite store in it, and API keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Helpdesk;
use crate::auth::{ApiKeyAuthenticator, Caller, Role};
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
        let store = SqliteStore::open(&self.root.join(DATABASE_FILE)).map_err(|e| e.to_string())?;
        Ok(Helpdesk::new(Arc::new(store)))
    }

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
