//! A function's real bootstrap run as Lambda runs it: its own process, fed by a local Lambda
//! Runtime API on 127.0.0.1 (`/2018-06-01/runtime/invocation/next`, `…/response`, `…/error`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// How long one invocation may take before the test fails.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

type Answer = Result<Value, Value>;
/// An event on its way to the function, with where its answer goes.
type Invocation = (Value, oneshot::Sender<Answer>);

#[derive(Clone)]
struct RuntimeApi {
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
}

/// One function process and the Runtime API it polls.
pub struct Function {
    events: mpsc::UnboundedSender<Invocation>,
    child: tokio::process::Child,
    pub name: String,
}

/// The workspace's debug build of the function `name` (built by `bash tests/run` before the
/// tests run).
pub fn bootstrap(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_helpdesk"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let binary = dir.join(name);
    assert!(
        binary.is_file(),
        "{} is not built: run the tests with `bash tests/run`, which builds the workspace first",
        binary.display()
    );
    binary
}

impl Function {
    /// Starts the bootstrap of `name` with the environment the template gives it (`env`),
    /// plus what Lambda itself sets.
    pub async fn start(name: &str, env: &[(&str, String)]) -> Function {
        let (events, receiver) = mpsc::unbounded_channel();
        let api = RuntimeApi {
            events: Arc::new(tokio::sync::Mutex::new(receiver)),
            waiting: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback listener");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut command = tokio::process::Command::new(bootstrap(name));
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "streams-test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the bootstrap starts");
        Function {
            events,
            child,
            name: name.to_string(),
        }
    }

    /// One invocation: the function's answer, or the error it reported.
    pub async fn invoke(&self, event: Value) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.events.send((event, answer)).expect("the Runtime API");
        match tokio::time::timeout(INVOCATION_TIMEOUT, answered).await {
            Ok(Ok(answer)) => answer,
            _ => panic!("{} did not answer within {INVOCATION_TIMEOUT:?}", self.name),
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn next_event(State(api): State<RuntimeApi>) -> axum::response::Response {
    let Some((event, answer)) = api.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    api.waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), answer);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + INVOCATION_TIMEOUT.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:streams-test".into(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".into(),
        ),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    (headers, event.to_string()).into_response()
}

fn settle(api: &RuntimeApi, id: &str, answer: Answer) -> StatusCode {
    let waiting = api
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match waiting {
        Some(sender) => {
            let _ = sender.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let answer = serde_json::from_str(&body).unwrap_or(Value::String(body));
    settle(&api, &id, Ok(answer))
}

async fn error(State(api): State<RuntimeApi>, Path(id): Path<String>, body: String) -> StatusCode {
    let answer = serde_json::from_str(&body).unwrap_or(Value::String(body));
    settle(&api, &id, Err(answer))
}

/// A bootstrap that cannot start says why here; the invocation waiting for it then fails on
/// its timeout, with this in the test's output.
async fn init_error(body: String) -> StatusCode {
    eprintln!("the bootstrap failed to start: {body}");
    StatusCode::ACCEPTED
}
