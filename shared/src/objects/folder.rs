//! Local mode's buckets: files under the data dir, keys as relative paths.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::ports::objects::ObjectError;
use crate::ports::objects::ObjectStore;
use crate::ports::objects::SaveAs;

/// Local mode: objects are files under a folder (`DATA_DIR`), keys are relative paths.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
    /// Download tokens handed out by `presign_get`: token → what it downloads. Shared by
    /// clones, so the server that serves `/downloads/{token}` sees the tokens the API issued.
    downloads: Arc<Mutex<HashMap<String, Download>>>,
}

/// What a download token stands for, until when.
#[derive(Debug, Clone)]
struct Download {
    key: String,
    save_as: SaveAs,
    expires: Instant,
}

/// The route local download URLs point at.
pub const DOWNLOAD_ROUTE: &str = "/downloads";

impl FolderStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            downloads: Arc::default(),
        }
    }

    /// The file a download token stands for and how to present it, while the token is valid.
    pub fn redeem(&self, token: &str) -> Option<(PathBuf, SaveAs)> {
        let downloads = self.downloads.lock().ok()?;
        let download = downloads.get(token)?;
        if download.expires < Instant::now() {
            return None;
        }
        Some((self.path(&download.key).ok()?, download.save_as.clone()))
    }

    /// Where to write `key` aside (and the file it is renamed to afterwards), so that a reader
    /// never sees half an object; creates the folders on the way.
    async fn aside(&self, key: &str) -> Result<(PathBuf, PathBuf), ObjectError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error(key, e))?;
        }
        Ok((path.with_extension("partial"), path))
    }

    /// The file for `key`; keys never leave the folder.
    pub fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        let safe = !key.is_empty()
            && !key.starts_with('/')
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if safe {
            Ok(self.root.join(key))
        } else {
            Err(ObjectError::NotFound(key.to_string()))
        }
    }
}

fn io_error(key: &str, error: std::io::Error) -> ObjectError {
    if error.kind() == std::io::ErrorKind::NotFound {
        ObjectError::NotFound(key.to_string())
    } else {
        ObjectError::Unavailable(format!("{key}: {error}"))
    }
}

/// A file written aside (`.partial`) and renamed into place when finished.
struct FolderWriter {
    file: tokio::fs::File,
    partial: PathBuf,
    path: PathBuf,
}

#[async_trait]
impl crate::ports::objects::ObjectWriter for FolderWriter {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ObjectError> {
        use tokio::io::AsyncWriteExt;
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| io_error(&self.path.display().to_string(), e))
    }

    async fn finish(self: Box<Self>) -> Result<(), ObjectError> {
        let failed = |e| io_error(&self.path.display().to_string(), e);
        self.file.sync_all().await.map_err(failed)?;
        tokio::fs::rename(&self.partial, &self.path)
            .await
            .map_err(failed)
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.partial).await;
    }
}

#[async_trait]
impl ObjectStore for FolderStore {
    async fn writer(
        &self,
        key: &str,
        _content_type: &str,
    ) -> Result<Box<dyn crate::ports::objects::ObjectWriter>, ObjectError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error(key, e))?;
        }
        let partial = path.with_extension("partial");
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| io_error(key, e))?;
        Ok(Box::new(FolderWriter {
            file,
            partial,
            path,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let (folder, start) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let dir = if folder.is_empty() {
            self.root.clone()
        } else {
            self.path(folder)?
        };
        // As S3 lists every key under a prefix, the folders under it are walked too.
        let mut keys = Vec::new();
        let mut pending = vec![(dir, folder.to_string(), start.to_string())];
        while let Some((dir, folder, start)) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(prefix, e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| io_error(prefix, e))?
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with(&start) || name.ends_with(".partial") {
                    continue;
                }
                let key = match folder.is_empty() {
                    true => name,
                    false => format!("{folder}/{name}"),
                };
                let is_dir = entry
                    .file_type()
                    .await
                    .map_err(|e| io_error(prefix, e))?
                    .is_dir();
                match is_dir {
                    true => pending.push((entry.path(), key, String::new())),
                    false => keys.push(key),
                }
            }
        }
        Ok(keys)
    }

    async fn reader(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, ObjectError> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(self.path(key)?).map_err(|e| io_error(key, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(key, e))?;
        Ok(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            file,
        )))
    }

    async fn size(&self, key: &str) -> Result<u64, ObjectError> {
        tokio::fs::metadata(self.path(key)?)
            .await
            .map(|m| m.len())
            .map_err(|e| io_error(key, e))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        tokio::fs::read(self.path(key)?)
            .await
            .map_err(|e| io_error(key, e))
    }

    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), ObjectError> {
        let (partial, path) = self.aside(key).await?;
        tokio::fs::write(&partial, body)
            .await
            .map_err(|e| io_error(key, e))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|e| io_error(key, e))
    }

    async fn put_file(
        &self,
        key: &str,
        source: &Path,
        _content_type: &str,
    ) -> Result<(), ObjectError> {
        let (partial, path) = self.aside(key).await?;
        tokio::fs::copy(source, &partial)
            .await
            .map_err(|e| io_error(key, e))?;
        // A copy keeps the source's mode; stored objects are the owner's alone, like the rest
        // of the data directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
                .await
                .map_err(|e| io_error(key, e))?;
        }
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|e| io_error(key, e))
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(key, e)),
            _ => Ok(()),
        }
    }

    async fn presign_put(
        &self,
        _key: &str,
        _expires_in: Duration,
    ) -> Result<Option<String>, ObjectError> {
        Ok(None)
    }

    async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
        save_as: &SaveAs,
    ) -> Result<String, ObjectError> {
        let path = self.path(key)?;
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(ObjectError::NotFound(key.to_string()));
        }
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let mut downloads = self
            .downloads
            .lock()
            .map_err(|_| ObjectError::Unavailable("download tokens poisoned".into()))?;
        // Expired tokens go as new ones come, so the table stays as small as the live ones.
        downloads.retain(|_, download| download.expires > now);
        downloads.insert(
            token.clone(),
            Download {
                key: key.to_string(),
                save_as: save_as.clone(),
                expires: now + expires_in,
            },
        );
        Ok(format!("{DOWNLOAD_ROUTE}/{token}"))
    }
}
