//! Writing an S3 object piece by piece: a multipart upload whose parts go out as they fill, or
//! one `PutObject` for an object smaller than a part.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::s3_errors::s3_error;
use crate::ports::objects::{ObjectError, ObjectWriter};

/// Bytes per part: S3 takes 5 MiB at least (but the last); 8 MiB keeps 10,000 parts (its most)
/// above 78 GiB.
pub(super) const PART_BYTES: usize = 8 * 1024 * 1024;

pub(super) struct S3Upload {
    pub(super) client: aws_sdk_s3::Client,
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) content_type: String,
    pub(super) upload_id: Option<String>,
    pub(super) parts: Vec<CompletedPart>,
    pub(super) buffer: Vec<u8>,
}

impl S3Upload {
    async fn upload_id(&mut self) -> Result<String, ObjectError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type(&self.content_type)
            .send()
            .await
            .map_err(|e| s3_error(&self.key, e))?;
        let id = created
            .upload_id()
            .ok_or_else(|| ObjectError::Unavailable(format!("s3 {}: no upload id", self.key)))?
            .to_string();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn send_part(&mut self, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let upload_id = self.upload_id().await?;
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| ObjectError::Unavailable(format!("s3 {}: too many parts", self.key)))?;
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| s3_error(&self.key, e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Upload {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ObjectError> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= PART_BYTES {
            let rest = self.buffer.split_off(PART_BYTES);
            let part = std::mem::replace(&mut self.buffer, rest);
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), ObjectError> {
        let Some(upload_id) = self.upload_id.clone() else {
            // Smaller than a part: one request.
            let body = std::mem::take(&mut self.buffer);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| s3_error(&self.key, e))?;
            return Ok(());
        };
        if !self.buffer.is_empty() {
            let last = std::mem::take(&mut self.buffer);
            self.send_part(last).await?;
        }
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(parts)
            .send()
            .await
            .map_err(|e| s3_error(&self.key, e))?;
        Ok(())
    }

    async fn abort(self: Box<Self>) {
        if let Some(upload_id) = &self.upload_id {
            // Best effort: the bucket's lifecycle rule also ends uploads left incomplete.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await;
        }
    }
}
