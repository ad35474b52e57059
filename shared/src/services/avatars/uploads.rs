//! Direct uploads (cloud): a client asks for a short-lived URL, PUTs the picture into the
//! import bucket's quarantine (`avatar-uploads/incoming/`), and the csv-import function
//! processes it from the S3 event. A claim object beside it says whose avatar it becomes and,
//! once processed, how it went, for the client to read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AvatarService;
#[cfg(feature = "avatars")]
use crate::domain::avatar::MAX_AVATAR_BYTES;
use crate::domain::caller::Caller;
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::provenance::Actor;
use crate::domain::timestamp::Timestamp;
use crate::domain::validation::FieldError;
use crate::ports::objects::ObjectError;
use crate::services::customers::find_customer;

/// Where uploaded pictures wait to be processed (the function's S3 trigger).
pub const INCOMING_PREFIX: &str = "avatar-uploads/incoming/";
const CLAIMS_PREFIX: &str = "avatar-uploads/claims/";
/// How long an upload URL works.
const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Waiting for the picture (or for its processing).
    Waiting,
    /// Processed: the customer's avatar is the picture.
    Done,
    /// The picture was refused; `problem` says why. Nothing changed.
    Refused,
}

/// One direct upload: its claim, and (when just asked for) the URL to PUT the picture to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AvatarUpload {
    pub id: String,
    pub customer_id: String,
    /// The customer's address when the upload was asked for; the picture goes to them. Kept
    /// while the upload waits, and dropped once it is processed: a settled claim (kept for the
    /// client to read, until the bucket's lifecycle ends it) names nobody, so nothing an
    /// erasure cannot reach holds the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    pub status: UploadStatus,
    /// The status a synchronous upload would have answered, and the fields' errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<UploadProblem>,
    pub requested_by: Actor,
    pub expires_at: Timestamp,
    #[serde(skip)]
    pub upload_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadProblem {
    pub status: u16,
    pub errors: Vec<FieldError>,
}

impl AvatarService {
    /// A URL to PUT a picture of at most 5 MiB to, valid 15 minutes, for a customer. Only
    /// where uploads go to a bucket (the cloud); locally the picture is PUT to the API.
    pub async fn upload_url(
        &self,
        caller: &Caller,
        email: &Email,
    ) -> Result<AvatarUpload, HelpdeskError> {
        caller.require_staff()?;
        let customer = find_customer(self.customers.as_ref(), email).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let url = self
            .uploads
            .presign_put(&format!("{INCOMING_PREFIX}{id}"), UPLOAD_URL_LIFETIME)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                HelpdeskError::NotFound(
                    "upload URLs (this server takes the picture itself: PUT it to \
                     /customers/{email}/avatar)"
                        .into(),
                )
            })?;
        let mut upload = AvatarUpload {
            id,
            customer_id: customer.id.clone(),
            email: Some(customer.profile.email.clone()),
            status: UploadStatus::Waiting,
            problem: None,
            requested_by: Actor::caller(&caller.subject),
            expires_at: Timestamp::after(UPLOAD_URL_LIFETIME),
            upload_url: None,
        };
        self.save_claim(&upload).await?;
        upload.upload_url = Some(url);
        Ok(upload)
    }

    /// How a direct upload for the customer went.
    pub async fn upload_status(
        &self,
        caller: &Caller,
        email: &Email,
        id: &str,
    ) -> Result<AvatarUpload, HelpdeskError> {
        caller.require_staff()?;
        let customer = find_customer(self.customers.as_ref(), email).await?;
        self.claim(id)
            .await?
            .filter(|claim| claim.customer_id == customer.id)
            .ok_or_else(|| HelpdeskError::NotFound(format!("avatar upload {id}")))
    }

    /// Processes the picture uploaded at `key` (an S3 event): the customer's avatar becomes
    /// it, or the claim says why not. Redelivered events find the claim settled and only tidy
    /// up. Fails (for a retry) only when storage does.
    #[cfg(feature = "avatars")]
    pub async fn process_upload(&self, key: &str) -> Result<UploadStatus, HelpdeskError> {
        let Some(id) = key.strip_prefix(INCOMING_PREFIX) else {
            return Err(HelpdeskError::bad_request("key", "not an avatar upload"));
        };
        let Some(mut claim) = self.claim(id).await? else {
            tracing::warn!(%key, "an avatar upload without a claim; deleted");
            self.discard(key).await?;
            return Ok(UploadStatus::Refused);
        };
        if claim.status == UploadStatus::Waiting {
            let outcome = self.apply_upload(key, &claim).await;
            match outcome {
                Ok(()) => claim.status = UploadStatus::Done,
                Err(error) if is_clients(&error) => {
                    claim.status = UploadStatus::Refused;
                    claim.problem = Some(UploadProblem {
                        status: error.status(),
                        errors: error.field_errors(),
                    });
                }
                Err(error) => return Err(error),
            }
            claim.email = None;
            self.save_claim(&claim).await?;
        }
        self.discard(key).await?;
        Ok(claim.status)
    }

    #[cfg(feature = "avatars")]
    async fn apply_upload(&self, key: &str, claim: &AvatarUpload) -> Result<(), HelpdeskError> {
        let size = self.uploads.size(key).await.map_err(unavailable)?;
        if size > MAX_AVATAR_BYTES as u64 {
            return Err(HelpdeskError::TooLarge(vec![FieldError::new(
                "body",
                format!("an avatar may be at most {} MiB", MAX_AVATAR_BYTES >> 20),
            )]));
        }
        let image = self.uploads.get(key).await.map_err(unavailable)?;
        let gone = || HelpdeskError::NotFound(format!("customer {}", claim.customer_id));
        let email = claim.email.as_ref().ok_or_else(gone)?;
        let customer = find_customer(self.customers.as_ref(), email).await?.clone();
        if customer.id != claim.customer_id {
            return Err(gone());
        }
        self.store_picture(customer, image, claim.requested_by.clone())
            .await
            .map(|_| ())
    }

    async fn claim(&self, id: &str) -> Result<Option<AvatarUpload>, HelpdeskError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Ok(None);
        }
        match self.uploads.get(&format!("{CLAIMS_PREFIX}{id}.json")).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| HelpdeskError::Unavailable(format!("avatar claim {id}: {e}"))),
            Err(ObjectError::NotFound(_)) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn save_claim(&self, claim: &AvatarUpload) -> Result<(), HelpdeskError> {
        let body =
            serde_json::to_vec(claim).map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        self.uploads
            .put(
                &format!("{CLAIMS_PREFIX}{}.json", claim.id),
                body,
                "application/json",
            )
            .await
            .map_err(unavailable)
    }

    #[cfg(feature = "avatars")]
    async fn discard(&self, key: &str) -> Result<(), HelpdeskError> {
        match self.uploads.delete(key).await {
            Ok(()) | Err(ObjectError::NotFound(_)) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn unavailable(error: ObjectError) -> HelpdeskError {
    match error {
        ObjectError::NotFound(key) => HelpdeskError::NotFound(key),
        ObjectError::Unavailable(e) => HelpdeskError::Unavailable(e),
    }
}

/// Whether the upload itself is at fault (refused for good), not the storage.
#[cfg(feature = "avatars")]
fn is_clients(error: &HelpdeskError) -> bool {
    !matches!(error, HelpdeskError::Unavailable(_))
}
