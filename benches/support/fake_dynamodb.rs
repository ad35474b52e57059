//! A DynamoDB-protocol endpoint for measurements and fault tests: in memory, with a fixed
//! latency per request and a write budget above which it answers
//! `ProvisionedThroughputExceededException`, as a provisioned table would.
//!
//! It speaks the subset the import uses: GetItem, PutItem, Query (partition key only),
//! BatchGetItem and TransactWriteItems, with the condition expressions the store adapter sends.
//! Shared by `benches/import.rs` and the test suite (included with `#[path]`).
#![allow(
    dead_code,
    reason = "the test suite reads counters in process, the benchmark over /stats"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

type Item = Map<String, Value>;

pub struct FakeDynamo {
    pub address: SocketAddr,
    state: Arc<Shared>,
}

struct Shared {
    latency: Duration,
    /// Items written per second before throttling; 0 = unlimited.
    write_rate: f64,
    bucket: Mutex<TokenBucket>,
    items: Mutex<HashMap<(String, String), Item>>,
    pub throttled: AtomicU64,
    pub requests: AtomicU64,
    pub items_written: AtomicU64,
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
        let state = Arc::new(Shared {
            latency,
            write_rate,
            // A tenth of a second of burst, like a provisioned table's burst capacity.
            bucket: Mutex::new(TokenBucket {
                tokens: write_rate / 10.0,
                updated: Instant::now(),
            }),
            items: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            items_written: AtomicU64::new(0),
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
        FakeStats {
            requests: self.state.requests.load(Ordering::Relaxed),
            throttled: self.state.throttled.load(Ordering::Relaxed),
            items_written: self.state.items_written.load(Ordering::Relaxed),
            items_stored: self.state.items.lock().map(|i| i.len()).unwrap_or(0),
        }
    }
}

fn error(kind: &str, message: &str) -> Response {
    let body =
        json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message });
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Counters for a benchmark that runs the fake in another process.
    if uri.path() == "/stats" {
        let items = state.items.lock().map(|i| i.len()).unwrap_or(0);
        return ok(json!({
            "requests": state.requests.load(Ordering::Relaxed),
            "throttled": state.throttled.load(Ordering::Relaxed),
            "items_written": state.items_written.load(Ordering::Relaxed),
            "items_stored": items,
        }));
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(state.latency).await;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or_default().to_string();
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error("SerializationException", "body is not JSON");
    };
    match operation.as_str() {
        "GetItem" => get_item(&state, &request),
        "PutItem" => put_item(&state, &request),
        "Query" => query(&state, &request),
        "BatchGetItem" => batch_get(&state, &request),
        "TransactWriteItems" => transact(&state, &request),
        other => error(
            "UnknownOperationException",
            &format!("{other} is not implemented by the fake"),
        ),
    }
}

fn key_of(item: &Item) -> Option<(String, String)> {
    let pk = item.get("pk")?.get("S")?.as_str()?.to_string();
    let sk = item.get("sk")?.get("S")?.as_str()?.to_string();
    Some((pk, sk))
}

/// Takes `count` write tokens, or answers that the table is over its budget.
fn admit_writes(state: &Shared, count: usize) -> bool {
    if state.write_rate <= 0.0 {
        return true;
    }
    let Ok(mut bucket) = state.bucket.lock() else {
        return false;
    };
    let now = Instant::now();
    let refill = now.duration_since(bucket.updated).as_secs_f64() * state.write_rate;
    bucket.tokens = (bucket.tokens + refill).min(state.write_rate / 10.0);
    bucket.updated = now;
    if bucket.tokens >= count as f64 {
        bucket.tokens -= count as f64;
        true
    } else {
        false
    }
}

fn throttled(state: &Shared) -> Response {
    state.throttled.fetch_add(1, Ordering::Relaxed);
    error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    )
}

/// The condition expressions the store adapter sends.
fn condition_holds(
    current: Option<&Item>,
    condition: Option<&str>,
    values: &Map<String, Value>,
) -> bool {
    let attr = |name: &str| current.and_then(|i| i.get(name));
    match condition {
        None => true,
        Some("attribute_not_exists(pk)") => current.is_none(),
        Some("version = :version") => {
            attr("version").is_some() && attr("version") == values.get(":version")
        }
        Some("customer_id = :id") => {
            attr("customer_id").is_some() && attr("customer_id") == values.get(":id")
        }
        Some("company_id = :id") => {
            attr("company_id").is_some() && attr("company_id") == values.get(":id")
        }
        Some(_) => false,
    }
}

