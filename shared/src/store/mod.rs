//! Store adapters: DynamoDB in the cloud, SQLite locally. Both implement [`crate::ports::store`]
//! with the same semantics, checked by one conformance suite.

pub mod dynamodb;
mod pacer;
pub mod sqlite;
