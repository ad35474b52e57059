//! The domain: records, the rules that keep them valid, and the errors. Nothing here does I/O,
//! and nothing here imports a module above it.

pub mod access;
pub mod address;
pub mod avatar;
pub mod caller;
pub mod clock;
pub mod company;
pub mod customer;
pub mod customer_csv;
pub mod customer_input;
pub mod delivery;
pub mod email;
pub mod erasure;
pub mod error;
pub mod events;
pub mod export_job;
pub mod field;
pub mod history;
pub mod ids;
pub mod import_job;
pub mod import_mapping;
pub mod inbound;
pub mod merge;
pub mod migration;
pub mod patch;
pub mod portal;
pub mod provenance;
pub mod reply;
pub mod text;
pub mod ticket;
pub mod ticket_import;
pub mod timestamp;
pub mod validation;
pub mod versioned;
pub mod webhook;
