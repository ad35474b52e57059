//! Object storage, the buckets: S3 in the cloud, a folder locally.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// A blocking reader over `key` from byte `offset`, for parsers on a blocking thread. The
    /// object streams: it is never held in memory whole.
    async fn reader(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, ObjectError>;
    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError>;
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ObjectError>;
    async fn put_file(&self, key: &str, path: &Path, content_type: &str)
    -> Result<(), ObjectError>;
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
    /// A URL a client can PUT the object to, or `None` when uploads go through the API.
    async fn presign_put(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, ObjectError>;
    /// A URL that downloads the object without other credentials until it expires. Local
    /// folders answer a path (`/downloads/…`) on the serving host.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, ObjectError>;
}

/// Local mode: objects are files under a folder (`DATA_DIR`), keys are relative paths.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
    /// Download tokens handed out by `presign_get`: token → (key, expiry). Shared by clones, so
    /// the server that serves `/downloads/{token}` sees the tokens the API issued.
    downloads: Arc<Mutex<HashMap<String, (String, Instant)>>>,
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

    /// The file a download token stands for, while the token is valid.
    pub fn redeem(&self, token: &str) -> Option<(String, PathBuf)> {
        let downloads = self.downloads.lock().ok()?;
        let (key, expires) = downloads.get(token)?;
        if *expires < Instant::now() {
            return None;
        }
        Some((key.clone(), self.path(key).ok()?))
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

#[async_trait]
impl ObjectStore for FolderStore {
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

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, ObjectError> {
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
        downloads.retain(|_, (_, expires)| *expires > now);
        downloads.insert(token.clone(), (key.to_string(), now + expires_in));
        Ok(format!("{DOWNLOAD_ROUTE}/{token}"))
    }
}

/// The cloud: one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn s3_error<E, R>(key: &str, error: aws_sdk_s3::error::SdkError<E, R>) -> ObjectError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let code = error
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or_default()
        .to_string();
    if code == "NoSuchKey" || code == "NotFound" {
        ObjectError::NotFound(key.to_string())
    } else {
        ObjectError::Unavailable(format!(
            "s3 {key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(error)
        ))
    }
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket named by environment variable `variable`, with the AWS configuration from the
    /// environment (S3 addressing path-style when `AWS_S3_FORCE_PATH_STYLE=true`).
    pub async fn from_env(variable: &str) -> Result<Self, String> {
        let bucket = std::env::var(variable).map_err(|_| format!("{variable} is not set"))?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let path_style = std::env::var("AWS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build();
        Ok(Self::new(aws_sdk_s3::Client::from_conf(s3), bucket))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put_body(
        &self,
        key: &str,
        body: aws_sdk_s3::primitives::ByteStream,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn reader(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, ObjectError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if offset > 0 {
            request = request.range(format!("bytes={offset}-"));
        }
        let output = request.send().await.map_err(|e| s3_error(key, e))?;
        // The body streams from S3 as the blocking parser pulls it.
        let bridge = tokio_util::io::SyncIoBridge::new(output.body.into_async_read());
        Ok(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            bridge,
        )))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        let mut output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(key, e))?;
        // Chunks go straight into one buffer of the announced size: a 40 MB mail costs 40 MB,
        // not the two or three copies that collecting and flattening would.
        let size = output
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(size);
        while let Some(chunk) = output
            .body
            .try_next()
            .await
            .map_err(|e| ObjectError::Unavailable(format!("s3 {key}: {e}")))?
        {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        self.put_body(key, body.into(), content_type).await
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path)
            .await
            .map_err(|e| ObjectError::Unavailable(format!("{}: {e}", path.display())))?;
        self.put_body(key, body, content_type).await
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, ObjectError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in)
            .map_err(|e| ObjectError::Unavailable(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/csv")
            .presigned(config)
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(Some(request.uri().to_string()))
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, ObjectError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in)
            .map_err(|e| ObjectError::Unavailable(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(request.uri().to_string())
    }
}
