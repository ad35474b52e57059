//! Store adapters: DynamoDB in the cloud, SQLite locally. Both implement [`crate::ports::store`]
//! with the same semantics, checked by one conformance suite.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "dynamodb")]
mod pacer;
#[cfg(feature = "sqlite")]
pub mod sqlite;
