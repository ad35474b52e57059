//! The local store: one SQLite file (WAL, synchronous=FULL), durable across restarts and crashes.
//!
//! Every write runs in an immediate transaction on one connection, so writers are serialised and
//! a uniqueness or version check and its write can never interleave with another writer.

mod changes;
mod companies;
mod connection;
mod customers;
mod due;
mod erasures;
mod fields;
mod history;
mod job_rows;
mod keys;
#[cfg(test)]
mod merge_tests;
mod merges;
mod migrations;
mod portal;
mod schema;
mod tickets;
mod webhooks;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::customer::Note;
use crate::domain::email::Email;
use crate::domain::error::StoreError;
use crate::domain::field::FieldDefinition;
use crate::domain::import_job::ImportJob;
use crate::domain::inbound::InboundRecord;
use crate::domain::inbound::InboundStatus;
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::domain::validation::email_domain;
use crate::ports::store::{
    CompanyStore, CustomerQuery, CustomerStore, CustomerWrite, FieldStore, InboundStore,
    KEY_SEPARATOR, MessageWrite, PREFIX_END, Page, TicketStore, TicketWrite, note_key,
};
use connection::*;

#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// Listing keys bulk writes left in the backlog since the last merge (see `keys`).
    backlog: Arc<AtomicUsize>,
    /// The least backlog a bulk write merges (`keys::MERGE_AT`; smaller in tests).
    merge_at: usize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

pub(super) fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {error}"))
}

pub(super) fn to_doc<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(unavailable)
}

pub(super) fn from_doc<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| unavailable(format!("corrupt record: {e}")))
}
