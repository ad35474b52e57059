//! The object-storage port: the buckets (imports, reports, raw mail, bodies, attachments).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

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
