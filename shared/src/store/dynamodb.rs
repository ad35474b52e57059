//! The production store: one DynamoDB table.
//!
//! Layout (string keys `pk`, `sk`):
//! - `EMAIL#<email>` / `#`: for a primary email the customer item itself (`kind = customer`);
//!   for an alternate email an alias item (`kind = alias`, `owner` = primary email). Because both
//!   live under one key, a single `attribute_not_exists(pk)` keeps every email unique.
//! - `NOTES#<customer id>` / `<created_at>#<note id>`: internal notes, attached to the immutable
//!   customer id so a change of primary email keeps them.
//! - `COMPANY#<id>` / `#`, with claim items `COMPANYNAME#<lower name>` and `DOMAIN#<domain>`.
//! - `FIELD` / `<key>`: custom field definitions.
//!
//! Indexes: `listing` (`list_pk`, `list_sk`) lists customers by email over [`LIST_SHARDS`]
//! partitions (so bulk writes are not throttled on one hot key) and companies by name;
//! `by_first` / `by_last` (`list_pk`, `first_sk` / `last_sk`) serve name-prefix search;
//! `by_group` (`group_pk`, `list_sk`) lists a company's members, or the customers of one email
//! domain that have no company (for domain back-fill).

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
use crate::domain::error::StoreError;
use crate::domain::field::FieldDefinition;
use crate::domain::import_job::ImportJob;
use crate::domain::inbound::InboundRecord;
use crate::domain::inbound::InboundStatus;
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::domain::validation::email_domain;
use crate::ports::store::{
    CustomerQuery, CustomerWrite, MessageWrite, PREFIX_END, Page, Store, TicketWrite, name_key,
};

type Item = HashMap<String, AttributeValue>;

/// Partitions of the customer listing indexes. Listing reads all of them in parallel and merges.
pub const LIST_SHARDS: u32 = 16;
/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Index pages one listing call reads at most before answering a short page with a cursor.
const MAX_LIST_ROUNDS: usize = 8;

pub const INDEX_LISTING: &str = "listing";
pub const INDEX_FIRST: &str = "by_first";
pub const INDEX_LAST: &str = "by_last";
pub const INDEX_GROUP: &str = "by_group";

const SINGLE: &str = "#";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    /// The same client without the SDK's retries, for paced bulk writes (see [`Retries`]).
    bulk_client: Client,
    table: String,
    /// Shared by every bulk write of this store (one per Lambda container or process).
    pacer: Arc<WritePacer>,
}

fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("dynamodb: {}", DisplayErrorContext(error)))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// A record's JSON as a binary attribute. As a string attribute, the SDK escapes every quote
/// of the JSON again on the way out: an eighth of a bulk import's CPU (perf, 100k rows).
fn to_doc<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_vec(value)
        .map(|json| AttributeValue::B(Blob::new(json)))
        .map_err(|e| StoreError::Unavailable(format!("encode: {e}")))
}

/// Reads the record's JSON, binary or (as written before) string.
fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let parsed = match item.get("doc") {
        Some(AttributeValue::B(json)) => serde_json::from_slice(json.as_ref()),
        Some(AttributeValue::S(json)) => serde_json::from_str(json),
        _ => return Err(StoreError::Unavailable("item without doc".into())),
    };
    parsed.map_err(|e| StoreError::Unavailable(format!("corrupt item: {e}")))
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

fn shard_of(email: &str) -> u32 {
    (crate::domain::clock::stable_hash(email) % u64::from(LIST_SHARDS)) as u32
}

fn customer_item(customer: &Customer) -> Result<Item, StoreError> {
    let email = customer.email();
    let mut item = Item::from([
        ("pk".into(), s(email_pk(email))),
        ("sk".into(), s(SINGLE)),
        ("kind".into(), s("customer")),
        ("customer_id".into(), s(&customer.id)),
        ("version".into(), n(customer.version)),
        ("doc".into(), to_doc(customer)?),
        (
            "list_pk".into(),
            s(format!("CUSTOMERS#{}", shard_of(email))),
        ),
        ("list_sk".into(), s(email)),
    ]);
    if let Some(first) = customer.first_name_key() {
        item.insert("first_sk".into(), s(name_key(&first, email)));
    }
    if let Some(last) = customer.last_name_key() {
        item.insert("last_sk".into(), s(name_key(&last, email)));
    }
    let group = match &customer.profile.company_id {
        Some(company) => format!("MEMBERS#{company}"),
        None => format!("UNASSIGNED#{}", email_domain(email)),
    };
    item.insert("group_pk".into(), s(group));
    // The notifier's stream subscription filters on this: only records with a welcome email
    // due invoke it.
    if customer.welcome.as_ref().is_some_and(|w| w.is_due()) {
        item.insert("welcome_status".into(), s("pending"));
    }
    Ok(item)
}

fn alias_item(alias: &str, customer: &Customer) -> Item {
    Item::from([
        ("pk".into(), s(email_pk(alias))),
        ("sk".into(), s(SINGLE)),
        ("kind".into(), s("alias")),
        ("owner".into(), s(customer.email())),
        ("customer_id".into(), s(&customer.id)),
    ])
}

/// One write of a transaction, with what its failure means.
struct Op {
    /// The item's partition key: a transaction may touch each item once.
    key: String,
    write: TransactWriteItem,
    on_fail: StoreError,
}

/// A conditional put: `condition` uses the placeholders in `values`.
fn put(
    table: &str,
    item: Item,
    condition: &str,
    values: &[(&str, AttributeValue)],
    on_fail: StoreError,
) -> Result<Op, StoreError> {
    let key = get_s(&item, "pk").unwrap_or_default().to_string();
    let mut builder = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    for (name, value) in values {
        builder = builder.expression_attribute_values(*name, value.clone());
    }
    let put = builder
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key,
        write: TransactWriteItem::builder().put(put).build(),
        on_fail,
    })
}

