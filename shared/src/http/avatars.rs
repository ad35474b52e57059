//! Avatars: upload (`PUT /customers/{email}/avatar`, or a direct-upload URL in the cloud),
//! removal, the portal's own, and serving the processed sizes at `/avatars/…`.

use super::*;
use crate::domain::avatar::{AVATAR_SIZES, AvatarImage, MAX_AVATAR_BYTES, served_key};
use crate::ports::objects::IMMUTABLE;
use crate::services::avatars::{AvatarService, AvatarUpload, UploadStatus};
use crate::services::customers::CustomerService;
use std::collections::BTreeMap;

#[utoipa::path(put, path = "/customers/{email}/avatar", tag = "customers",
    summary = "Upload a customer's avatar (PNG, JPEG, WebP or still GIF, at most 5 MiB)",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image's bytes; the format is read from them"),
    responses((status = 200, description = "The customer, with avatar_image", body = CustomerView),
        (status = 413, description = "Over 5 MiB"), (status = 415, description = "Not a PNG, JPEG, WebP or still GIF"),
        (status = 422, description = "Too many pixels, truncated, or more than an image")))]
pub(super) async fn set_avatar(
    State(avatars): State<AvatarService>,
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
    ImageBody(image): ImageBody,
) -> ApiResult {
    let customer = avatars.set(&caller, &email, image).await?;
    let fields = customers.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        CustomerView::new(&customer, &fields, &caller),
    ))
}

#[utoipa::path(delete, path = "/customers/{email}/avatar", tag = "customers",
    summary = "Remove a customer's uploaded avatar (its pictures are deleted)",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The customer", body = CustomerView)))]
pub(super) async fn remove_avatar(
    State(avatars): State<AvatarService>,
    State(customers): State<CustomerService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let customer = avatars.remove(&caller, &email).await?;
    let fields = customers.field_set().await?;
    Ok(with_etag(
        StatusCode::OK,
        customer.version,
        CustomerView::new(&customer, &fields, &caller),
    ))
}

#[utoipa::path(post, path = "/customers/{email}/avatar/upload", tag = "customers",
    summary = "A URL to PUT an avatar to directly (cloud; 15 minutes)",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 201, description = "The upload, with upload_url", body = AvatarUploadView),
        (status = 404, description = "Local mode: PUT the image to /customers/{email}/avatar")))]
pub(super) async fn avatar_upload_url(
    State(avatars): State<AvatarService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let upload = avatars.upload_url(&caller, &email).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AvatarUploadView::from(&upload)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/customers/{email}/avatar/uploads/{id}", tag = "customers",
    summary = "How a direct avatar upload went",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive"),
        ("id" = String, Path, description = "The upload's id")),
    responses((status = 200, description = "The upload", body = AvatarUploadView)))]
pub(super) async fn avatar_upload_status(
    State(avatars): State<AvatarService>,
    caller: Caller,
    Params2(email, id): Params2,
) -> ApiResult {
    let email = Email::parse(&email)
        .map_err(|_| HelpdeskError::NotFound(format!("customer {}", email.trim())))?;
    let upload = avatars.upload_status(&caller, &email, &id).await?;
    Ok(axum::Json(AvatarUploadView::from(&upload)).into_response())
}

#[utoipa::path(put, path = "/portal/me/avatar", tag = "portal",
    summary = "Upload one's own avatar (PNG, JPEG, WebP or still GIF, at most 5 MiB)",
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image's bytes"),
    responses((status = 200, description = "Their profile", body = PortalMeView)))]
pub(super) async fn set_portal_avatar(
    State(avatars): State<AvatarService>,
    Portal(caller): Portal,
    ImageBody(image): ImageBody,
) -> ApiResult {
    let customer = avatars.set_own(&caller.customer, image).await?;
    Ok(axum::Json(PortalMeView::new(&customer)).into_response())
}