fn get_item(state: &Shared, request: &Value) -> Response {
    let Some(key) = request
        .get("Key")
        .and_then(Value::as_object)
        .and_then(key_of)
    else {
        return error("ValidationException", "Key is required");
    };
    let items = state.items.lock().expect("items");
    match items.get(&key) {
        Some(item) => ok(json!({ "Item": item })),
        None => ok(json!({})),
    }
}

fn put_item(state: &Shared, request: &Value) -> Response {
    let Some(item) = request.get("Item").and_then(Value::as_object).cloned() else {
        return error("ValidationException", "Item is required");
    };
    let Some(key) = key_of(&item) else {
        return error("ValidationException", "pk and sk are required");
    };
    if !admit_writes(state, 1) {
        return throttled(state);
    }
    let values = request
        .get("ExpressionAttributeValues")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let condition = request.get("ConditionExpression").and_then(Value::as_str);
    let mut items = state.items.lock().expect("items");
    if !condition_holds(items.get(&key), condition, &values) {
        return error(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        );
    }
    items.insert(key, item);
    state.items_written.fetch_add(1, Ordering::Relaxed);
    ok(json!({}))
}

fn query(state: &Shared, request: &Value) -> Response {
    // Only partition-key queries on the table (the import reads the custom fields this way).
    if request.get("IndexName").is_some() {
        return error("ValidationException", "the fake serves table queries only");
    }
    let partition = request
        .pointer("/ExpressionAttributeValues/:p/S")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let items = state.items.lock().expect("items");
    let mut found: Vec<&Item> = items
        .iter()
        .filter(|((pk, _), _)| pk == partition)
        .map(|(_, item)| item)
        .collect();
    found.sort_by_key(|item| key_of(item));
    ok(json!({ "Items": found, "Count": found.len() }))
}

fn batch_get(state: &Shared, request: &Value) -> Response {
    let Some(tables) = request.get("RequestItems").and_then(Value::as_object) else {
        return error("ValidationException", "RequestItems is required");
    };
    let items = state.items.lock().expect("items");
    let mut responses = Map::new();
    for (table, spec) in tables {
        let keys = spec
            .get("Keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if keys.len() > 100 {
            return error(
                "ValidationException",
                "Too many items requested for the BatchGetItem call",
            );
        }
        let found: Vec<&Item> = keys
            .iter()
            .filter_map(|k| k.as_object().and_then(key_of))
            .filter_map(|k| items.get(&k))
            .collect();
        responses.insert(table.clone(), json!(found));
    }
    ok(json!({ "Responses": responses, "UnprocessedKeys": {} }))
}

fn transact(state: &Shared, request: &Value) -> Response {
    let operations = request
        .get("TransactItems")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if operations.len() > 100 {
        return error(
            "ValidationException",
            "Member must have length less than or equal to 100",
        );
    }
    if !admit_writes(state, operations.len()) {
        return throttled(state);
    }
    let mut items = state.items.lock().expect("items");
    // Check every condition first: all or nothing, with a reason per operation.
    let mut reasons = Vec::new();
    let mut failed = false;
    let mut planned: Vec<((String, String), Option<Item>)> = Vec::new();
    for operation in &operations {
        let (body, item) = if let Some(put) = operation.get("Put") {
            let item = put
                .get("Item")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            (put, Some(item))
        } else if let Some(delete) = operation.get("Delete") {
            (delete, None)
        } else {
            return error(
                "ValidationException",
                "only Put and Delete are implemented by the fake",
            );
        };
        let key = match &item {
            Some(item) => key_of(item),
            None => body.get("Key").and_then(Value::as_object).and_then(key_of),
        };
        let Some(key) = key else {
            return error("ValidationException", "an operation without a key");
        };
        if planned.iter().any(|(k, _)| k == &key) {
            return error(
                "ValidationException",
                "Transaction request cannot include multiple operations on one item",
            );
        }
        let values = body
            .get("ExpressionAttributeValues")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let condition = body.get("ConditionExpression").and_then(Value::as_str);
        if condition_holds(items.get(&key), condition, &values) {
            reasons.push(json!({ "Code": "None" }));
        } else {
            failed = true;
            reasons.push(json!({ "Code": "ConditionalCheckFailed", "Message": "The conditional request failed" }));
        }
        planned.push((key, item));
    }
    if failed {
        let body = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        });
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            body.to_string(),
        )
            .into_response();
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
    ok(json!({}))
}
