//! S3's errors as the object port's: a missing key, or the bucket unavailable.

use crate::ports::objects::ObjectError;

pub(super) fn s3_error<E, R>(key: &str, error: aws_sdk_s3::error::SdkError<E, R>) -> ObjectError
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