fn delete(
    table: &str,
    pk: String,
    sk: &str,
    condition: &str,
    values: &[(&str, AttributeValue)],
    on_fail: StoreError,
) -> Result<Op, StoreError> {
    let key = pk.clone();
    let mut builder = Delete::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .condition_expression(condition);
    for (name, value) in values {
        builder = builder.expression_attribute_values(*name, value.clone());
    }
    let delete = builder
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key,
        write: TransactWriteItem::builder().delete(delete).build(),
        on_fail,
    })
}

/// Why a transaction did not go through.
/// Who retries a throttled or failed request.
#[derive(Clone, Copy)]
enum Retries {
    /// The SDK's standard retries (single writes from the API).
    Sdk,
    /// The caller, paced by the [`WritePacer`]: the SDK's backoff (a second or more) would
    /// stall a bulk import's pipeline while its other writers wait.
    Caller,
}

enum TxFailure {
    /// Cancelled: the cancellation code of each operation, in order ("None" for the fine ones).
    Cancelled(Vec<Option<String>>),
    /// Throttled or a transient fault: the same transaction may be sent again.
    Retry(String),
    Failed(StoreError),
}

/// Errors after which the same request may succeed: throttling and transient server states.
const RETRYABLE_CODES: [&str; 6] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
];
/// Rounds of retries for throttled or conflicting batch work.
const MAX_BATCH_ROUNDS: usize = 12;
/// Transactions (of up to 100 items each) one `write_customers` call has in flight.
const CONCURRENT_TRANSACTIONS: usize = 6;

