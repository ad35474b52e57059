//! Object-storage adapters: S3 in the cloud, a folder locally.

mod folder;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "s3")]
mod s3_errors;
#[cfg(feature = "s3")]
mod s3_upload;

pub use folder::{DOWNLOAD_ROUTE, FolderStore};
#[cfg(feature = "s3")]
pub use s3::S3Store;
