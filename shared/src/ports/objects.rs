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

/// How a download presents itself to a browser: always saved as a file (never rendered on the
/// bucket's or server's origin), under `filename`, as `content_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveAs {
    pub filename: String,
    pub content_type: String,
}

impl SaveAs {
    /// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII fallback and the exact name.
    pub fn content_disposition(&self) -> String {
        let ascii: String = self
            .filename
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded: String = self
            .filename
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

/// An object written piece by piece (a customer export): nothing is readable under its key
/// until `finish`, and `abort` leaves nothing behind. S3 sends full parts as they fill (a
/// multipart upload), so memory holds one part, whatever the object's size.
#[async_trait]
pub trait ObjectWriter: Send {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ObjectError>;
    async fn finish(self: Box<Self>) -> Result<(), ObjectError>;
    async fn abort(self: Box<Self>);
}

/// What content-named objects (avatars) are served with: cached for good.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// A writer for a new object at `key` (replacing any there once finished).
    async fn writer(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<Box<dyn ObjectWriter>, ObjectError>;
    /// A blocking reader over `key` from byte `offset`, for parsers on a blocking thread. The
    /// object streams: it is never held in memory whole.
    async fn reader(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, ObjectError>;
    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError>;
    /// The object's size in bytes, read without reading the object.
    async fn size(&self, key: &str) -> Result<u64, ObjectError>;
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ObjectError>;
    async fn put_file(&self, key: &str, path: &Path, content_type: &str)
    -> Result<(), ObjectError>;
    /// Puts an object whose key names its content (it never changes), marked so that caches
    /// keep it for good (`Cache-Control: immutable`). Folders have no such mark: the server
    /// that serves them sends it.
    async fn put_immutable(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        self.put(key, body, content_type).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
    /// The keys that start with `prefix` (a folder and the start of a name), in no particular
    /// order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError>;
    /// A URL a client can PUT the object to, or `None` when uploads go through the API.
    async fn presign_put(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, ObjectError>;
    /// A URL that downloads the object without other credentials until it expires, always as
    /// a file ([`SaveAs`]). Local folders answer a path (`/downloads/…`) on the serving host.
    async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
        save_as: &SaveAs,
    ) -> Result<String, ObjectError>;
}
