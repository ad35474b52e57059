//! Cold start of the API function, as Lambda runs it (`cargo bench --bench cold_start`).
//!
//! A local Lambda Runtime API (on 127.0.0.1) hands each process one API Gateway v2 event,
//! `GET /health`. One sample is the time from `exec` to the function's answer reaching the
//! Runtime API. The `api` bootstrap and a hello-world `lambda_http` bootstrap (the `api`
//! package's `hello_lambda` example), both built here with the profile the API function ships
//! with (`lambda-size`), start in turns,
//! so both see the same machine. Bounded: ROUNDS starts of each.

#[path = "support/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::mpsc;

const ROUNDS: usize = 25;
/// A start that has not answered by then counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct RuntimeApi {
    /// Has the current process had its event yet? The second poll is the runtime idling.
    served: Arc<Mutex<bool>>,
    answered: mpsc::UnboundedSender<Instant>,
}

async fn next_event(State(api): State<RuntimeApi>) -> axum::response::Response {
    let first = {
        let mut served = api.served.lock().unwrap_or_else(|e| e.into_inner());
        !std::mem::replace(&mut *served, true)
    };
    if !first {
        // The function waits for its next event: it never comes, the process is stopped.
        std::future::pending::<()>().await;
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (
            "lambda-runtime-aws-request-id",
            "cold-start-request".to_string(),
        ),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:api".to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_string(),
        ),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    (headers, health_event()).into_response()
}

async fn response(State(api): State<RuntimeApi>) -> axum::http::StatusCode {
    let _ = api.answered.send(Instant::now());
    axum::http::StatusCode::ACCEPTED
}

fn health_event() -> String {
    let fixture = include_str!("../tests/fixtures/apigw-v2-jwt.json");
    let mut event: serde_json::Value = serde_json::from_str(fixture).unwrap_or_default();
    event["rawPath"] = "/health".into();
    event["requestContext"]["http"]["method"] = "GET".into();
    event["requestContext"]["http"]["path"] = "/health".into();
    event.to_string()
}

/// Both bootstraps with the profile the API function ships with (`lambda-size`, see the
/// Makefile).
fn build() -> Option<(PathBuf, PathBuf)> {
    let built = Command::new(env!("CARGO"))
        .args(["build", "--profile", "lambda-size", "--quiet", "-p", "api"])
        .args(["--bin", "api", "--example", "hello_lambda"])
        .status()
        .is_ok_and(|s| s.success());
    let profile = Path::new(env!("CARGO_BIN_EXE_helpdesk"))
        .parent()?
        .parent()?
        .join("lambda-size");
    built.then(|| {
        (
            profile.join("api"),
            profile.join("examples").join("hello_lambda"),
        )
    })
}

/// One start: exec → the answer to its event at the Runtime API.
async fn start(
    binary: &Path,
    runtime_api: &str,
    api: &RuntimeApi,
    answered: &mut mpsc::UnboundedReceiver<Instant>,
) -> Option<Duration> {
    *api.served.lock().unwrap_or_else(|e| e.into_inner()) = false;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/api")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TABLE_NAME", "helpdesk")
        .env("IMPORT_BUCKET", "imports")
        .env("MAIL_BUCKET", "mail")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let answer = tokio::time::timeout(START_TIMEOUT, answered.recv()).await;
    let _ = child.kill().await;
    match answer {
        Ok(Some(at)) => Some(at.duration_since(started)),
        _ => None,
    }
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(f64::NAN)
}

fn size_mib(path: &Path) -> f64 {
    std::fs::metadata(path)
        .map(|m| m.len() as f64 / 1048576.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    println!("# API cold start benchmark\n");
    println!("machine: {}", report::machine());
    let Some((api_binary, hello_binary)) = build() else {
        println!("the lambda-size binaries could not be built");
        std::process::exit(1);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (sender, mut answered) = mpsc::unbounded_channel();
        let api = RuntimeApi {
            served: Arc::default(),
            answered: sender,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback listener");
        let runtime_api = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (mut api_samples, mut hello_samples) = (Vec::new(), Vec::new());
        let mut failed = 0;
        for _ in 0..ROUNDS {
            for (binary, samples) in [
                (&api_binary, &mut api_samples),
                (&hello_binary, &mut hello_samples),
            ] {
                match start(binary, &runtime_api, &api, &mut answered).await {
                    Some(sample) => samples.push(sample),
                    None => failed += 1,
                }
            }
        }
        let api_ms = median_ms(&mut api_samples);
        let hello_ms = median_ms(&mut hello_samples);
        println!("\n## exec → first answered request (median of {ROUNDS}, interleaved)\n");
        println!(
            "- api bootstrap: {api_ms:.2} ms ({:.1} MiB stripped)",
            size_mib(&api_binary)
        );
        println!(
            "- hello-world lambda_http bootstrap: {hello_ms:.2} ms ({:.1} MiB)",
            size_mib(&hello_binary)
        );
        println!("- ratio: {:.2}×", api_ms / hello_ms);
        if failed > 0 {
            println!("- starts that did not answer within {START_TIMEOUT:?}: {failed}");
        }
    });
}
