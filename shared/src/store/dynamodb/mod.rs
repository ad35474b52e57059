//! The production store: one DynamoDB table.
//!
//! Layout (string keys `pk`, `sk`):
//! - `EMAIL#<email>` / `#`: for a primary email the customer item itself (`kind = customer`);
//!   for an alternate email an alias item (`kind = alias`, `owner` = primary email). Because both
//!   live under one key, a single `attribute_not_exists(pk)` keeps every email unique.
//! - `NOTES#<customer id>` / `<created_at>#<note id>`: internal notes, attached to the immutable
//!   customer id so a change of primary email keeps them.
//! - `HISTORY#<record id>` / `<version, 20 digits>`: the change that made that version, written
//!   in the change's transaction.
//! - `COMPANY#<id>` / `#`, with claim items `COMPANYNAME#<lower name>` and `DOMAIN#<domain>`.
//! - `FIELD` / `<key>`: custom field definitions.
//!
//! Indexes: `listing` (`list_pk`, `list_sk`) lists customers by email over [`LIST_SHARDS`]
//! partitions (so bulk writes are not throttled on one hot key) and companies by name;
//! `by_first` / `by_last` (`list_pk`, `first_sk` / `last_sk`) serve name-prefix search;
//! `by_group` (`group_pk`, `list_sk`) lists a company's members. The customers of one email
//! domain that have no company (for domain back-fill) are a filtered read of `listing`.

mod bulk;
mod changes;
mod companies;
mod customers;
mod deletes;
mod erasures;
mod fields;
mod history;
mod items;
mod jobs;
mod keys;
mod limits;
mod listing;
mod merges;
mod migrate_merges;
mod migrate_portal;
mod migrations;
mod portal;
mod schema;
mod statements;
#[cfg(any(feature = "notifier", feature = "jobs"))]
pub mod stream;
mod tickets;
mod tx;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pacer::WritePacer;
use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::customer::Note;
use crate::domain::email::Email;
use crate::domain::error::StoreError;
use crate::domain::field::FieldDefinition;
use crate::domain::history::HistoryEntry;
use crate::domain::import_job::ImportJob;
use crate::domain::inbound::InboundRecord;
use crate::domain::inbound::InboundStatus;
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::domain::validation::email_domain;
use crate::ports::store::{
    CompanyStore, CustomerQuery, CustomerStore, CustomerWrite, FieldStore, InboundStore,
    MessageWrite, PREFIX_END, Page, TicketStore, TicketWrite, name_key,
};
use bulk::*;
use items::*;
use keys::*;
pub use keys::{INDEX_FIRST, INDEX_GROUP, INDEX_LAST, INDEX_LISTING, LIST_SHARDS, email_of_pk};
use statements::flatten;
use tx::*;

use crate::aws::{AwsConfig, LazyClient, send_retrying};

pub(super) type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    clients: Arc<LazyClient<Clients>>,
    table: String,
    /// Shared by every bulk write of this store (one per Lambda container or process).
    pacer: Arc<WritePacer>,
    /// How bulk writes create new items: batched PartiQL `INSERT`s, or one conditional
    /// `PutItem` each (the measured baseline, and engines without PartiQL).
    inserts: BulkInserts,
    /// How far behind now the change feed reads ([`changes`]).
    feed_settle: std::time::Duration,
}

/// How `write_customers` creates new single-item customers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BulkInserts {
    /// `BatchExecuteStatement` with 25 PartiQL `INSERT`s per request.
    #[default]
    Statements,
    /// One conditional `PutItem` per item.
    Puts,
}

pub(super) fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("dynamodb: {}", DisplayErrorContext(error)))
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The store's client. The SDK's own retries are off: every call goes through
/// [`send_retrying`] (budgeted to the invocation's deadline, any 5xx counted as transient), and
/// paced bulk writes retry on their own schedule (see [`Retries`]). Each attempt has a time
/// limit, so a hung connection becomes a timeout, which is retried.
#[derive(Debug)]
pub(super) struct Clients {
    pub(super) client: Client,
}

impl Clients {
    fn of(client: Client) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(3))
                    .operation_attempt_timeout(std::time::Duration::from_secs(10))
                    .build(),
            )
            .build();
        Clients {
            client: Client::from_conf(config),
        }
    }

    fn from_sdk_config(config: &aws_types::SdkConfig) -> Self {
        Self::of(Client::new(config))
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            clients: Arc::new(LazyClient::ready(
                Clients::of(client),
                Clients::from_sdk_config,
            )),
            table: table.into(),
            pacer: Arc::default(),
            inserts: BulkInserts::default(),
            feed_settle: changes::settle_from_env(),
        }
    }

    /// This store's change feed reading up to `settle` before now (tests read at once).
    pub fn with_feed_settle(mut self, settle: std::time::Duration) -> Self {
        self.feed_settle = settle;
        self
    }

    /// This store creating new items in bulk as `inserts` says.
    pub fn with_bulk_inserts(mut self, inserts: BulkInserts) -> Self {
        self.inserts = inserts;
        self
    }

    /// The store a Lambda function uses, table from `TABLE_NAME`. Its clients are built from
    /// the process's one AWS configuration when the first request needs them.
    pub fn from_config(config: &AwsConfig) -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_string())?;
        Ok(Self {
            clients: Arc::new(LazyClient::deferred(config, Clients::from_sdk_config)),
            table,
            pacer: Arc::default(),
            inserts: BulkInserts::default(),
            feed_settle: changes::settle_from_env(),
        })
    }

    pub(super) async fn client(&self) -> &Client {
        &self.clients.get().await.client
    }
}
