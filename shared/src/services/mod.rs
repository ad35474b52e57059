//! The capabilities of the helpdesk, over the ports. HTTP handlers, Lambda handlers and the
//! local program call these; nothing here knows how it was called.

pub mod addresses;
pub mod avatars;
pub mod changes;
pub mod companies;
pub mod customers;
pub mod due;
pub mod exports;
pub mod fields;
pub mod history;
pub mod imports;
#[cfg(feature = "mail-parsing")]
pub mod inbound;
pub mod inbound_records;
pub mod limits;
pub mod merges;
pub mod migrations;
pub mod notifications;
pub mod portal;
pub mod privacy;
pub mod replies;
pub mod retry;
pub mod tickets;
pub mod webhooks;