#[utoipa::path(delete, path = "/portal/me/avatar", tag = "portal",
    summary = "Remove one's own avatar",
    responses((status = 200, description = "Their profile", body = PortalMeView)))]
pub(super) async fn remove_portal_avatar(
    State(avatars): State<AvatarService>,
    Portal(caller): Portal,
) -> ApiResult {
    let customer = avatars.remove_own(&caller.customer).await?;
    Ok(axum::Json(PortalMeView::new(&customer)).into_response())
}

#[utoipa::path(get, path = "/avatars/{customer}/{hash}/{file}", tag = "customers",
    summary = "One size of an avatar (no credentials: the path names the content)",
    params(("customer" = String, Path, description = "The customer's id"),
        ("hash" = String, Path, description = "The picture's content hash"),
        ("file" = String, Path, description = "`64.jpg`, `128.png`, …")),
    responses((status = 200, description = "The image", content_type = "image/jpeg")))]
pub(super) async fn serve_avatar(
    State(avatars): State<AvatarService>,
    Path((customer, hash, file)): Path<(String, String, String)>,
) -> ApiResult {
    let (key, format) = served_key(&customer, &hash, &file)
        .ok_or_else(|| HelpdeskError::NotFound("avatar".into()))?;
    let bytes = avatars.picture(&key).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, format.content_type()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_DISPOSITION, "inline"),
        (header::CACHE_CONTROL, IMMUTABLE),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Agents' and customers' pages on other origins show it (an <img> loads it).
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    Ok(response)
}

/// An image body: its raw bytes, at most [`MAX_AVATAR_BYTES`] (413 above, read no further).
pub(super) struct ImageBody(pub(super) Vec<u8>);

impl axum::extract::FromRequest<AppState> for ImageBody {
    type Rejection = HelpdeskError;

    async fn from_request(
        request: axum::extract::Request,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let body = axum::body::to_bytes(request.into_body(), MAX_AVATAR_BYTES)
            .await
            .map_err(|_| {
                HelpdeskError::TooLarge(vec![FieldError::new(
                    "body",
                    format!("an avatar may be at most {} MiB", MAX_AVATAR_BYTES >> 20),
                )])
            })?;
        Ok(ImageBody(body.to_vec()))
    }
}

/// An uploaded avatar in a view: the largest size's link and each size's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AvatarImage)]
pub struct AvatarImageView {
    /// The 256-pixel square, at a path of this API (no credentials needed, cached for good).
    pub url: String,
    /// Each size (`"64"`, `"128"`, `"256"`) by its link.
    pub sizes: BTreeMap<String, String>,
    pub uploaded_at: String,
}

impl AvatarImageView {
    pub fn new(image: &AvatarImage) -> Self {
        let largest = AVATAR_SIZES.iter().copied().max().unwrap_or(256);
        AvatarImageView {
            url: image.path(largest),
            sizes: AVATAR_SIZES
                .iter()
                .map(|size| (size.to_string(), image.path(*size)))
                .collect(),
            uploaded_at: image.uploaded_at.to_string(),
        }
    }
}

/// A direct upload: where to PUT the picture (when just asked for) and how it went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AvatarUpload)]
pub struct AvatarUploadView {
    pub id: String,
    /// `waiting`, `done` or `refused`.
    #[schema(value_type = String)]
    pub status: UploadStatus,
    /// PUT the image's bytes here (at most 5 MiB), before `expires_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    pub max_bytes: usize,
    pub expires_at: String,
    /// When refused: the status an upload through the API would have answered, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub problem: Option<Value>,
}

impl From<&AvatarUpload> for AvatarUploadView {
    fn from(upload: &AvatarUpload) -> Self {
        AvatarUploadView {
            id: upload.id.clone(),
            status: upload.status,
            upload_url: upload.upload_url.clone(),
            max_bytes: MAX_AVATAR_BYTES,
            expires_at: upload.expires_at.to_string(),
            problem: upload
                .problem
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok()),
        }
    }
}
