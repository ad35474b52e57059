//! A metering proxy in front of dynoxide, for measurements and fault tests.
//!
//! Every call reaches the real engine (dynoxide, checked against DynamoDB by its conformance
//! suite). The proxy adds only what an engine on this machine lacks:
//! - DynamoDB's write limits (`capacity.rs`): per table, per index and per partition key value,
//!   refused before the call reaches the engine, with DynamoDB's throttling reasons; or a flat
//!   budget of items per second, as a provisioned table gives;
//! - a fixed latency per call;
//! - the capacity each call consumed, as the engine reports it (the proxy asks every call for
//!   `ReturnConsumedCapacity: INDEXES`), per table and index, and the hottest partition key
//!   values per second, on `/stats`.
//!
//! Partition figures and limits are charged from each write's own item, read from the request
//! before it is sent: exact for puts and inserts. An update, delete or condition check is
//! charged one unit in the table at its key (its size is the engine's to know), and a replaced
//! item's old index entries are not seen there: in this table an item keeps its index
//! partitions when it changes, so the hottest-partition figures hold. A write refused by its
//! condition is charged one unit of its item, as DynamoDB charges it (the engine reports nothing
//! for a failed call).
//! Shared by the benchmarks and the test suite (included with `#[path]`).
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

#[path = "metering_writes.rs"]
mod writes;
use writes::{ItemWrite, inserted, writes_of};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, Value, json};

type Engine = Client<HttpConnector, Full<Bytes>>;

/// Calls that only read: their capacity is counted in read units.
const READS: [&str; 5] = [
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
];

/// Calls that can report what they consumed; the others (tables, streams) pass untouched.
const METERED: [&str; 13] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "BatchExecuteStatement",
    "ExecuteStatement",
    "ExecuteTransaction",
];

pub struct MeteringProxy {
    pub address: SocketAddr,
    state: Arc<Shared>,
}

struct Shared {
    /// The engine's `http://host:port`.
    target: String,
    engine: Engine,
    latency: Duration,
    /// Items written per second before throttling; 0 = unlimited.
    write_rate: f64,
    bucket: Mutex<TokenBucket>,
    throttled: AtomicU64,
    requests: AtomicU64,
    items_written: AtomicU64,
    meter: Mutex<capacity::Meter>,
}

struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

/// Counters the tests and benchmarks read back.
#[derive(Debug, Clone, Copy)]
pub struct ProxyStats {
    pub requests: u64,
    pub throttled: u64,
    pub items_written: u64,
}

/// The engine the proxy stands in front of: dynoxide, as `bash tests/run` starts it.
pub fn dynoxide_endpoint() -> Option<String> {
    std::env::var("DYNAMODB_ENDPOINT").ok()
}

/// What a benchmark prints when there is no engine to measure on.
pub const NOT_MEASURED: &str =
    "not measured (set DYNAMODB_ENDPOINT to a dynoxide endpoint, as `bash tests/run` starts one)";

/// A new table on dynoxide (named after `label` and this process) and a proxy in front of it
/// without latency or limits; `None` without `DYNAMODB_ENDPOINT`.
pub async fn on_new_table(label: &str) -> Option<(MeteringProxy, String)> {
    let engine = dynoxide_endpoint()?;
    let proxy = MeteringProxy::start(&engine, Duration::ZERO, 0.0).await;
    let table = format!("{label}-{}", std::process::id());
    helpdesk_shared::store::dynamodb::DynamoStore::create_table(&proxy.client(), &table)
        .await
        .expect("dynoxide accepts CreateTable");
    Some((proxy, table))
}

impl MeteringProxy {
    /// Serves on a free loopback port until the runtime ends, forwarding to `target`.
    pub async fn start(target: &str, latency: Duration, write_rate: f64) -> MeteringProxy {
        Self::start_with_limits(target, latency, write_rate, capacity::Limits::default()).await
    }

