//! A DynamoDB-protocol endpoint for measurements and fault tests: in memory, with a fixed
//! latency per request and a write budget above which it answers
//! `ProvisionedThroughputExceededException`, as a provisioned table would.
//!
//! It speaks the subset the import uses: GetItem, PutItem, Query (partition key only),
//! BatchGetItem and TransactWriteItems (idempotent by `ClientRequestToken`), with the condition
//! expressions the store adapter sends.
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
        Some("version = :version") => same(current.and_then(|c| c.version.as_ref()), ":version"),
        Some("customer_id = :id") => same(current.and_then(|c| c.customer_id.as_ref()), ":id"),
        Some("company_id = :id") => same(current.and_then(|c| c.company_id.as_ref()), ":id"),
        Some(_) => false,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyRequest<'a> {
    #[serde(borrow)]
    key: RawItem<'a>,
    #[serde(default)]
    consistent_read: bool,
}

fn get_item(state: &Shared, body: &[u8]) -> Answer {
    let request: KeyRequest<'_> = parse(body)?;
    let key = key_of(&request.key)?;
    let items = state.items();
    let size = items.get(&key).map_or(0, |item| item.footprint.size);
    state.meter().read(None, size, request.consistent_read);
    Ok(match items.get(&key) {
        Some(item) => reply(StatusCode::OK, format!("{{\"Item\":{}}}", item.json)),
        None => reply(StatusCode::OK, "{}".into()),
    })
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
struct QueryRequest<'a> {
    #[serde(default)]
    index_name: Option<String>,
    #[serde(default)]
    key_condition_expression: Option<String>,
    #[serde(default)]
    scan_index_forward: Option<bool>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    consistent_read: bool,
    #[serde(borrow, default)]
    expression_attribute_values: RawItem<'a>,
}

fn query(state: &Shared, body: &[u8]) -> Answer {
    let request: QueryRequest<'_> = parse(body)?;
    // Table and index queries with the sort-key conditions the adapter writes: `begins_with`,
    // `>`, `<`, BETWEEN. An index is found by name among the template's ([`capacity::INDEXES`]).
    let index = match request.index_name.as_deref() {
        None => None,
        Some(name) => match capacity::INDEXES.iter().position(|i| i.name == name) {
            Some(position) => Some(position),
            None => {
                return Err(error(
                    "ValidationException",
                    &format!("the table has no index {name}"),
                ));
            }
        },
    };
    let value = |name: &str| {
        request
            .expression_attribute_values
            .get(name)
            .and_then(|v| string_of(v))
    };
    let partition = value(":p").unwrap_or_default();
    let condition = request.key_condition_expression.unwrap_or_default();
    let (prefix, after, end) = (value(":prefix"), value(":after"), value(":end"));
    let sort_matches = |sk: &str| {
        let prefixed = prefix.as_deref().is_none_or(|p| sk.starts_with(p));
        let ranged = match (&after, &end) {
            (Some(a), Some(e)) => sk >= a.as_str() && sk <= e.as_str(),
            (Some(a), None) if condition.contains("> :after") => sk > a.as_str(),
            (Some(a), None) if condition.contains("< :after") => sk < a.as_str(),
            _ => true,
        };
        prefixed && ranged
    };
    let items = state.items();
    // Each match with its position: (index sort key or table sort key, table key).
    let mut found: Vec<((&str, &Key), &Stored)> = items
        .iter()
        .filter_map(|(key, item)| match index {
            None => (key.0 == partition).then_some(((key.1.as_str(), key), item)),
            Some(i) => match item.footprint.index_keys.get(i) {
                Some(Some((hash, range))) if *hash == partition => {
                    Some(((range.as_str(), key), item))
                }
                _ => None,
            },
        })
        .filter(|((sort, _), _)| sort_matches(sort))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if request.scan_index_forward == Some(false) {
        found.reverse();
    }
    // DynamoDB stops at the limit and says where: the last item's table and index keys.
    let mut last_key = String::new();
    if let Some(limit) = request.limit
        && found.len() > limit
    {
        found.truncate(limit);
        if let Some(((sort, (pk, sk)), _)) = found.last() {
            let attribute = |name: &str, value: &str| {
                format!("{}:{{\"S\":{}}}", json_string(name), json_string(value))
            };
            let mut parts = vec![attribute("pk", pk), attribute("sk", sk)];
            if let Some(i) = index {
                parts.push(attribute(capacity::INDEXES[i].hash, &partition));
                parts.push(attribute(capacity::INDEXES[i].range, sort));
            }
            last_key = format!(",\"LastEvaluatedKey\":{{{}}}", parts.join(","));
        }
    }
    let size = found.iter().map(|(_, item)| item.footprint.size).sum();
    // Index reads are always eventually consistent.
    let (index_name, consistent) = match index {
        Some(i) => (Some(capacity::INDEXES[i].name), false),
        None => (None, request.consistent_read),
    };
    state.meter().read(index_name, size, consistent);
    let listed: Vec<&str> = found.iter().map(|(_, item)| item.json.as_str()).collect();
    Ok(reply(
        StatusCode::OK,
        format!(
            "{{\"Items\":[{}],\"Count\":{}{last_key}}}",
            listed.join(","),
            listed.len()
        ),
    ))
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetRequest<'a> {
    #[serde(borrow)]
    request_items: HashMap<String, BatchKeys<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchKeys<'a> {
    #[serde(borrow)]
    keys: Vec<RawItem<'a>>,
    #[serde(default)]
    consistent_read: bool,
}

fn batch_get(state: &Shared, body: &[u8]) -> Answer {
    let request: BatchGetRequest<'_> = parse(body)?;
    let items = state.items();
    let mut responses = Vec::new();
    for (table, spec) in &request.request_items {
        if spec.keys.len() > 100 {
            return Err(error(
                "ValidationException",
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let mut found = Vec::new();
        for key in &spec.keys {
            let item = items.get(&key_of(key)?);
            let size = item.map_or(0, |item| item.footprint.size);
            state.meter().read(None, size, spec.consistent_read);
            if let Some(item) = item {
                found.push(item.json.as_str());
            }
        }
        responses.push(format!(
            "{}:[{}]",
            serde_json::to_string(table).unwrap_or_default(),
            found.join(",")
        ));
    }
    Ok(reply(
        StatusCode::OK,
        format!(
            "{{\"Responses\":{{{}}},\"UnprocessedKeys\":{{}}}}",
            responses.join(",")
        ),
    ))
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
    let mut planned: Vec<(Key, Option<Stored>)> = Vec::with_capacity(request.transact_items.len());
    for operation in &request.transact_items {
        let (write, is_put) = match (&operation.put, &operation.delete) {
            (Some(put), None) => (put, true),
            (None, Some(delete)) => (delete, false),
            _ => {
                return Err(error(
                    "ValidationException",
                    "only Put and Delete are implemented by the fake",
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
        planned.push((
            key,
            if is_put {
                write.item.as_ref().map(stored)
            } else {
                None
            },
        ));
    }
    let charges: Vec<capacity::Charge> = planned
        .iter()
        .flat_map(|(key, item)| {
            capacity::write_charges(
                &key.0,
                items.get(key).map(|current| &current.footprint),
                item.as_ref().map(|i| &i.footprint),
                true,
            )
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
    if let Some(token) = request.client_request_token {
        tokens.insert(token);
    }
    Ok(reply(StatusCode::OK, "{}".into()))
}
