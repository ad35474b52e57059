//! The cloud's buckets: S3.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::aws::{AwsConfig, LazyClient};
use crate::ports::objects::ObjectError;
use crate::ports::objects::ObjectStore;
use crate::ports::objects::SaveAs;

/// The cloud: one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Arc<LazyClient<aws_sdk_s3::Client>>,
    bucket: String,
}

/// An S3 client for the configuration: path-style addressing when
/// `AWS_S3_FORCE_PATH_STYLE=true` (local endpoints).
fn s3_client(config: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("AWS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

use super::s3_errors::s3_error;

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client: Arc::new(LazyClient::ready(client, s3_client)),
            bucket: bucket.into(),
        }
    }

    /// The bucket named by environment variable `variable`. Its client is built from the
    /// process's one AWS configuration when the first request needs it.
    pub fn from_config(config: &AwsConfig, variable: &str) -> Result<Self, String> {
        let bucket = std::env::var(variable).map_err(|_| format!("{variable} is not set"))?;
        Ok(Self {
            client: Arc::new(LazyClient::deferred(config, s3_client)),
            bucket,
        })
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get().await
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
        self.client()
            .await
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
    async fn writer(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<Box<dyn crate::ports::objects::ObjectWriter>, ObjectError> {
        Ok(Box::new(super::s3_upload::S3Upload {
            client: self.client().await.clone(),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            content_type: content_type.to_string(),
            upload_id: None,
            parts: Vec::new(),
            buffer: Vec::with_capacity(super::s3_upload::PART_BYTES),
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let client = self.client().await;
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| s3_error(prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(keys),
            }
        }
    }

    async fn reader(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, ObjectError> {
        let mut request = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key);
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

    async fn size(&self, key: &str) -> Result<u64, ObjectError> {
        let output = self
            .client()
            .await
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(output
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_default())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        let mut output = self
            .client()
            .await
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

    async fn put_immutable(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        self.client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(crate::ports::objects::IMMUTABLE)
            .body(body.into())
            .send()
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(())
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
        self.client()
            .await
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
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/csv")
            .presigned(config)
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(Some(request.uri().to_string()))
    }

    async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
        save_as: &SaveAs,
    ) -> Result<String, ObjectError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in)
            .map_err(|e| ObjectError::Unavailable(e.to_string()))?;
        let request = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            // S3 answers with these headers whatever the object was stored with.
            .response_content_disposition(save_as.content_disposition())
            .response_content_type(&save_as.content_type)
            .presigned(config)
            .await
            .map_err(|e| s3_error(key, e))?;
        Ok(request.uri().to_string())
    }
}
