//! A DynamoDB-protocol endpoint for measurements and fault tests: in memory, with a fixed
//! latency per request and a write budget above which it answers
//! `ProvisionedThroughputExceededException`, as a provisioned table would.
//!
//! It speaks the subset the import uses: GetItem, PutItem, Query (partition key only),
//! BatchGetItem, TransactWriteItems (idempotent by `ClientRequestToken`) and
//! BatchExecuteStatement (PartiQL `INSERT` only), with the condition expressions the store
//! adapter sends.
//! Items are kept as their JSON text and requests are parsed without building JSON trees, so
//! that the endpoint's CPU cost stays small next to the importer's on a shared machine.
//! Shared by `benches/import.rs` and the test suite (included with `#[path]`).
//!
//! It counts capacity as DynamoDB charges it (`capacity.rs`): WRU and RRU per table and per
//! index, and the hottest partition key values, on `/stats`.
#![allow(
    dead_code,
    reason = "the test suite reads counters in process, the benchmark over /stats"
)]
#![allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, sent as it is"
)]

#[path = "capacity.rs"]
pub mod capacity;

#[path = "fake_reads.rs"]
mod reads;
use reads::{batch_get, get_item, query};

#[path = "fake_statements.rs"]
mod statements;
use statements::batch_execute;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;

type Key = (String, String);
/// An item's attributes, each as the raw JSON of its attribute value (`{"S":"…"}`).
type RawItem<'a> = HashMap<&'a str, &'a RawValue>;

/// One stored item: its JSON text, and the attributes condition expressions compare.
struct Stored {
    json: String,
    footprint: capacity::Footprint,
    version: Option<String>,
    customer_id: Option<String>,
    company_id: Option<String>,
    has_first_sk: bool,
}

pub struct FakeDynamo {
    pub address: SocketAddr,
    state: Arc<Shared>,
}

struct Shared {
    latency: Duration,
    /// Items written per second before throttling; 0 = unlimited.
    write_rate: f64,
    bucket: Mutex<TokenBucket>,
    items: Mutex<HashMap<Key, Stored>>,
    /// `ClientRequestToken`s of the transactions that went through: a repeat is answered with
    /// success and changes nothing, as DynamoDB does (for ten minutes; here, for ever).
    tokens: Mutex<std::collections::HashSet<String>>,
    throttled: AtomicU64,
    requests: AtomicU64,
    items_written: AtomicU64,
    meter: Mutex<capacity::Meter>,
}

struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

/// Counters the tests and benchmark read back.
#[derive(Debug, Clone, Copy)]
pub struct FakeStats {
    pub requests: u64,
    pub throttled: u64,
    pub items_written: u64,
    pub items_stored: usize,
}

impl FakeDynamo {
    /// Serves on a free loopback port until the runtime ends.
    pub async fn start(latency: Duration, write_rate: f64) -> FakeDynamo {
        FakeDynamo::start_with_limits(latency, write_rate, capacity::Limits::default()).await
    }

    /// As [`FakeDynamo::start`], also throttling writes by capacity units as DynamoDB does
    /// (per table, per index and per partition key value; `capacity.rs`).
    pub async fn start_with_limits(
        latency: Duration,
        write_rate: f64,
        limits: capacity::Limits,
    ) -> FakeDynamo {
        let state = Arc::new(Shared {
            latency,
            write_rate,
            // A tenth of a second of burst, like a provisioned table's burst capacity.
            bucket: Mutex::new(TokenBucket {
                tokens: write_rate / 10.0,
                updated: Instant::now(),
            }),
            items: Mutex::new(HashMap::new()),
            tokens: Mutex::new(std::collections::HashSet::new()),
            throttled: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            items_written: AtomicU64::new(0),
            meter: Mutex::new(capacity::Meter::new(limits)),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDynamo { address, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A DynamoDB client of this endpoint, with the SDK's defaults.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "fake", "fake", None, None, "fake",
            ))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub fn stats(&self) -> FakeStats {
        self.state.stats()
    }

    /// WRU and RRU per table and index, and the hottest partitions, as `/stats` shows them.
    pub fn capacity(&self) -> serde_json::Value {
        self.state.meter().report()
    }
}

impl Shared {
    fn stats(&self) -> FakeStats {
        FakeStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            items_written: self.items_written.load(Ordering::Relaxed),
            items_stored: self.items.lock().map(|i| i.len()).unwrap_or(0),
        }
    }

    fn meter(&self) -> std::sync::MutexGuard<'_, capacity::Meter> {
        self.meter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Stored>> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn reply(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body,
    )
        .into_response()
}

/// A write refused by a capacity limit, with its throttling reason as DynamoDB names it.
fn throttled(state: &Shared, refusal: &capacity::Throttled) -> Response {
    state.throttled.fetch_add(1, Ordering::Relaxed);
    let mut resource = "arn:aws:dynamodb:us-east-1:000000000000:table/fake".to_string();
    if refusal.resource != "table" {
        resource.push_str("/index/");
        resource.push_str(refusal.resource);
    }
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": format!("Throughput exceeds the current capacity ({})", refusal.reason),
        "ThrottlingReasons": [{ "reason": refusal.reason, "resource": resource }],
    });
    reply(StatusCode::BAD_REQUEST, body.to_string())
}

