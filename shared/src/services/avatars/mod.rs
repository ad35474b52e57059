//! Avatars: agents (and customers in the portal) upload a picture; it is checked, processed
//! into square sizes and stored under content-named keys, and the customer record points at
//! it. In the cloud a client may also upload straight to the bucket through a short-lived URL;
//! the csv-import function then processes the upload from its S3 event.

#[cfg(feature = "avatars")]
mod picture;
mod uploads;

#[cfg(feature = "avatars")]
pub use picture::{Picture, process};
pub use uploads::{AvatarUpload, INCOMING_PREFIX, UploadStatus};

use std::sync::Arc;

use crate::domain::avatar::{AVATAR_PREFIX, AvatarImage, AvatarRefusal, folder_of};
use crate::domain::caller::Caller;
use crate::domain::customer::Customer;
use crate::domain::email::Email;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::provenance::Actor;
use crate::ports::objects::ObjectStore;
use crate::ports::store::CustomerStore;
use crate::services::customers::find_customer;

/// Tries at writing the record when it changed meanwhile (a concurrent edit).
const WRITE_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct AvatarService {
    customers: Arc<dyn CustomerStore>,
    /// Where the processed sizes are kept (the mail bucket, or the data folder).
    pictures: Arc<dyn ObjectStore>,
    /// Where direct uploads land and wait (the import bucket), with their claims.
    uploads: Arc<dyn ObjectStore>,
}

impl AvatarService {
    pub fn new(
        customers: Arc<dyn CustomerStore>,
        pictures: Arc<dyn ObjectStore>,
        uploads: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            customers,
            pictures,
            uploads,
        }
    }

    /// An agent sets a customer's avatar from an image's bytes.
    #[cfg(feature = "avatars")]
    pub async fn set(
        &self,
        caller: &Caller,
        email: &Email,
        image: Vec<u8>,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let current = find_customer(self.customers.as_ref(), email).await?;
        self.store_picture(current, image, Actor::caller(&caller.subject))
            .await
    }

    /// An agent removes a customer's uploaded avatar (its pictures are deleted).
    pub async fn remove(&self, caller: &Caller, email: &Email) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let current = find_customer(self.customers.as_ref(), email).await?;
        self.point_at(current, None, Actor::caller(&caller.subject))
            .await
    }

    /// The customer sets their own avatar (portal).
    #[cfg(feature = "avatars")]
    pub async fn set_own(
        &self,
        customer: &Customer,
        image: Vec<u8>,
    ) -> Result<Customer, HelpdeskError> {
        let by = Actor::Portal {
            customer: customer.id.clone(),
        };
        self.store_picture(customer.clone(), image, by).await
    }

    /// The customer removes their own avatar (portal).
    pub async fn remove_own(&self, customer: &Customer) -> Result<Customer, HelpdeskError> {
        let by = Actor::Portal {
            customer: customer.id.clone(),
        };
        self.point_at(customer.clone(), None, by).await
    }

    /// Checks and processes `image` (on a blocking thread), stores its sizes, then points the
    /// customer at them. A refused image changes nothing.
    #[cfg(feature = "avatars")]
    async fn store_picture(
        &self,
        current: Customer,
        image: Vec<u8>,
        by: Actor,
    ) -> Result<Customer, HelpdeskError> {
        let picture = tokio::task::spawn_blocking(move || process(&image))
            .await
            .map_err(|e| HelpdeskError::Unavailable(format!("image processing stopped: {e}")))?
            .map_err(refused)?;
        let avatar = AvatarImage {
            key: format!("{AVATAR_PREFIX}{}/{}", current.id, picture.hash),
            format: picture.format,
            uploaded_at: crate::domain::clock::now(),
        };
        if current.avatar_image.as_ref().map(|a| &a.key) == Some(&avatar.key) {
            return Ok(current);
        }
        for (size, body) in picture.sizes {
            self.pictures
                .put_immutable(&avatar.object_key(size), body, avatar.format.content_type())
                .await
                .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        }
        self.point_at(current, Some(avatar), by).await
    }

    /// Writes the customer with `avatar` (or none), re-reading on a concurrent change; then
    /// deletes the pictures it no longer points at, if they were its own (a picture a merge
    /// took from a source stays for the merge's undo).
    async fn point_at(
        &self,
        mut current: Customer,
        avatar: Option<AvatarImage>,
        by: Actor,
    ) -> Result<Customer, HelpdeskError> {
        for _ in 0..WRITE_ATTEMPTS {
            if current.avatar_image.as_ref().map(|a| &a.key) == avatar.as_ref().map(|a| &a.key) {
                return Ok(current);
            }
            let mut next = current.next_version(
                current.profile.clone(),
                &crate::domain::clock::now(),
                by.clone(),
            );
            next.avatar_image = avatar.clone();
            match self.customers.replace_customer(&current, &next).await {
                Ok(()) => {
                    self.forget(current.avatar_image.as_ref(), &current.id)
                        .await;
                    return Ok(next);
                }
                Err(StoreError::VersionMismatch) => {
                    current =
                        find_customer(self.customers.as_ref(), &current.profile.email).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(HelpdeskError::PreconditionFailed)
    }

    /// Deletes the pictures of a deleted customer: every one uploaded for them, and the one
    /// they pointed at. Best effort: what fails is logged (an erasure finds it later).
    pub async fn forget_customer(&self, customer: &Customer) {
        let mut keys = match self.pictures.list(&folder_of(&customer.id)).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(%error, "a deleted customer's avatar pictures stay behind");
                Vec::new()
            }
        };
        keys.extend(customer.avatar_image.iter().flat_map(|a| a.object_keys()));
        keys.sort();
        keys.dedup();
        for key in keys {
            match self.pictures.delete(&key).await {
                Ok(()) | Err(crate::ports::objects::ObjectError::NotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(%key, %error, "a deleted customer's avatar picture stays behind")
                }
            }
        }
    }

    async fn forget(&self, previous: Option<&AvatarImage>, customer_id: &str) {
        let Some(previous) = previous.filter(|p| p.belongs_to(customer_id)) else {
            return;
        };
        for key in previous.object_keys() {
            if let Err(error) = self.pictures.delete(&key).await {
                tracing::warn!(%key, %error, "an old avatar picture stays behind");
            }
        }
    }

    /// One size of an avatar, to serve: its bytes. Anything but an avatar's key is not found.
    pub async fn picture(&self, key: &str) -> Result<Vec<u8>, HelpdeskError> {
        if !key.starts_with(AVATAR_PREFIX) {
            return Err(HelpdeskError::NotFound("avatar".into()));
        }
        match self.pictures.get(key).await {
            Ok(bytes) => Ok(bytes),
            Err(crate::ports::objects::ObjectError::NotFound(_)) => {
                Err(HelpdeskError::NotFound("avatar".into()))
            }
            Err(e) => Err(HelpdeskError::Unavailable(e.to_string())),
        }
    }
}

/// A refused image as the error its kind answers with (413, 415 or 422).
pub fn refused(refusal: AvatarRefusal) -> HelpdeskError {
    let errors = vec![refusal.error().clone()];
    match refusal {
        AvatarRefusal::TooLarge(_) => HelpdeskError::TooLarge(errors),
        AvatarRefusal::Unsupported(_) => HelpdeskError::UnsupportedMedia(errors),
        AvatarRefusal::Invalid(_) => HelpdeskError::Validation(errors),
    }
}
