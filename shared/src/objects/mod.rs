//! Object-storage adapters: S3 in the cloud, a folder locally.

mod folder;
mod s3;

pub use folder::{DOWNLOAD_ROUTE, FolderStore};
pub use s3::S3Store;