fn error(kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message });
    reply(StatusCode::BAD_REQUEST, body.to_string())
}

async fn handle(
    State(state): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Counters for a benchmark that runs the fake in another process.
    if uri.path() == "/stats" {
        let stats = state.stats();
        let mut body = serde_json::json!({
            "requests": stats.requests,
            "throttled": stats.throttled,
            "items_written": stats.items_written,
            "items_stored": stats.items_stored,
        });
        if let (Some(body), serde_json::Value::Object(capacity)) =
            (body.as_object_mut(), state.meter().report())
        {
            body.extend(capacity);
        }
        return reply(StatusCode::OK, body.to_string());
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(state.latency).await;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let response = match target.rsplit('.').next().unwrap_or_default() {
        "GetItem" => get_item(&state, &body),
        "PutItem" => put_item(&state, &body),
        "Query" => query(&state, &body),
        "BatchGetItem" => batch_get(&state, &body),
        "TransactWriteItems" => transact(&state, &body),
        "BatchWriteItem" => batch_write(&state, &body),
        "BatchExecuteStatement" => batch_execute(&state, &body),
        other => Err(error(
            "UnknownOperationException",
            &format!("{other} is not implemented by the fake"),
        )),
    };
    response.unwrap_or_else(|refused| refused)
}

type Answer = Result<Response, Response>;

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error("SerializationException", &e.to_string()))
}

/// The string inside a raw `{"S":"…"}` attribute value.
fn string_of(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct S {
        #[serde(rename = "S")]
        s: String,
    }
    serde_json::from_str::<S>(raw.get()).ok().map(|v| v.s)
}

fn key_of(item: &RawItem<'_>) -> Result<Key, Response> {
    match (
        item.get("pk").and_then(|v| string_of(v)),
        item.get("sk").and_then(|v| string_of(v)),
    ) {
        (Some(pk), Some(sk)) => Ok((pk, sk)),
        _ => Err(error("ValidationException", "pk and sk are required")),
    }
}

fn stored(item: &RawItem<'_>) -> Stored {
    let mut json = String::with_capacity(1024);
    json.push('{');
    for (i, (name, value)) in item.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(name);
        json.push_str("\":");
        json.push_str(value.get());
    }
    json.push('}');
    let text = |name: &str| item.get(name).map(|v| v.get().to_string());
    Stored {
        json,
        footprint: capacity::Footprint::of(item),
        version: text("version"),
        customer_id: text("customer_id"),
        company_id: text("company_id"),
        has_first_sk: item.contains_key("first_sk"),
    }
}

/// Takes `count` write tokens, or answers that the table is over its budget.
fn admit_writes(state: &Shared, count: usize) -> Result<(), Response> {
    if state.write_rate <= 0.0 {
        return Ok(());
    }
    let mut bucket = state
        .bucket
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    let refill = now.duration_since(bucket.updated).as_secs_f64() * state.write_rate;
    bucket.tokens = (bucket.tokens + refill).min(state.write_rate / 10.0);
    bucket.updated = now;
    if bucket.tokens >= count as f64 {
        bucket.tokens -= count as f64;
        Ok(())
    } else {
        state.throttled.fetch_add(1, Ordering::Relaxed);
        Err(error(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ))
    }
}

