//! A fault-injecting proxy for DynamoDB-protocol endpoints: it sits between the store adapter
//! and the endpoint and fails calls the way a bad day in production does.
//!
//! - Before a call reaches the table, about one in `fail_one_in` fails: a JSON 500
//!   `InternalServerError`, a 400 `ProvisionedThroughputExceededException`, or a 500 whose body
//!   is an HTML page (as a load balancer sends).
//! - About one write in `lose_one_in` reaches the table and is applied, but its answer is
//!   replaced by a 500: the caller cannot know it went through.
//!
//! The faults are drawn from a seeded generator, so a failing run can be replayed. Requests
//! that are not DynamoDB operations (the fake's `/stats`) pass untouched.
//! Shared by `benches/import.rs` and the test suite (included with `#[path]`).
#![allow(dead_code, reason = "the benchmark does not read the counters")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the proxy did, for the test to check that faults really happened.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub calls: AtomicU64,
    pub failed_before: AtomicU64,
    pub html_errors: AtomicU64,
    pub answers_lost: AtomicU64,
}

pub struct FaultProxy {
    pub address: std::net::SocketAddr,
    pub counts: Arc<FaultCounts>,
}

struct Proxy {
    target: String,
    fail_one_in: u32,
    lose_one_in: u32,
    rng: Mutex<StdRng>,
    counts: Arc<FaultCounts>,
}

const WRITES: [&str; 6] = [
    "PutItem",
    "TransactWriteItems",
    "DeleteItem",
    "UpdateItem",
    "BatchWriteItem",
    "BatchExecuteStatement",
];

impl FaultProxy {
    /// Forwards to `target` (`host:port`) on a free loopback port until the runtime ends.
    pub async fn start(target: &str, fail_one_in: u32, lose_one_in: u32, seed: u64) -> Self {
        let counts = Arc::new(FaultCounts::default());
        let proxy = Arc::new(Proxy {
            target: target.trim_start_matches("http://").to_string(),
            fail_one_in,
            lose_one_in,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counts: Arc::clone(&counts),
        });
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { address, counts }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

fn json_error(status: StatusCode, kind: &str) -> Response {
    let body = format!(
        "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{kind}\",\"message\":\"injected by the fault proxy\"}}"
    );
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body,
    )
        .into_response()
}

fn html_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/html")],
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
    )
        .into_response()
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    proxy.counts.calls.fetch_add(1, Ordering::Relaxed);
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    if operation.is_empty() {
        return match send(&proxy.target, method, &uri, &headers, body).await {
            Ok(answer) => answer,
            Err(error) => (StatusCode::BAD_GATEWAY, format!("proxy: {error}")).into_response(),
        };
    }
    let is_write = WRITES.contains(&operation.as_str());
    let (fail, kind, lose) = {
        let mut rng = proxy.rng.lock().unwrap_or_else(|p| p.into_inner());
        (
            proxy.fail_one_in > 0 && rng.random_range(0..proxy.fail_one_in) == 0,
            rng.random_range(0..3u8),
            is_write && proxy.lose_one_in > 0 && rng.random_range(0..proxy.lose_one_in) == 0,
        )
    };
    if fail {
        proxy.counts.failed_before.fetch_add(1, Ordering::Relaxed);
        return match kind {
            0 => json_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
            1 => json_error(
                StatusCode::BAD_REQUEST,
                "ProvisionedThroughputExceededException",
            ),
            _ => {
                proxy.counts.html_errors.fetch_add(1, Ordering::Relaxed);
                html_error()
            }
        };
    }
    let answer = match send(&proxy.target, method, &uri, &headers, body).await {
        Ok(answer) => answer,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("proxy: {error}")).into_response();
        }
    };
    if lose && answer.status().is_success() {
        // Applied, and nobody hears of it.
        proxy.counts.answers_lost.fetch_add(1, Ordering::Relaxed);
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError");
    }
    answer
}

/// One request to the endpoint over a fresh connection.
async fn send(
    target: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, String> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(http_body_util::Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, incoming) = response.into_parts();
    let bytes = incoming
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}