/// Exponential backoff with full jitter: up to 25 ms doubling to 3.2 s.
async fn backoff(attempt: usize) {
    let ceiling = 25u64 << attempt.min(7);
    let wait = rand::random_range(0..=ceiling);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

const NOT_EXISTS: &str = "attribute_not_exists(pk)";
const AT_VERSION: &str = "version = :version";
const OWNED_BY: &str = "customer_id = :id";
const OF_COMPANY: &str = "company_id = :id";

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let bulk_config = client
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        Self {
            bulk_client: Client::from_conf(bulk_config),
            client,
            table: table.into(),
            pacer: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `ops` as one transaction; a failed condition is reported as that op's error.
    async fn transact(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "transaction of {} items exceeds DynamoDB's limit",
                ops.len()
            )));
        }
        let (writes, failures): (Vec<_>, Vec<_>) =
            ops.into_iter().map(|op| (op.write, op.on_fail)).unzip();
        match self.send_transaction(writes, Retries::Sdk).await {
            Ok(()) => Ok(()),
            Err(TxFailure::Cancelled(codes)) => {
                let failed = codes
                    .iter()
                    .position(|c| c.as_deref() == Some("ConditionalCheckFailed"));
                match failed.and_then(|i| failures.get(i)) {
                    Some(meaning) => Err(meaning.clone()),
                    // Cancelled by a concurrent transaction on the same items: the caller
                    // re-reads and decides again, as after a version conflict.
                    None if codes
                        .iter()
                        .any(|c| c.as_deref() == Some("TransactionConflict")) =>
                    {
                        Err(StoreError::VersionMismatch)
                    }
                    None => Err(StoreError::Unavailable(format!(
                        "dynamodb: transaction cancelled: {codes:?}"
                    ))),
                }
            }
            Err(TxFailure::Retry(message)) => Err(StoreError::Unavailable(message)),
            Err(TxFailure::Failed(error)) => Err(error),
        }
    }

    async fn send_transaction(
        &self,
        writes: Vec<TransactWriteItem>,
        retries: Retries,
    ) -> Result<(), TxFailure> {
        let client = match retries {
            Retries::Sdk => &self.client,
            Retries::Caller => &self.bulk_client,
        };
        let sent = client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let error = match sent {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        {
            return Err(TxFailure::Cancelled(
                cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
            ));
        }
        let code = error
            .as_service_error()
            .and_then(|e| e.meta().code())
            .unwrap_or_default()
            .to_string();
        let transient = RETRYABLE_CODES.contains(&code.as_str())
            || matches!(
                error,
                SdkError::TimeoutError(_)
                    | SdkError::DispatchFailure(_)
                    | SdkError::ResponseError(_)
            );
        if transient {
            Err(TxFailure::Retry(format!(
                "dynamodb: {}",
                DisplayErrorContext(error)
            )))
        } else {
            Err(TxFailure::Failed(unavailable(error)))
        }
    }

    fn write_ops(&self, write: &CustomerWrite) -> Result<Vec<Op>, StoreError> {
        match write {
            CustomerWrite::Insert(customer) => self.customer_ops(None, Some(customer)),
            CustomerWrite::Replace { previous, next } => {
                self.customer_ops(Some(previous), Some(next))
            }
        }
    }

    /// Sends one bulk transaction (the writes of `members`) at the pace of the [`WritePacer`],
    /// sending it again at once when throttled: waiting for the rest of the batch first would
    /// hold up the import's in-order pipeline. Answers what each operation's failure means.
    async fn send_paced(
        &self,
        writes: &[CustomerWrite],
        members: &[usize],
        ops: Vec<Op>,
    ) -> (Vec<StoreError>, Result<(), TxFailure>) {
        let mut ops = ops;
        let mut attempt = 0;
        loop {
            let (batch, failures): (Vec<_>, Vec<_>) =
                ops.into_iter().map(|op| (op.write, op.on_fail)).unzip();
            let items = batch.len();
            self.pacer.pace(items).await;
            let result = self.send_transaction(batch, Retries::Caller).await;
            let Err(TxFailure::Retry(message)) = &result else {
                self.pacer.accepted(items, Instant::now());
                return (failures, result);
            };
            self.pacer.throttled(Instant::now());
            tracing::debug!(%message, "transaction throttled; sending it again");
            if attempt + 1 >= MAX_BATCH_ROUNDS {
                return (failures, result);
            }
            backoff(attempt).await;
            attempt += 1;
            // The operations were consumed by the request: built again from the writes.
            let rebuilt: Result<Vec<Vec<Op>>, StoreError> = members
                .iter()
                .map(|&index| self.write_ops(&writes[index]))
                .collect();
            match rebuilt {
                Ok(rebuilt) => ops = rebuilt.into_iter().flatten().collect(),
                Err(error) => return (failures, Err(TxFailure::Failed(error))),
            }
        }
    }

    /// Reads items by partition key, 100 at a time, retrying unprocessed keys with backoff.
    async fn batch_get(&self, pks: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let mut unique: Vec<&String> = pks.iter().collect();
        unique.sort();
        unique.dedup();
        // Owned chunks: futures borrowing a temporary slice upset the async-trait lifetimes.
        let chunks: Vec<Vec<String>> = unique
            .chunks(100)
            .map(|chunk| chunk.iter().map(|pk| pk.to_string()).collect())
            .collect();
        let chunks =
            futures::stream::iter(chunks.into_iter().map(|chunk| self.batch_get_chunk(chunk)))
                .buffer_unordered(CONCURRENT_TRANSACTIONS)
                .collect::<Vec<_>>()
                .await;
        let mut found = HashMap::new();
        for chunk in chunks {
            found.extend(chunk?);
        }
        Ok(found)
    }

    /// One BatchGetItem of at most 100 keys, retrying unprocessed keys with backoff.
    async fn batch_get_chunk(
        &self,
        chunk: Vec<String>,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        let keys = chunk
            .iter()
            .map(|pk| {
                Item::from([
                    ("pk".to_string(), s(pk.as_str())),
                    ("sk".to_string(), s(SINGLE)),
                ])
            })
            .collect();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        for attempt in 0..MAX_BATCH_ROUNDS {
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                if let Some(pk) = get_s(&item, "pk") {
                    found.insert(pk.to_string(), item);
                }
            }
            match output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.keys().is_empty() => {
                    if attempt + 1 == MAX_BATCH_ROUNDS {
                        return Err(StoreError::Unavailable(
                            "dynamodb: reads stayed throttled".into(),
                        ));
                    }
                    request = rest;
                    backoff(attempt).await;
                }
                _ => break,
            }
        }
        Ok(found)
    }

    /// The document of the single item at `pk`, if any.
    async fn get_doc<T: DeserializeOwned>(&self, pk: String) -> Result<Option<T>, StoreError> {
        self.get(pk, SINGLE)
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// One page of an index (or the table when `index` is None): items with `sort` key above
    /// `after` (and, with `prefix`, starting with it). Returns the items and, when DynamoDB
    /// stopped early, the sort key it stopped at.
    #[allow(clippy::too_many_arguments)]
    async fn query_page(
        &self,
        index: Option<&str>,
        partition: (&str, String),
        sort: &str,
        after: Option<&str>,
        prefix: Option<&str>,
        limit: usize,
        forward: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let mut condition = format!("{} = :p", partition.0);
        let mut values = HashMap::from([(":p".to_string(), s(partition.1))]);
        match (after, prefix, forward) {
            (None, None, _) => {}
            (None, Some(p), _) => {
                condition.push_str(&format!(" AND begins_with({sort}, :prefix)"));
                values.insert(":prefix".into(), s(p));
            }
            (Some(a), None, true) => {
                condition.push_str(&format!(" AND {sort} > :after"));
                values.insert(":after".into(), s(a));
            }
            (Some(a), None, false) => {
                condition.push_str(&format!(" AND {sort} < :after"));
                values.insert(":after".into(), s(a));
            }
            (Some(a), Some(p), _) => {
                // One sort-key condition only: take the range from `after` (inclusive, dropped
                // below) to the end of the prefix.
                condition.push_str(&format!(" AND {sort} BETWEEN :after AND :end"));
                values.insert(":after".into(), s(a.max(p)));
                values.insert(":end".into(), s(format!("{p}{PREFIX_END}")));
            }
        }
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(forward)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let stopped_at = output
            .last_evaluated_key()
            .and_then(|k| get_s(k, sort))
            .map(str::to_string);
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|item| after.is_none_or(|a| get_s(item, sort).is_some_and(|k| k != a)))
            .collect();
        Ok((items, stopped_at))
    }

    /// Creates the table with its indexes (tests and local development; SAM creates it in the
    /// cloud) and waits until it is active.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let index = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(index(INDEX_LISTING, "list_pk", "list_sk")?)
            .global_secondary_indexes(index(INDEX_FIRST, "list_pk", "first_sk")?)
            .global_secondary_indexes(index(INDEX_LAST, "list_pk", "last_sk")?)
            .global_secondary_indexes(index(INDEX_GROUP, "group_pk", "list_sk")?);
        for name in [
            "pk", "sk", "list_pk", "list_sk", "first_sk", "last_sk", "group_pk",
        ] {
            request = request.attribute_definitions(attr(name)?);
        }
        request.send().await.map_err(unavailable)?;
        for _ in 0..600 {
            let status = client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(unavailable)?
                .table
                .and_then(|t| t.table_status);
            if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {table} did not become active"
        )))
    }

    /// The writes that turn `previous` (None: nothing) into `next` (None: deleted), one per email.
    fn customer_ops(
        &self,
        previous: Option<&Customer>,
        next: Option<&Customer>,
    ) -> Result<Vec<Op>, StoreError> {
        let table = self.table.as_str();
        let version = previous.map(|p| (":version", n(p.version)));
        let id = previous.or(next).map(|c| (":id", s(&c.id)));
        let old_primary = previous.map(Customer::email);
        let old_aliases: Vec<&str> = previous
            .map(|p| {
                p.profile
                    .alternate_emails
                    .iter()
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        let primary_moved = previous.map(Customer::email) != next.map(Customer::email);

        // What the current item under an email must be for the write to go ahead.
        let guard = |email: &str| -> (
            &'static str,
            Vec<(&'static str, AttributeValue)>,
            StoreError,
        ) {
            if Some(email) == old_primary {
                (
                    AT_VERSION,
                    version.clone().into_iter().collect(),
                    StoreError::VersionMismatch,
                )
            } else if old_aliases.contains(&email) {
                (
                    OWNED_BY,
                    id.clone().into_iter().collect(),
                    StoreError::VersionMismatch,
                )
            } else {
                (
                    NOT_EXISTS,
                    vec![],
                    StoreError::EmailTaken(email.to_string()),
                )
            }
        };

        let mut ops = Vec::new();
        if let Some(next) = next {
            let (condition, values, on_fail) = guard(next.email());
            ops.push(put(
                table,
                customer_item(next)?,
                condition,
                &values,
                on_fail,
            )?);
            for alias in &next.profile.alternate_emails {
                let unchanged = old_aliases.contains(&alias.as_str()) && !primary_moved;
                if !unchanged {
                    let (condition, values, on_fail) = guard(alias);
                    ops.push(put(
                        table,
                        alias_item(alias, next),
                        condition,
                        &values,
                        on_fail,
                    )?);
                }
            }
        }
        let kept: Vec<&str> = next.map(|c| c.all_emails().collect()).unwrap_or_default();
        for gone in old_primary
            .into_iter()
            .chain(old_aliases.iter().copied())
            .filter(|e| !kept.contains(e))
        {
            let (condition, values, on_fail) = guard(gone);
            ops.push(delete(
                table,
                email_pk(gone),
                SINGLE,
                condition,
                &values,
                on_fail,
            )?);
        }
        // The version guard must be part of every change, also when the primary item is untouched.
        Ok(ops)
    }

    async fn customer_by_item(&self, item: Item) -> Result<Option<Customer>, StoreError> {
        match get_s(&item, "kind") {
            Some("customer") => from_item(&item).map(Some),
            Some("alias") => {
                let Some(owner) = get_s(&item, "owner") else {
                    return Ok(None);
                };
                match self.get(email_pk(owner), SINGLE).await? {
                    Some(owner_item) if get_s(&owner_item, "kind") == Some("customer") => {
                        from_item(&owner_item).map(Some)
                    }
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// Customers of one company (or all companies-less customers of a domain) in email order,
    /// optionally filtered by prefix.
    async fn list_group(
        &self,
        group: String,
        query: &CustomerQuery,
    ) -> Result<Page<Customer>, StoreError> {
        let mut after = query.after.clone();
        let mut found: Vec<(String, Customer)> = Vec::new();
        for _ in 0..MAX_LIST_ROUNDS {
            let (items, stopped_at) = self
                .query_page(
                    Some(INDEX_GROUP),
                    ("group_pk", group.clone()),
                    "list_sk",
                    after.as_deref(),
                    None,
                    query.limit + 1,
                    true,
                )
                .await?;
            for item in &items {
                let customer: Customer = from_item(item)?;
                if let Some(key) = crate::ports::store::list_key(&customer, query) {
                    found.push((key, customer));
                }
            }
            if found.len() > query.limit {
                return Ok(Page::from_rows(found, query.limit));
            }
            match stopped_at {
                Some(position) => after = Some(position),
                None => return Ok(Page::from_rows(found, query.limit)),
            }
        }
        // Many non-matching members: answer what was found, and where to go on from.
        Ok(Page {
            items: found.into_iter().map(|(_, c)| c).collect(),
            next: after,
        })
    }

    /// All customers, merged from the shards of one (no prefix) or three (prefix) indexes.
    async fn list_merged(&self, query: &CustomerQuery) -> Result<Page<Customer>, StoreError> {
        let streams: &[(Option<&str>, &str)] = if query.prefix.is_some() {
            &[
                (Some(INDEX_LISTING), "list_sk"),
                (Some(INDEX_FIRST), "first_sk"),
                (Some(INDEX_LAST), "last_sk"),
            ]
        } else {
            &[(Some(INDEX_LISTING), "list_sk")]
        };
        let mut after = query.after.clone();
        let mut found: Vec<(String, Customer)> = Vec::new();
        for _ in 0..MAX_LIST_ROUNDS {
            let want = query.limit + 1 - found.len();
            // Each shard holds about 1/LIST_SHARDS of the page: read a fair share with headroom
            // rather than a whole page from every shard; the boundary below keeps order exact.
            let per_shard = want.div_ceil(LIST_SHARDS as usize) * 2 + 2;
            let reads = streams.iter().flat_map(|(index, sort)| {
                (0..LIST_SHARDS).map(move |shard| (*index, *sort, shard))
            });
            let pages = futures::future::try_join_all(reads.map(|(index, sort, shard)| {
                let after = after.clone();
                async move {
                    let partition = ("list_pk", format!("CUSTOMERS#{shard}"));
                    self.query_page(
                        index,
                        partition,
                        sort,
                        after.as_deref(),
                        query.prefix.as_deref(),
                        per_shard,
                        true,
                    )
                    .await
                }
            }))
            .await?;
            // Items are only safe to emit up to the smallest position where a shard stopped early.
            let boundary = pages
                .iter()
                .filter_map(|(_, stopped)| stopped.clone())
                .min();
            let mut round: Vec<(String, Customer)> = Vec::new();
            for (items, _) in &pages {
                for item in items {
                    let customer: Customer = from_item(item)?;
                    // list_key decides under which stream a customer is listed (once).
                    let Some(key) = crate::ports::store::list_key(&customer, query) else {
                        continue;
                    };
                    let in_range = after.as_ref().is_none_or(|a| &key > a)
                        && boundary.as_ref().is_none_or(|b| &key <= b);
                    if in_range {
                        round.push((key, customer));
                    }
                }
            }
            round.sort_by(|a, b| a.0.cmp(&b.0));
            round.dedup_by(|a, b| a.0 == b.0);
            round.truncate(want);
            found.extend(round);
            if found.len() > query.limit {
                return Ok(Page::from_rows(found, query.limit));
            }
            match boundary {
                Some(position) => after = Some(position),
                None => return Ok(Page::from_rows(found, query.limit)),
            }
        }
        Ok(Page {
            next: found.last().map(|(k, _)| k.clone()).or(after),
            items: found.into_iter().map(|(_, c)| c).collect(),
        })
    }

    async fn put_conditional(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
        on_fail: StoreError,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(on_fail)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Deletes every note of a deleted customer, 25 at a time (BatchWriteItem's limit).
    async fn delete_notes(&self, customer_id: &str) -> Result<(), StoreError> {
        loop {
            let (items, _) = self
                .query_page(
                    None,
                    ("pk", format!("NOTES#{customer_id}")),
                    "sk",
                    None,
                    None,
                    25,
                    true,
                )
                .await?;
            if items.is_empty() {
                return Ok(());
            }
            let requests = items
                .iter()
                .filter_map(|item| {
                    let key = Item::from([
                        ("pk".into(), item.get("pk")?.clone()),
                        ("sk".into(), item.get("sk")?.clone()),
                    ]);
                    let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .ok()?;
                    Some(
                        aws_sdk_dynamodb::types::WriteRequest::builder()
                            .delete_request(delete)
                            .build(),
                    )
                })
                .collect();
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            for attempt in 0..MAX_BATCH_ROUNDS {
                let output = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(unavailable)?;
                pending = output.unprocessed_items.unwrap_or_default();
                pending.retain(|_, v| !v.is_empty());
                if pending.is_empty() {
                    break;
                }
                backoff(attempt).await;
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "notes could not be deleted; retry the delete".into(),
                ));
            }
        }
    }
}

/// Items with the value of their sort attribute, which is their listing position.
fn keyed_rows<T: DeserializeOwned>(
    items: &[Item],
    sort: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    items
        .iter()
        .map(|item| {
            Ok((
                get_s(item, sort).unwrap_or_default().to_string(),
                from_item(item)?,
            ))
        })
        .collect()
}

/// Import jobs expire from the table (TTL) this long after their last change.
const IMPORT_JOB_TTL_DAYS: i64 = 90;

fn import_item(job: &ImportJob) -> Result<Item, StoreError> {
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + IMPORT_JOB_TTL_DAYS * 86_400;
    Ok(Item::from([
        ("pk".into(), s(format!("IMPORT#{}", job.id))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(job.version)),
        ("doc".into(), to_doc(job)?),
        ("expires_at".into(), AttributeValue::N(expires.to_string())),
    ]))
}

fn company_item(company: &Company) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(format!("COMPANY#{}", company.id))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(company.version)),
        ("doc".into(), to_doc(company)?),
        ("list_pk".into(), s("COMPANIES")),
        ("list_sk".into(), s(company.name_key())),
    ]))
}

fn claim_item(pk: String, company_id: &str) -> Item {
    Item::from([
        ("pk".into(), s(pk)),
        ("sk".into(), s(SINGLE)),
        ("company_id".into(), s(company_id)),
    ])
}

fn ticket_pk(id: &str) -> String {
    format!("TICKET#{id}")
}

/// Messages sort after the ticket item (`#`) in the ticket's partition.
const MESSAGE_SK: &str = "MSG#";

fn ticket_item(ticket: &Ticket) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(ticket_pk(&ticket.id))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(ticket.version)),
        ("doc".into(), to_doc(ticket)?),
        // A customer's tickets, newest first, through the `by_group` index.
        (
            "group_pk".into(),
            s(format!("TICKETS#{}", ticket.customer_id)),
        ),
        ("list_sk".into(), s(ticket.list_key())),
    ]))
}