/// The condition expressions the store adapter sends; values compare as raw JSON text.
fn condition_holds(
    current: Option<&Stored>,
    condition: Option<&str>,
    values: &RawItem<'_>,
) -> bool {
    let same = |attr: Option<&String>, placeholder: &str| match (attr, values.get(placeholder)) {
        (Some(attr), Some(value)) => attr == value.get(),
        _ => false,
    };
    match condition {
        None => true,
        Some("attribute_not_exists(pk)") => current.is_none(),
        Some("attribute_exists(pk)") => current.is_some(),
        Some("version = :version") => same(current.and_then(|c| c.version.as_ref()), ":version"),
        Some("customer_id = :id") => same(current.and_then(|c| c.customer_id.as_ref()), ":id"),
        Some("company_id = :id") => same(current.and_then(|c| c.company_id.as_ref()), ":id"),
        // The layout migration's back-fill: only an item nobody rewrote since it was read.
        Some("attribute_exists(pk) AND attribute_not_exists(first_sk)") => {
            current.is_some_and(|c| !c.has_first_sk)
        }
        Some(_) => false,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Write<'a> {
    #[serde(borrow, default)]
    item: Option<RawItem<'a>>,
    #[serde(borrow, default)]
    key: Option<RawItem<'a>>,
    #[serde(default)]
    condition_expression: Option<String>,
    #[serde(borrow, default)]
    expression_attribute_values: RawItem<'a>,
}

fn put_item(state: &Shared, body: &[u8]) -> Answer {
    let request: Write<'_> = parse(body)?;
    let item = request
        .item
        .ok_or_else(|| error("ValidationException", "Item is required"))?;
    let key = key_of(&item)?;
    admit_writes(state, 1)?;
    let mut items = state.items();
    let next = stored(&item);
    // Capacity is taken whether the condition holds or not, as DynamoDB does.
    let charges = capacity::write_charges(
        &key.0,
        items.get(&key).map(|current| &current.footprint),
        Some(&next.footprint),
        false,
    );
    state
        .meter()
        .admit(&charges)
        .map_err(|refusal| throttled(state, &refusal))?;
    if !condition_holds(
        items.get(&key),
        request.condition_expression.as_deref(),
        &request.expression_attribute_values,
    ) {
        return Err(error(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        ));
    }
    items.insert(key, next);
    state.items_written.fetch_add(1, Ordering::Relaxed);
    Ok(reply(StatusCode::OK, "{}".into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteRequest<'a> {
    #[serde(borrow)]
    request_items: std::collections::HashMap<String, Vec<BatchWriteOp<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteOp<'a> {
    #[serde(borrow, default)]
    put_request: Option<Write<'a>>,
    #[serde(borrow, default)]
    delete_request: Option<Write<'a>>,
}

/// Puts and deletes without conditions, each charged as its own write (no transaction).
fn batch_write(state: &Shared, body: &[u8]) -> Answer {
    let request: BatchWriteRequest<'_> = parse(body)?;
    let operations: Vec<&BatchWriteOp<'_>> = request.request_items.values().flatten().collect();
    if operations.len() > 25 {
        return Err(error(
            "ValidationException",
            "Too many items requested for the BatchWriteItem call",
        ));
    }
    admit_writes(state, operations.len())?;
    let mut items = state.items();
    let mut planned: Vec<(Key, Option<Stored>)> = Vec::with_capacity(operations.len());
    for operation in operations {
        let (key, next) = match (&operation.put_request, &operation.delete_request) {
            (Some(put), None) => {
                let item = put
                    .item
                    .as_ref()
                    .ok_or_else(|| error("ValidationException", "PutRequest without Item"))?;
                (key_of(item)?, Some(stored(item)))
            }
            (None, Some(delete)) => {
                let key = delete
                    .key
                    .as_ref()
                    .ok_or_else(|| error("ValidationException", "DeleteRequest without Key"))?;
                (key_of(key)?, None)
            }
            _ => return Err(error("ValidationException", "an empty write request")),
        };
        planned.push((key, next));
    }
    let charges: Vec<capacity::Charge> = planned
        .iter()
        .flat_map(|(key, item)| {
            capacity::write_charges(
                &key.0,
                items.get(key).map(|current| &current.footprint),
                item.as_ref().map(|i| &i.footprint),
                false,
            )
        })
        .collect();
    state
        .meter()
        .admit(&charges)
        .map_err(|refusal| throttled(state, &refusal))?;
    let count = planned.len() as u64;
    for (key, item) in planned {
        match item {
            Some(item) => {
                items.insert(key, item);
            }
            None => {
                items.remove(&key);
            }
        }
    }
    state.items_written.fetch_add(count, Ordering::Relaxed);
    Ok(reply(StatusCode::OK, r#"{"UnprocessedItems":{}}"#.into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactRequest<'a> {
    #[serde(borrow)]
    transact_items: Vec<TransactOp<'a>>,
    #[serde(default)]
    client_request_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactOp<'a> {
    #[serde(borrow, default)]
    put: Option<Write<'a>>,
    #[serde(borrow, default)]
    delete: Option<Write<'a>>,
    #[serde(borrow, default)]
    condition_check: Option<Write<'a>>,
}

/// What a transaction's operation does to its item.
enum Change {
    Put(Stored),
    Delete,
    /// A condition check: the item stays as it is.
    Keep,
}

fn transact(state: &Shared, body: &[u8]) -> Answer {
    let request: TransactRequest<'_> = parse(body)?;
    if request.transact_items.len() > 100 {
        return Err(error(
            "ValidationException",
            "Member must have length less than or equal to 100",
        ));
    }
    admit_writes(state, request.transact_items.len())?;
    let mut items = state.items();
    let mut tokens = state
        .tokens
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(token) = &request.client_request_token
        && tokens.contains(token)
    {
        return Ok(reply(StatusCode::OK, "{}".into()));
    }
    // Check every condition first: all or nothing, with a reason per operation.
    let mut reasons = Vec::with_capacity(request.transact_items.len());
    let mut failed = false;
    let mut planned: Vec<(Key, Change)> = Vec::with_capacity(request.transact_items.len());
    for operation in &request.transact_items {
        let (write, is_put) = match (
            &operation.put,
            &operation.delete,
            &operation.condition_check,
        ) {
            (Some(put), None, None) => (put, true),
            (None, Some(write), None) | (None, None, Some(write)) => (write, false),
            _ => {
                return Err(error(
                    "ValidationException",
                    "only Put, Delete and ConditionCheck are implemented by the fake",
                ));
            }
        };
        let key = match (is_put, &write.item, &write.key) {
            (true, Some(item), _) => key_of(item)?,
            (false, _, Some(key)) => key_of(key)?,
            _ => return Err(error("ValidationException", "an operation without a key")),
        };
        if planned.iter().any(|(k, _)| k == &key) {
            return Err(error(
                "ValidationException",
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        if condition_holds(
            items.get(&key),
            write.condition_expression.as_deref(),
            &write.expression_attribute_values,
        ) {
            reasons.push(r#"{"Code":"None"}"#);
        } else {
            failed = true;
            reasons.push(
                r#"{"Code":"ConditionalCheckFailed","Message":"The conditional request failed"}"#,
            );
        }
        let change = match (is_put, &write.item) {
            (true, Some(item)) => Change::Put(stored(item)),
            _ if operation.condition_check.is_some() => Change::Keep,
            _ => Change::Delete,
        };
        planned.push((key, change));
    }
    let charges: Vec<capacity::Charge> = planned
        .iter()
        .flat_map(|(key, change)| {
            let current = items.get(key).map(|current| &current.footprint);
            let (next, touched) = match change {
                Change::Put(item) => (Some(&item.footprint), usize::MAX),
                Change::Delete => (None, usize::MAX),
                // A condition check is charged as a write of the item as it is, in the
                // table only: no index changes.
                Change::Keep => (current, 1),
            };
            let mut charges = capacity::write_charges(&key.0, current, next, true);
            charges.truncate(touched);
            charges
        })
        .collect();
    state
        .meter()
        .admit(&charges)
        .map_err(|refusal| throttled(state, &refusal))?;
    if failed {
        let body = format!(
            "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"message\":\"Transaction cancelled, please refer cancellation reasons for specific reasons\",\"CancellationReasons\":[{}]}}",
            reasons.join(",")
        );
        return Err(reply(StatusCode::BAD_REQUEST, body));
    }
    let count = planned.len() as u64;
    for (key, change) in planned {
        match change {
            Change::Put(item) => {
                items.insert(key, item);
            }
            Change::Delete => {
                items.remove(&key);
            }
            Change::Keep => {}
        }
    }
    state.items_written.fetch_add(count, Ordering::Relaxed);
    if let Some(token) = request.client_request_token {
        tokens.insert(token);
    }
    Ok(reply(StatusCode::OK, "{}".into()))
}