    /// As [`MeteringProxy::start`], also throttling writes by capacity units as DynamoDB does
    /// (per table, per index and per partition key value; `capacity.rs`).
    pub async fn start_with_limits(
        target: &str,
        latency: Duration,
        write_rate: f64,
        limits: capacity::Limits,
    ) -> MeteringProxy {
        let engine = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let state = Arc::new(Shared {
            target: target.trim_end_matches('/').to_string(),
            engine,
            latency,
            write_rate,
            // A tenth of a second of burst, like a provisioned table's burst capacity.
            bucket: Mutex::new(TokenBucket {
                tokens: write_rate / 10.0,
                updated: Instant::now(),
            }),
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
        MeteringProxy { address, state }
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
                "proxy", "proxy", None, None, "proxy",
            ))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub fn stats(&self) -> ProxyStats {
        self.state.stats()
    }

    /// WRU and RRU per table and index, and the hottest partitions, as `/stats` shows them.
    pub fn capacity(&self) -> Value {
        self.state.meter().report()
    }
}

impl Shared {
    fn stats(&self) -> ProxyStats {
        ProxyStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            items_written: self.items_written.load(Ordering::Relaxed),
        }
    }

    fn meter(&self) -> std::sync::MutexGuard<'_, capacity::Meter> {
        self.meter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stats_json(&self) -> Value {
        let stats = self.stats();
        let mut body = json!({
            "requests": stats.requests,
            "throttled": stats.throttled,
            "items_written": stats.items_written,
        });
        if let (Some(body), Value::Object(capacity)) = (body.as_object_mut(), self.meter().report())
        {
            body.extend(capacity);
        }
        body
    }

    /// Takes `count` write tokens of the flat budget, or answers that the table is over it.
    fn admit_items(&self, count: usize) -> Result<(), Response> {
        if self.write_rate <= 0.0 {
            return Ok(());
        }
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.write_rate;
        bucket.tokens = (bucket.tokens + refill).min(self.write_rate / 10.0);
        bucket.updated = now;
        if bucket.tokens >= count as f64 {
            bucket.tokens -= count as f64;
            return Ok(());
        }
        self.throttled.fetch_add(1, Ordering::Relaxed);
        Err(error(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ))
    }

    /// Admits `writes` as one call, under the flat budget and DynamoDB's limits.
    fn admit(&self, writes: &[ItemWrite], transactional: bool) -> Result<(), Response> {
        self.admit_items(writes.len())?;
        let charges: Vec<capacity::Charge> = writes
            .iter()
            .flat_map(|write| write.charges(transactional))
            .collect();
        self.meter().admit(&charges).map_err(|refusal| {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            let table = writes.first().map_or("", |w| w.table.as_str());
            throttled(table, &refusal)
        })
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

fn error(kind: &str, message: &str) -> Response {
    let body =
        json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message });
    reply(StatusCode::BAD_REQUEST, body.to_string())
}

/// A write refused by a capacity limit, with its throttling reason as DynamoDB names it.
fn throttled(table: &str, refusal: &capacity::Throttled) -> Response {
    let mut resource = format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}");
    if refusal.resource != "table" {
        resource.push_str("/index/");
        resource.push_str(refusal.resource);
    }
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": format!("Throughput exceeds the current capacity ({})", refusal.reason),
        "ThrottlingReasons": [{ "reason": refusal.reason, "resource": resource }],
    });
    reply(StatusCode::BAD_REQUEST, body.to_string())
}

async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Counters for a benchmark that runs the proxy in another process.
    if uri.path() == "/stats" {
        return reply(StatusCode::OK, state.stats_json().to_string());
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    let parsed = METERED
        .contains(&operation.as_str())
        .then(|| serde_json::from_slice::<Value>(&body).ok())
        .flatten();
    let Some(Value::Object(request)) = parsed else {
        // Not a call the proxy meters: the engine answers it as it is.
        return forward(&state, method, &uri, &headers, body)
            .await
            .map_or_else(|e| e, |answer| answer.into_response());
    };
    let metered = Call {
        state: &state,
        method,
        uri: &uri,
        headers: &headers,
        operation: &operation,
    };
    if operation == "BatchExecuteStatement" {
        return metered.statements(request).await;
    }
    metered.single(request).await
}

/// One call on its way through the proxy.
struct Call<'a> {
    state: &'a Shared,
    method: Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    operation: &'a str,
}

