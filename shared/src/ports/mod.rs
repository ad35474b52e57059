//! The ports: what the services need from storage, buckets and mail, and nothing about how it
//! is kept or sent. Adapters implement them; one conformance suite checks both stores.

pub mod changes;
pub mod due;
pub mod mailer;
pub mod objects;
pub mod page;
pub mod portal;
pub mod store;
pub mod webhooks;
