//! CSV import: the csv-import handler fed S3 events (as Lambda would), the `/imports` API, the
//! CLI and the local server. Each behaviour of the import issue has a test here.

use crate::support::{As, LambdaApi};
use async_trait::async_trait;
use helpdesk_shared::lambda::csv_import::{Continuation, CsvImportHandler};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Records continuations instead of invoking Lambda; the test plays the next invocation.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Continuation for Recorder {
    async fn continue_later(&self, job_id: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(job_id.to_string());
        Ok(())
    }
}

struct Rig {
    api: LambdaApi,
    handler: CsvImportHandler<Recorder>,
    continuations: Recorder,
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl Rig {
    fn new(api: LambdaApi) -> Rig {
        Rig::with_margin(api, Duration::from_secs(1))
    }

    /// `margin` is what the handler keeps back from the invocation's deadline.
    fn with_margin(api: LambdaApi, margin: Duration) -> Rig {
        let continuations = Recorder::default();
        let handler = helpdesk_shared::app::csv_import(
            &api.store,
            Arc::clone(&api.objects),
            Arc::clone(&api.objects),
            continuations.clone(),
            margin,
        );
        Rig {
            api,
            handler,
            continuations,
        }
    }

    /// One invocation with `remaining` time before the Lambda deadline.
    async fn invoke(&self, payload: Value, remaining: Duration) -> Value {
        self.try_invoke(payload, remaining, "request-1")
            .await
            .expect("the handler accepts the event")
    }

    /// One invocation as Lambda makes it, with its request id (the same on Lambda's retries of
    /// one event); answers what the function answered, success or failure.
    async fn try_invoke(
        &self,
        payload: Value,
        remaining: Duration,
        request_id: &str,
    ) -> Result<Value, helpdesk_shared::domain::error::HelpdeskError> {
        let mut context = Context::default();
        context.deadline = epoch_millis() + remaining.as_millis() as u64;
        context.request_id = request_id.to_string();
        self.handler
            .handle(LambdaEvent::new(payload, context))
            .await
    }

    /// Puts `body` at `key` and delivers the S3 event for it, as S3 would.
    async fn drop_file(&self, key: &str, body: &[u8]) -> Value {
        self.api
            .objects
            .put(key, body.to_vec(), "text/csv")
            .await
            .expect("put object");
        let etag = format!(
            "{:x}",
            helpdesk_shared::stable_hash(&String::from_utf8_lossy(body))
        );
        self.invoke(s3_event(key, &etag, body.len()), Duration::from_secs(600))
            .await
    }

    /// `POST /imports` with `options`, upload, event; answers the finished job.
    async fn import(&self, options: Value, body: &[u8]) -> Value {
        self.import_as(As::Admin, options, body).await
    }

    /// As [`Rig::import`], with the job created by `who` (whose permissions the rows run with).
    async fn import_as(&self, who: As, options: Value, body: &[u8]) -> Value {
        let created = self.api.post(who, "/imports", options).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert!(created.body["upload_url"].is_string());
        let id = created.body["id"].as_str().unwrap().to_string();
        self.drop_file(&format!("imports/{id}.csv"), body).await;
        self.job(&id).await
    }

    async fn job(&self, id: &str) -> Value {
        let reply = self.api.get(As::Agent, &format!("/imports/{id}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    async fn customer(&self, email: &str) -> Value {
        let reply = self
            .api
            .get(As::Admin, &format!("/customers/{email}"))
            .await;
        assert_eq!(reply.status, 200, "{email}: {}", reply.body);
        reply.body
    }

    async fn report(&self, job: &Value) -> String {
        let key = job["error_report"].as_str().expect("an error report");
        String::from_utf8(self.api.objects.get(key).await.expect("report stored")).unwrap()
    }
}

fn s3_event(key: &str, etag: &str, size: usize) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../fixtures/s3-object-created.json")).unwrap();
    let object = &mut event["Records"][0]["s3"]["object"];
    object["key"] = json!(key.replace(' ', "+"));
    object["eTag"] = json!(etag);
    object["size"] = json!(size);
    event
}

fn counts(job: &Value) -> [u64; 6] {
    let c = &job["counts"];
    [
        "rows",
        "created",
        "updated",
        "unchanged",
        "failed",
        "duplicates",
    ]
    .map(|k| c[k].as_u64().unwrap())
}

/// A file of `n` valid rows: user0@bulk.test … with names.
fn bulk_file(n: usize) -> Vec<u8> {
    let mut csv = String::from("Email,First Name,Last Name,Phone\n");
    for i in 0..n {
        csv.push_str(&format!(
            "user{i}@bulk.test,First{i},Last{i},+1 555 {:04}\n",
            i % 10_000
        ));
    }
    csv.into_bytes()
}

mod avatars;
mod events;
mod export;
mod mapping;
mod marks;
mod runs;
mod tickets;