impl Call<'_> {
    /// A call admitted or refused as a whole.
    async fn single(self, mut request: Map<String, Value>) -> Response {
        let writes = writes_of(self.operation, &request);
        if !writes.is_empty()
            && let Err(refused) = self
                .state
                .admit(&writes, self.operation == "TransactWriteItems")
        {
            return refused;
        }
        let answer = match self.send(&mut request).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        if answer.status.is_success() {
            self.state
                .items_written
                .fetch_add(writes.len() as u64, Ordering::Relaxed);
        } else if answer
            .error_type()
            .ends_with("ConditionalCheckFailedException")
            && let Some(write) = writes.first()
        {
            let size = write.footprint.as_ref().map_or(0, |f| f.size);
            self.state
                .meter()
                .consumed("table", capacity::write_units(size), false);
        }
        answer.into_response()
    }

    /// A `BatchExecuteStatement`: each statement admitted or refused alone, as DynamoDB
    /// answers each with its own error while the call answers 200.
    async fn statements(self, mut request: Map<String, Value>) -> Response {
        let statements = match request.remove("Statements") {
            Some(Value::Array(statements)) => statements,
            _ => return error("ValidationException", "Statements is required"),
        };
        let mut answers: Vec<Option<Value>> = Vec::with_capacity(statements.len());
        let mut admitted = Vec::with_capacity(statements.len());
        for statement in statements {
            let write = inserted(&statement);
            match write.map(|w| self.state.admit(&[w], false)) {
                Some(Err(_)) => answers.push(Some(json!({ "Error": {
                    "Code": "ProvisionedThroughputExceeded",
                    "Message": "Throughput exceeds the current capacity",
                }}))),
                _ => {
                    answers.push(None);
                    admitted.push(statement);
                }
            }
        }
        let refused_any = admitted.len() < answers.len();
        if admitted.is_empty() {
            return reply(StatusCode::OK, json!({ "Responses": answers }).to_string());
        }
        request.insert("Statements".into(), Value::Array(admitted));
        let answer = match self.send(&mut request).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        if !answer.status.is_success() {
            return answer.into_response();
        }
        let mut body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let mut engine = body["Responses"].as_array().cloned().unwrap_or_default();
        let written = engine.iter().filter(|r| r.get("Error").is_none()).count();
        self.state
            .items_written
            .fetch_add(written as u64, Ordering::Relaxed);
        if !refused_any {
            return answer.into_response();
        }
        // Each engine answer goes back to its statement's place.
        engine.reverse();
        let merged: Vec<Value> = answers
            .into_iter()
            .map(|own| own.or_else(|| engine.pop()).unwrap_or_default())
            .collect();
        body["Responses"] = Value::Array(merged);
        reply(StatusCode::OK, body.to_string())
    }

    /// Sends the call to the engine, asking what it consumed, and counts that.
    async fn send(&self, request: &mut Map<String, Value>) -> Result<Answer, Response> {
        request.insert("ReturnConsumedCapacity".into(), json!("INDEXES"));
        let body = Bytes::from(serde_json::to_vec(request).unwrap_or_default());
        let answer = forward(
            self.state,
            self.method.clone(),
            self.uri,
            self.headers,
            body,
        )
        .await?;
        if answer.status.is_success() {
            self.count_consumed(&answer.body);
        }
        Ok(answer)
    }

    fn count_consumed(&self, body: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let read = READS.contains(&self.operation);
        let entries = match &answer["ConsumedCapacity"] {
            Value::Array(entries) => entries.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        let mut meter = self.state.meter();
        for entry in entries {
            let units = |part: &Value| part["CapacityUnits"].as_f64().unwrap_or(0.0);
            meter.consumed("table", units(&entry["Table"]), read);
            for (index, part) in entry["GlobalSecondaryIndexes"]
                .as_object()
                .into_iter()
                .flatten()
            {
                meter.consumed(index, units(part), read);
            }
        }
    }
}

/// The engine's answer, whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn error_type(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn into_response(self) -> Response {
        let mut response = Response::new(axum::body::Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// One call to the engine, over a pooled connection.
async fn forward(
    state: &Shared,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer, Response> {
    use http_body_util::BodyExt;
    let unreachable =
        |e: String| (StatusCode::BAD_GATEWAY, format!("metering proxy: {e}")).into_response();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", state.target));
    for (name, value) in headers {
        // The body may have changed; the client sets its length again.
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| unreachable(e.to_string()))?;
    let response = state
        .engine
        .request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let (mut parts, incoming) = response.into_parts();
    let body = incoming
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    // The proxy may rewrite the body: lengths and checksums are the server's to set again.
    parts.headers.remove("content-length");
    parts.headers.remove("x-amz-crc32");
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