fn message_item(message: &TicketMessage) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(ticket_pk(&message.ticket_id))),
        (
            "sk".into(),
            s(format!("{MESSAGE_SK}{}", message.list_key())),
        ),
        ("doc".into(), to_doc(message)?),
    ]))
}

/// Message-IDs may be up to 998 characters; long ones are keyed by a digest (keys stop at 2 KB).
fn message_id_pk(message_id: &str) -> String {
    if message_id.len() <= 512 {
        format!("MSGID#{message_id}")
    } else {
        let digest = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, message_id.as_bytes());
        format!("MSGID#~{}", digest.simple())
    }
}

const INBOUND_LIST: &str = "INBOUND";

fn inbound_item(record: &InboundRecord) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(format!("INBOUND#{}", record.id))),
        ("sk".into(), s(SINGLE)),
        ("doc".into(), to_doc(record)?),
        // All records through `listing`, one status through `by_group`; newest first.
        ("list_pk".into(), s(INBOUND_LIST)),
        ("list_sk".into(), s(record.list_key())),
        (
            "group_pk".into(),
            s(format!("INBOUND#{}", record.status.as_str())),
        ),
    ]))
}

fn field_item(field: &FieldDefinition) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s("FIELD")),
        ("sk".into(), s(&field.key)),
        ("version".into(), n(field.version)),
        ("doc".into(), to_doc(field)?),
    ]))
}

#[async_trait]
impl Store for DynamoStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        if customer.profile.alternate_emails.is_empty() {
            // The common case (API creates, imports) is one conditional put, not a transaction.
            let on_fail = StoreError::EmailTaken(customer.email().to_string());
            return self
                .put_conditional(customer_item(customer)?, NOT_EXISTS, &[], on_fail)
                .await;
        }
        self.transact(self.customer_ops(None, Some(customer))?)
            .await
    }

    async fn find_customer(&self, email: &str) -> Result<Option<Customer>, StoreError> {
        match self.get(email_pk(email), SINGLE).await? {
            Some(item) => self.customer_by_item(item).await,
            None => Ok(None),
        }
    }

    async fn find_customers(&self, emails: &[String]) -> Result<Vec<Option<Customer>>, StoreError> {
        let pks: Vec<String> = emails.iter().map(|e| email_pk(e)).collect();
        let mut items = self.batch_get(&pks).await?;
        let owners: Vec<String> = items
            .values()
            .filter(|item| get_s(item, "kind") == Some("alias"))
            .filter_map(|item| get_s(item, "owner").map(email_pk))
            .filter(|pk| !items.contains_key(pk))
            .collect();
        if !owners.is_empty() {
            items.extend(self.batch_get(&owners).await?);
        }
        let customer_at = |pk: &str| -> Result<Option<Customer>, StoreError> {
            match items.get(pk) {
                Some(item) if get_s(item, "kind") == Some("customer") => from_item(item).map(Some),
                _ => Ok(None),
            }
        };
        pks.iter()
            .map(|pk| match items.get(pk) {
                Some(item) if get_s(item, "kind") == Some("alias") => match get_s(item, "owner") {
                    Some(owner) => customer_at(&email_pk(owner)),
                    None => Ok(None),
                },
                _ => customer_at(pk),
            })
            .collect()
    }

    /// Packs the writes into transactions of up to 100 items (each item once per transaction),
    /// a few in flight at a time. A write whose condition fails gets its own error; the others
    /// of its transaction, and throttled transactions, go again with backoff and jitter.
    async fn write_customers(
        &self,
        writes: &[CustomerWrite],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut outcomes: Vec<Option<Result<(), StoreError>>> = vec![None; writes.len()];
        let mut pending: Vec<usize> = (0..writes.len()).collect();
        for round in 0..MAX_BATCH_ROUNDS {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                backoff(round - 1).await;
            }
            let mut groups: Vec<(Vec<usize>, Vec<Op>, Vec<usize>)> = Vec::new();
            // The keys of the group being filled: a transaction may touch an item once.
            let mut group_keys: HashSet<String> = HashSet::new();
            for &index in &pending {
                let ops = self.write_ops(&writes[index])?;
                let fits = groups.last().is_some_and(|(_, group_ops, _)| {
                    group_ops.len() + ops.len() <= MAX_TRANSACTION_ITEMS
                        && !ops.iter().any(|op| group_keys.contains(&op.key))
                });
                if !fits {
                    groups.push((Vec::new(), Vec::new(), Vec::new()));
                    group_keys.clear();
                }
                if let Some((members, group_ops, owners)) = groups.last_mut() {
                    members.push(index);
                    owners.extend(std::iter::repeat_n(index, ops.len()));
                    group_keys.extend(ops.iter().map(|op| op.key.clone()));
                    group_ops.extend(ops);
                }
            }
            let sent = futures::stream::iter(groups.into_iter().map(
                |(members, ops, owners)| async move {
                    let (failures, result) = self.send_paced(writes, &members, ops).await;
                    (members, owners, failures, result)
                },
            ))
            .buffer_unordered(CONCURRENT_TRANSACTIONS)
            .collect::<Vec<_>>()
            .await;
            pending.clear();
            for (members, owners, failures, result) in sent {
                match result {
                    Ok(()) => members.iter().for_each(|&i| outcomes[i] = Some(Ok(()))),
                    Err(TxFailure::Cancelled(codes)) => {
                        for (position, code) in codes.iter().enumerate() {
                            if code.as_deref() == Some("ConditionalCheckFailed")
                                && let (Some(&owner), Some(meaning)) =
                                    (owners.get(position), failures.get(position))
                                && outcomes[owner].is_none()
                            {
                                outcomes[owner] = Some(Err(meaning.clone()));
                            }
                        }
                        pending.extend(members.into_iter().filter(|&i| outcomes[i].is_none()));
                    }
                    Err(TxFailure::Retry(message)) => {
                        tracing::debug!(%message, "transaction throttled; retrying");
                        pending.extend(members);
                    }
                    Err(TxFailure::Failed(error)) => return Err(error),
                }
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::Unavailable(
                "dynamodb: writes stayed throttled; retry later".into(),
            ));
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(StoreError::VersionMismatch)))
            .collect())
    }

    async fn replace_customer(
        &self,
        previous: &Customer,
        next: &Customer,
    ) -> Result<(), StoreError> {
        let ops = self.customer_ops(Some(previous), Some(next))?;
        if ops.len() == 1 && previous.email() == next.email() {
            let values = [(":version", n(previous.version))];
            return self
                .put_conditional(
                    customer_item(next)?,
                    AT_VERSION,
                    &values,
                    StoreError::VersionMismatch,
                )
                .await;
        }
        self.transact(ops).await
    }

    async fn delete_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.transact(self.customer_ops(Some(customer), None)?)
            .await?;
        self.delete_notes(&customer.id).await
    }

    async fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>, StoreError> {
        match &query.company_id {
            Some(company) => self.list_group(format!("MEMBERS#{company}"), query).await,
            None => self.list_merged(query).await,
        }
    }

    async fn list_unassigned_by_domain(
        &self,
        domain: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        let query = CustomerQuery {
            after: after.map(str::to_string),
            limit,
            ..Default::default()
        };
        let page = self
            .list_group(format!("UNASSIGNED#{domain}"), &query)
            .await?;
        Ok(page)
    }

    async fn add_note(&self, customer_id: &str, note: &Note) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(format!("NOTES#{customer_id}"))),
            ("sk".into(), s(crate::ports::store::note_key(note))),
            ("doc".into(), to_doc(note)?),
        ]);
        // A retried request writes the same note again: keep the first.
        match self
            .put_conditional(item, NOT_EXISTS, &[], StoreError::VersionMismatch)
            .await
        {
            Err(StoreError::VersionMismatch) => Ok(()),
            other => other,
        }
    }

    async fn list_notes(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Note>, StoreError> {
        let (items, _) = self
            .query_page(
                None,
                ("pk", format!("NOTES#{customer_id}")),
                "sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        let rows = keyed_rows(&items, "sk")?;
        Ok(Page::from_rows(rows, limit))
    }

    async fn insert_company(&self, company: &Company) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let mut ops = vec![
            put(
                table,
                company_item(company)?,
                NOT_EXISTS,
                &[],
                StoreError::VersionMismatch,
            )?,
            put(
                table,
                claim_item(format!("COMPANYNAME#{}", company.name_key()), &company.id),
                NOT_EXISTS,
                &[],
                StoreError::CompanyNameTaken(company.name.clone()),
            )?,
        ];
        for domain in &company.domains {
            ops.push(put(
                table,
                claim_item(format!("DOMAIN#{domain}"), &company.id),
                NOT_EXISTS,
                &[],
                StoreError::DomainTaken(domain.clone()),
            )?);
        }
        self.transact(ops).await
    }

    async fn get_company(&self, id: &str) -> Result<Option<Company>, StoreError> {
        self.get_doc(format!("COMPANY#{id}")).await
    }

    async fn replace_company(&self, previous: &Company, next: &Company) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let id = [(":id", s(&next.id))];
        let mut ops = vec![put(
            table,
            company_item(next)?,
            AT_VERSION,
            &[(":version", n(previous.version))],
            StoreError::VersionMismatch,
        )?];
        if previous.name_key() != next.name_key() {
            ops.push(put(
                table,
                claim_item(format!("COMPANYNAME#{}", next.name_key()), &next.id),
                NOT_EXISTS,
                &[],
                StoreError::CompanyNameTaken(next.name.clone()),
            )?);
            ops.push(delete(
                table,
                format!("COMPANYNAME#{}", previous.name_key()),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?);
        }
        for domain in next
            .domains
            .iter()
            .filter(|d| !previous.domains.contains(d))
        {
            ops.push(put(
                table,
                claim_item(format!("DOMAIN#{domain}"), &next.id),
                NOT_EXISTS,
                &[],
                StoreError::DomainTaken(domain.clone()),
            )?);
        }
        for domain in previous
            .domains
            .iter()
            .filter(|d| !next.domains.contains(d))
        {
            ops.push(delete(
                table,
                format!("DOMAIN#{domain}"),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?);
        }
        self.transact(ops).await
    }

    async fn delete_company(&self, company: &Company) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let id = [(":id", s(&company.id))];
        let mut ops = vec![
            delete(
                table,
                format!("COMPANY#{}", company.id),
                SINGLE,
                AT_VERSION,
                &[(":version", n(company.version))],
                StoreError::VersionMismatch,
            )?,
            delete(
                table,
                format!("COMPANYNAME#{}", company.name_key()),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?,
        ];
        for domain in &company.domains {
            ops.push(delete(
                table,
                format!("DOMAIN#{domain}"),
                SINGLE,
                OF_COMPANY,
                &id,
                StoreError::VersionMismatch,
            )?);
        }
        self.transact(ops).await
    }

    async fn list_companies(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Company>, StoreError> {
        let (items, _) = self
            .query_page(
                Some(INDEX_LISTING),
                ("list_pk", "COMPANIES".into()),
                "list_sk",
                after,
                None,
                limit + 1,
                true,
            )
            .await?;
        let rows = keyed_rows(&items, "list_sk")?;
        Ok(Page::from_rows(rows, limit))
    }

    async fn find_company_by_name(&self, name: &str) -> Result<Option<Company>, StoreError> {
        let claim = self
            .get(
                format!("COMPANYNAME#{}", crate::domain::company::name_key(name)),
                SINGLE,
            )
            .await?;
        match claim.as_ref().and_then(|item| get_s(item, "company_id")) {
            Some(id) => self.get_company(id).await,
            None => Ok(None),
        }
    }

    async fn companies_for_domains(
        &self,
        domains: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let pks: Vec<String> = domains.iter().map(|d| format!("DOMAIN#{d}")).collect();
        let items = self.batch_get(&pks).await?;
        Ok(pks
            .iter()
            .map(|pk| {
                items
                    .get(pk)
                    .and_then(|item| get_s(item, "company_id"))
                    .map(str::to_string)
            })
            .collect())
    }

    async fn company_for_domain(&self, domain: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(format!("DOMAIN#{domain}"), SINGLE)
            .await?
            .and_then(|item| get_s(&item, "company_id").map(str::to_string)))
    }

    async fn insert_field(&self, field: &FieldDefinition) -> Result<(), StoreError> {
        self.put_conditional(
            field_item(field)?,
            NOT_EXISTS,
            &[],
            StoreError::FieldKeyTaken(field.key.clone()),
        )
        .await
    }

    async fn replace_field(
        &self,
        previous: &FieldDefinition,
        next: &FieldDefinition,
    ) -> Result<(), StoreError> {
        let values = [(":version", n(previous.version))];
        self.put_conditional(
            field_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }

    async fn list_fields(&self) -> Result<Vec<FieldDefinition>, StoreError> {
        let mut fields = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (items, stopped_at) = self
                .query_page(
                    None,
                    ("pk", "FIELD".into()),
                    "sk",
                    after.as_deref(),
                    None,
                    500,
                    true,
                )
                .await?;
            for item in &items {
                fields.push(from_item(item)?);
            }
            match stopped_at {
                Some(position) => after = Some(position),
                None => return Ok(fields),
            }
        }
    }

    async fn insert_import_job(&self, job: &ImportJob) -> Result<(), StoreError> {
        let on_fail = StoreError::Exists(format!("import {}", job.id));
        self.put_conditional(import_item(job)?, NOT_EXISTS, &[], on_fail)
            .await
    }

    async fn get_import_job(&self, id: &str) -> Result<Option<ImportJob>, StoreError> {
        self.get_doc(format!("IMPORT#{id}")).await
    }

    async fn replace_import_job(
        &self,
        previous: &ImportJob,
        next: &ImportJob,
    ) -> Result<(), StoreError> {
        let values = [(":version", n(previous.version))];
        self.put_conditional(
            import_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }

    async fn store_message(&self, write: &MessageWrite) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let message = &write.message;
        let claim = Item::from([
            ("pk".into(), s(message_id_pk(&message.message_id))),
            ("sk".into(), s(SINGLE)),
            ("ticket_id".into(), s(&message.ticket_id)),
        ]);
        let ticket = match &write.ticket {
            TicketWrite::Insert(ticket) => put(
                table,
                ticket_item(ticket)?,
                NOT_EXISTS,
                &[],
                StoreError::Exists(format!("ticket {}", ticket.id)),
            )?,
            TicketWrite::Replace { previous, next } => put(
                table,
                ticket_item(next)?,
                AT_VERSION,
                &[(":version", n(previous.version))],
                StoreError::VersionMismatch,
            )?,
        };
        let ops = vec![
            put(
                table,
                inbound_item(&write.inbound)?,
                NOT_EXISTS,
                &[],
                StoreError::Exists(format!("inbound {}", write.inbound.id)),
            )?,
            put(
                table,
                claim,
                NOT_EXISTS,
                &[],
                StoreError::MessageIdTaken(message.message_id.clone()),
            )?,
            ticket,
            put(
                table,
                message_item(message)?,
                NOT_EXISTS,
                &[],
                StoreError::Exists(format!("message {}", message.id)),
            )?,
        ];
        self.transact(ops).await
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_doc(ticket_pk(id)).await
    }

    async fn replace_ticket(&self, previous: &Ticket, next: &Ticket) -> Result<(), StoreError> {
        let values = [(":version", n(previous.version))];
        self.put_conditional(
            ticket_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }

    async fn list_tickets(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Ticket>, StoreError> {
        let (items, _) = self
            .query_page(
                Some(INDEX_GROUP),
                ("group_pk", format!("TICKETS#{customer_id}")),
                "list_sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        Ok(Page::from_rows(keyed_rows(&items, "list_sk")?, limit))
    }

    async fn list_messages(
        &self,
        ticket_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TicketMessage>, StoreError> {
        let after = after.map(|a| format!("{MESSAGE_SK}{a}"));
        // Only messages sort after `MSG#…` in the partition, so a position needs no prefix
        // (and an exclusive `>` keeps the page full).
        let prefix = after.is_none().then_some(MESSAGE_SK);
        let (items, _) = self
            .query_page(
                None,
                ("pk", ticket_pk(ticket_id)),
                "sk",
                after.as_deref(),
                prefix,
                limit + 1,
                true,
            )
            .await?;
        let rows = keyed_rows(&items, "sk")?
            .into_iter()
            .map(|(key, message)| {
                let key = key.strip_prefix(MESSAGE_SK).unwrap_or(&key).to_string();
                (key, message)
            })
            .collect();
        Ok(Page::from_rows(rows, limit))
    }

    async fn ticket_for_message_id(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(message_id_pk(message_id), SINGLE)
            .await?
            .and_then(|item| get_s(&item, "ticket_id").map(str::to_string)))
    }

    async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError> {
        let on_fail = StoreError::Exists(format!("inbound {}", record.id));
        self.put_conditional(inbound_item(record)?, NOT_EXISTS, &[], on_fail)
            .await
    }

    async fn get_inbound(&self, id: &str) -> Result<Option<InboundRecord>, StoreError> {
        self.get_doc(format!("INBOUND#{id}")).await
    }

    async fn list_inbound(
        &self,
        status: Option<InboundStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError> {
        let (index, partition) = match status {
            Some(status) => (
                INDEX_GROUP,
                ("group_pk", format!("INBOUND#{}", status.as_str())),
            ),
            None => (INDEX_LISTING, ("list_pk", INBOUND_LIST.to_string())),
        };
        let (items, _) = self
            .query_page(
                Some(index),
                partition,
                "list_sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        Ok(Page::from_rows(keyed_rows(&items, "list_sk")?, limit))
    }
}

impl DynamoStore {
    /// The store a Lambda function uses: AWS configuration from the environment (region,
    /// credentials, `AWS_ENDPOINT_URL`), table from `TABLE_NAME`.
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_string())?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(Client::new(&config), table))
    }
}
