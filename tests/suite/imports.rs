//! CSV import: the csv-import handler fed S3 events (as Lambda would), the `/imports` API, the
//! CLI and the local server. Each behaviour of the import issue has a test here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use helpdesk_shared::lambda::csv_import::{Continuation, CsvImportHandler};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::support::{As, LambdaApi};

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
        serde_json::from_str(include_str!("../fixtures/s3-object-created.json")).unwrap();
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

#[tokio::test]
async fn s3_event_imports_into_dynamodb_end_to_end() {
    let rig = Rig::new(LambdaApi::on_dynamodb().await);
    let file = "Email,First Name,Last Name,Company\nann@acme.com,Ann,Lee,\nbob@acme.com,Bob,Stone,\nnot-an-email,X,Y,\nci@acme.com,Ci,Wu,Nope Inc\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [4, 2, 0, 0, 2, 0]);
    assert_eq!(rig.customer("ann@acme.com").await["last_name"], "Lee");
    assert_eq!(rig.customer("bob@acme.com").await["first_name"], "Bob");
    // The history names the job and row that created the customer.
    let history = rig
        .api
        .get(As::Agent, "/customers/bob@acme.com/history")
        .await;
    assert_eq!(history.body["items"][0]["version"], 1, "{}", history.body);
    assert_eq!(
        history.body["items"][0]["by"],
        json!({"type": "import", "job": job["id"], "row": 3})
    );
    let report = rig.report(&job).await;
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[0],
        "row,email,reason,Email,First Name,Last Name,Company"
    );
    assert!(
        lines[1].starts_with("4,not-an-email,email: is not an email address"),
        "{report}"
    );
    assert!(
        lines[2].starts_with("5,ci@acme.com,company: no company is named 'Nope Inc'"),
        "{report}"
    );
    assert_eq!(lines.len(), 3);
}

#[tokio::test]
async fn redelivered_s3_event_does_not_import_twice() {
    let rig = Rig::new(LambdaApi::on_dynamodb().await);
    let file = bulk_file(20);
    let first = rig.drop_file("imports/weekly export.csv", &file).await;
    let again = rig.drop_file("imports/weekly export.csv", &file).await;
    let id = first["handled"][0]["job_id"].as_str().unwrap();
    assert_eq!(
        again["handled"][0]["job_id"],
        json!(id),
        "the same object maps to the same job"
    );
    assert_eq!(first["handled"][0]["outcome"], "finished");
    let job = rig.job(id).await;
    assert_eq!(counts(&job), [20, 20, 0, 0, 0, 0], "counted once: {job}");
    assert_eq!(
        job["source_key"], "imports/weekly export.csv",
        "event keys are URL-decoded"
    );
    let listed = rig.api.get(As::Agent, "/customers?limit=100").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn columns_map_by_explicit_mapping_synonyms_and_custom_fields() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api.post(As::Admin, "/fields", json!({"key": "plan", "label": "Plan Tier", "type": "select", "options": ["Free", "Pro"]})).await;
    rig.api
        .post(
            As::Admin,
            "/fields",
            json!({"key": "seats", "label": "Seats", "type": "number"}),
        )
        .await;
    rig.api
        .post(As::Admin, "/companies", json!({"name": "Acme"}))
        .await;
    // Google Contacts export headers, plus custom fields by label and by key, plus a mapping.
    let file = "Name,Given Name,Family Name,E-mail 1 - Value,E-mail 2 - Value,Phone 1 - Value,Organization 1 - Name,Plan Tier,seats,Customer Since,Birthday\n\
                Ann Lee,Ann,Lee,ann@acme.com,ann@home.org,+1 555 0100 ::: +1 555 0101,acme,pro,12,2020-04-01,1990-01-01\n";
    // plan_since is not a defined field: the job is refused before any file is sent.
    rig.api
        .post(As::Admin, "/imports", json!({"mapping": {"Customer Since": "custom_fields.plan_since", "Birthday": "ignore"}, "required": ["email"]}))
        .await
        .assert_problem(422, "mapping.Customer Since");

    let job = rig
        .import(
            json!({"mapping": {"Customer Since": "ignore"}}),
            file.as_bytes(),
        )
        .await;
    assert_eq!(counts(&job), [1, 1, 0, 0, 0, 0], "{job}");
    assert_eq!(
        job["ignored_columns"],
        json!(["Name", "Customer Since", "Birthday"])
    );
    let ann = rig.customer("ann@acme.com").await;
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["alternate_emails"], json!(["ann@home.org"]));
    assert_eq!(ann["phones"], json!(["+1 555 0100", "+1 555 0101"]));
    assert_eq!(ann["custom_fields"], json!({"plan": "Pro", "seats": 12.0}));
    let acme = rig.api.get(As::Agent, "/companies").await.body["items"][0]["id"].clone();
    assert_eq!(
        ann["company_id"], acme,
        "companies match by name, case-insensitively"
    );

    // "Name" splits into first and last when those have no columns.
    let job = rig
        .import(
            json!({}),
            b"Full Name,Email Address\nBo Ek,bo@x.io\n\"Lee, Cy\",cy@x.io\n",
        )
        .await;
    assert_eq!(counts(&job), [2, 2, 0, 0, 0, 0], "{job}");
    assert_eq!(rig.customer("bo@x.io").await["last_name"], "Ek");
    assert_eq!(rig.customer("cy@x.io").await["first_name"], "Cy");

    // A bad mapping is refused when the job is created.
    rig.api
        .post(
            As::Admin,
            "/imports",
            json!({"mapping": {"X": "favourite_colour"}}),
        )
        .await
        .assert_problem(422, "mapping.X");
    rig.api
        .post(As::Admin, "/imports", json!({"dryrun": true}))
        .await
        .assert_problem(400, "dryrun");
}

#[tokio::test]
async fn updates_merge_into_existing_customers() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api
        .create(json!({"email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee", "phones": ["+1 555 0100"],
                       "tags": ["vip"], "notes": "Keep me", "alternate_emails": ["ann@home.org"]}))
        .await;
    rig.api
        .create(json!({"email": "bob@acme.com", "first_name": "Bob", "last_name": "Stone"}))
        .await;
    // Ann by her alternate email: new phone and tag added, empty cells keep what she had.
    let file = "Email,First Name,Last Name,Phone,Tags,Notes\nANN@home.org,Ann,Lee-Smith,+1 555 0199,beta,\nbob@acme.com,Bob,Stone,,,\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [2, 0, 1, 1, 0, 0], "{job}");
    let ann = rig.customer("ann@acme.com").await;
    assert_eq!(ann["last_name"], "Lee-Smith");
    assert_eq!(ann["phones"], json!(["+1 555 0100", "+1 555 0199"]));
    assert_eq!(ann["tags"], json!(["vip", "beta"]));
    assert_eq!(ann["notes"], "Keep me");
    assert_eq!(
        ann["email"], "ann@acme.com",
        "an alternate email updates its customer, whose primary stays"
    );
    assert_eq!(ann["version"], 2);
    // The history names the job and row that changed her, and what they changed.
    let history = rig
        .api
        .get(As::Agent, "/customers/ann@acme.com/history")
        .await;
    let change = &history.body["items"][0];
    assert_eq!(
        change["by"],
        json!({"type": "import", "job": job["id"], "row": 2})
    );
    let fields: Vec<&str> = change["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["last_name", "phones", "tags"], "{change}");
}

#[tokio::test]
async fn duplicate_rows_last_one_wins() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let file = "Email,First Name,Last Name\nann@acme.com,Old,Name\nbob@acme.com,Bob,Stone\nANN@acme.com ,Ann,Lee\nbob@acme.com,Robert,Stone\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [4, 2, 0, 0, 0, 2], "{job}");
    assert_eq!(rig.customer("ann@acme.com").await["first_name"], "Ann");
    assert_eq!(rig.customer("bob@acme.com").await["first_name"], "Robert");
}

#[tokio::test]
async fn dry_run_counts_and_writes_nothing() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api
        .create(json!({"email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee"}))
        .await;
    let file = "Email,First Name,Last Name,Company\nann@acme.com,Ann,Lee,\nann@acme.com,Ann,Leigh,\nnew@acme.com,New,Person,Brand New Co\nbad,X,Y,\n";
    let job = rig
        .import(
            json!({"dry_run": true, "create_missing_companies": true}),
            file.as_bytes(),
        )
        .await;
    assert_eq!(job["dry_run"], true);
    assert_eq!(counts(&job), [4, 1, 1, 0, 1, 1], "{job}");
    assert_eq!(rig.customer("ann@acme.com").await["last_name"], "Lee");
    assert_eq!(
        rig.api
            .get(As::Admin, "/customers/new@acme.com")
            .await
            .status,
        404
    );
    assert_eq!(
        rig.api.get(As::Admin, "/companies").await.body["items"],
        json!([])
    );
    assert!(
        rig.report(&job).await.contains("5,bad,email:"),
        "failures are reported in a dry run too"
    );
}

#[tokio::test]
async fn awkward_but_valid_csv_imports() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    // BOM, CRLF, quoted commas, quotes and a newline inside a field; a short row fails alone.
    let file = b"\xEF\xBB\xBFEmail,First Name,Last Name,Notes\r\nann@acme.com,Ann,Lee,\"Said \"\"hi\"\", then left\r\nearly\"\r\nshort@acme.com,Short\r\nbob@acme.com,Bob,Stone,plain\r\n";
    let job = rig.import(json!({}), file).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [3, 2, 0, 0, 1, 0], "{job}");
    assert_eq!(
        rig.customer("ann@acme.com").await["notes"],
        "Said \"hi\", then left\r\nearly"
    );
    let report = rig.report(&job).await;
    assert!(
        report.contains(
            "3,short@acme.com,the row has 2 fields; the header has 4,short@acme.com,Short"
        ),
        "{report}"
    );
}

#[tokio::test]
async fn bad_files_fail_whole_and_write_nothing() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let cases: [(&[u8], &str); 5] = [
        (b"", "the file is empty"),
        (
            b"Email,First Name,Last Name\n",
            "header row but no data rows",
        ),
        (b"Name,Phone\nAnn,+1 555 0100\n", "no email column"),
        (
            b"Email,First Name,Last Name\nann@acme.com,Ann,Lee\nbo@acme.com,J\xF6rg,M\xFCller\n",
            "not UTF-8",
        ),
        (b"\xFF\xFEE\x00m\x00a\x00i\x00l\x00\n\x00", "not UTF-8"),
    ];
    for (file, error) in cases {
        let job = rig.import(json!({}), file).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert!(
            job["error"].as_str().unwrap().contains(error),
            "{error}: {job}"
        );
        assert_eq!(job["counts"]["created"], 0);
    }
    assert_eq!(
        rig.api.get(As::Admin, "/customers").await.body["items"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn a_paused_import_continues_in_the_next_invocation_with_exact_counts() {
    // A margin longer than the time left: the run stops after its first batches.
    let rig = Rig::with_margin(LambdaApi::on_sqlite().await, Duration::from_secs(600));
    // More batches than the pipeline queues: pausing must stop the parser thread, not wait on it.
    let file = bulk_file(10_000);
    let first = rig.drop_file("imports/big.csv", &file).await;
    assert_eq!(first["handled"][0]["outcome"], "continued");
    let id = first["handled"][0]["job_id"].as_str().unwrap().to_string();
    let paused = rig.job(&id).await;
    assert_eq!(paused["status"], "running");
    assert!(
        paused["counts"]["rows"].as_u64().unwrap() < 3_000,
        "{paused}"
    );
    for _ in 0..50 {
        let scheduled = rig.continuations.0.lock().unwrap().pop();
        let Some(job_id) = scheduled else { break };
        rig.invoke(json!({"continue_import": job_id}), Duration::from_secs(601))
            .await;
    }
    let job = rig.job(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [10_000, 10_000, 0, 0, 0, 0]);
}

#[tokio::test]
async fn a_crashed_import_resumes_and_counts_each_row_once() {
    let rig = Rig::with_margin(LambdaApi::on_sqlite().await, Duration::from_secs(600));
    let first = rig.drop_file("imports/crash.csv", &bulk_file(2_000)).await;
    let id = first["handled"][0]["job_id"].as_str().unwrap().to_string();
    // Simulate a crash before any progress was saved: rows were written, the job knows nothing.
    let store = &rig.api.store;
    let job = store.get_import_job(&id).await.unwrap().unwrap();
    assert!(job.counts.created > 0);
    let mut rewound = job.clone();
    rewound.checkpoint = None;
    rewound.counts = Default::default();
    rewound.lease_until = None;
    rewound.version += 1;
    store.replace_import_job(&job, &rewound).await.unwrap();
    rig.continuations.0.lock().unwrap().clear();
    let resumed = Rig::new(rig.api.clone());
    resumed
        .invoke(json!({"continue_import": id}), Duration::from_secs(600))
        .await;
    let job = resumed.job(&id).await;
    assert_eq!(
        counts(&job),
        [2_000, 2_000, 0, 0, 0, 0],
        "rows written before the crash still count as created: {job}"
    );
}

#[tokio::test]
async fn throttled_writes_are_retried_and_nothing_is_lost() {
    use crate::fake_dynamodb::FakeDynamo;
    // 10 ms per request and 300 writes/s: the import must back off and retry. (Each new
    // customer is its own conditional put, and the unoptimised test build sends about 600 a
    // second, so the budget sits well below that.)
    let fake = FakeDynamo::start(Duration::from_millis(10), 300.0).await;
    let rig = Rig::new(crate::support::api_on_endpoint(
        &fake.endpoint(),
        "throttle",
    ));
    let outcome = rig
        .drop_file("imports/throttle.csv", &bulk_file(2_000))
        .await;
    let job = rig
        .job(outcome["handled"][0]["job_id"].as_str().unwrap())
        .await;
    assert_eq!(counts(&job), [2_000, 2_000, 0, 0, 0, 0], "{job}");
    let stats = fake.stats();
    assert!(stats.throttled > 0, "the endpoint throttled: {stats:?}");
    assert!(
        stats.requests > stats.throttled && stats.items_written >= 2_000,
        "{stats:?}"
    );
    // Every customer is stored exactly once (plus the import job item).
    assert_eq!(stats.items_stored, 2_001, "{stats:?}");
}

#[tokio::test]
async fn template_is_served_and_imports_cleanly() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let template = rig.api.get(As::Agent, "/imports/template.csv").await;
    assert_eq!(template.status, 200);
    assert!(
        template
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    let text = template.body.as_str().unwrap().to_string();
    assert!(text.starts_with("Email,First Name,Last Name,Company"));
    let job = rig
        .import(json!({"create_missing_companies": true}), text.as_bytes())
        .await;
    assert_eq!(counts(&job), [1, 1, 0, 0, 0, 0], "{job}");
    assert!(
        job["ignored_columns"].as_array().unwrap().is_empty(),
        "every template column maps: {job}"
    );
    let ann = rig.customer("ann.lee@acme.com").await;
    assert_eq!(ann["address"]["city"], "Springfield");
    assert!(ann["company_id"].is_string());
    rig.api
        .get(As::Anonymous, "/imports/template.csv")
        .await
        .assert_problem_status(401);
    rig.api
        .post(
            As::Agent,
            "/imports",
            json!({"create_missing_companies": true}),
        )
        .await
        .assert_problem(403, "create_missing_companies");
    rig.api
        .get(As::Agent, "/imports/no-such-job")
        .await
        .assert_problem_status(404);
}

#[tokio::test]
async fn invalid_values_fail_their_row_with_the_reason() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api
        .post(
            As::Admin,
            "/fields",
            json!({"key": "renewal", "label": "Renewal", "type": "date"}),
        )
        .await;
    let file = "Email,First Name,Last Name,Portal Access,Phone,Renewal\n\
                a@x.io,A,One,everyone,,\n\
                b@x.io,B,Two,company,call me,\n\
                c@x.io,C,Three,company,,2026-02-30\n\
                d@x.io,D,Four,Company,+1 555 0100,2026-02-28\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [4, 1, 0, 0, 3, 0], "{job}");
    let report = rig.report(&job).await;
    assert!(
        report.contains("2,a@x.io,\"portal_access: unknown variant `everyone`"),
        "{report}"
    );
    assert!(
        report.contains("3,b@x.io,\"phones[0]: must be a phone number"),
        "{report}"
    );
    assert!(
        report.contains("4,c@x.io,custom_fields.renewal: must be a real date formatted yyyy-mm-dd"),
        "{report}"
    );
    let d = rig.customer("d@x.io").await;
    assert_eq!(d["portal_access"], "company");
    assert_eq!(d["custom_fields"]["renewal"], "2026-02-28");
}

/// PUT to a URL over plain HTTP (moto), as a browser or curl would; answers the status code.
fn http_put(url: &str, content_type: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("moto serves plain HTTP");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    let head = format!(
        "PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

#[tokio::test]
async fn a_file_uploaded_to_the_presigned_url_is_imported() {
    let rig = Rig::new(LambdaApi::on_dynamodb().await);
    let created = rig
        .api
        .post(As::Agent, "/imports", json!({"required": ["email"]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let url = created.body["upload_url"].as_str().unwrap().to_string();
    assert!(
        url.contains(&format!("imports/{id}.csv")) && url.contains("X-Amz-Signature="),
        "{url}"
    );
    let file = b"Email\nup1@acme.com\nup2@acme.com\n";
    let status = tokio::task::spawn_blocking(move || http_put(&url, "text/csv", file))
        .await
        .unwrap();
    assert_eq!(status, 200, "the presigned URL accepts the upload");
    // S3 would now send the event for the object the client put there.
    rig.invoke(
        s3_event(&format!("imports/{id}.csv"), "etag-of-upload", file.len()),
        Duration::from_secs(600),
    )
    .await;
    let job = rig.job(&id).await;
    assert_eq!(counts(&job), [2, 2, 0, 0, 0, 0], "{job}");
    assert_eq!(rig.customer("up2@acme.com").await["email"], "up2@acme.com");
}

#[tokio::test]
async fn an_agents_import_neither_needs_nor_names_fields_hidden_from_them() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    for field in [
        json!({"key": "secret", "label": "Secret", "type": "number", "required": true,
               "view_roles": ["admin"], "edit_roles": ["admin"]}),
        json!({"key": "tier", "label": "Tier", "type": "text", "edit_roles": ["admin"]}),
    ] {
        let reply = rig.api.post(As::Admin, "/fields", field).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let file =
        "Email,Name,Secret,Tier,Nosuch\nann@x.io,Ann Lee,7,gold,1\nbob@x.io,Bob Ray,8,silver,2\n";
    let job = rig.import_as(As::Agent, json!({}), file.as_bytes()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [2, 2, 0, 0, 0, 0], "{job}");
    // A hidden field's column is an unknown column for the agent, like any other.
    assert_eq!(job["ignored_columns"], json!(["Secret", "Tier", "Nosuch"]));
    assert!(job["error_report"].is_null(), "{job}");
    let ann = rig.customer("ann@x.io").await;
    assert_eq!(
        ann["custom_fields"],
        json!({}),
        "nothing written to fields the agent may not edit"
    );

    // An admin's import writes them, and the required field binds the admin.
    let file = "Email,Name,Secret,Tier\ncid@x.io,Cid Wu,9,gold\ndee@x.io,Dee Wu,,gold\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [2, 1, 0, 0, 1, 0], "{job}");
    assert_eq!(
        rig.customer("cid@x.io").await["custom_fields"],
        json!({"secret": 9.0, "tier": "gold"})
    );
    assert!(
        rig.report(&job)
            .await
            .contains("custom_fields.secret: is required")
    );
}

#[tokio::test]
async fn control_characters_in_single_line_cells_fail_their_row() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let file = "Email,First Name,Last Name,City,Notes\nann@x.io,Ann,Lee,Springfield,\"two\nlines\"\nbob@x.io,\"Bob\nBcc: eve@evil.test\",Ray,Paris,\ncid@x.io,Cid,Wu,\"Ber\tlin\",\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [3, 1, 0, 0, 2, 0], "{job}");
    let report = rig.report(&job).await;
    assert!(
        report.contains("bob@x.io,\"first_name: must be a single line"),
        "{report}"
    );
    assert!(
        report.contains("cid@x.io,\"address.city: must be a single line"),
        "{report}"
    );
    assert_eq!(rig.customer("ann@x.io").await["notes"], "two\nlines");
}

/// The csv-import handler against a DynamoDB that fails: one call in 7 before it reaches the
/// table (JSON 500, throttling, HTML 500), one write in 5 applied with its answer lost. Lambda
/// delivers the event up to three times; the outcome must be the fault-free one.
#[tokio::test]
async fn an_import_survives_a_failing_dynamodb_within_three_tries() {
    use crate::fake_dynamodb::FakeDynamo;
    use crate::fault_proxy::FaultProxy;
    use std::sync::atomic::Ordering;
    let fake = FakeDynamo::start(Duration::ZERO, 0.0).await;
    let proxy = FaultProxy::start(&fake.endpoint(), 7, 5, 20_261_201).await;
    let rig = Rig::new(crate::support::api_on_endpoint(&proxy.endpoint(), "faults"));
    // 10,000 new customers, 500 repeated emails (the later row wins), 200 bad rows.
    let mut csv = String::from("Email,First Name,Last Name\n");
    for i in 0..10_000 {
        csv.push_str(&format!("user{i}@faults.test,First{i},Last{i}\n"));
    }
    for i in 0..500 {
        csv.push_str(&format!("user{i}@faults.test,Again{i},Last{i}\n"));
    }
    for i in 0..200 {
        csv.push_str(&format!("not-an-email-{i},X,Y\n"));
    }
    let key = "imports/faults.csv";
    rig.api
        .objects
        .put(key, csv.clone().into_bytes(), "text/csv")
        .await
        .unwrap();
    let event = s3_event(key, "etag-faults", csv.len());
    let mut answer = None;
    for delivery in 1..=3 {
        match rig
            .try_invoke(event.clone(), Duration::from_secs(600), "delivery-1")
            .await
        {
            Ok(done) => {
                answer = Some(done);
                break;
            }
            Err(error) => eprintln!("delivery {delivery} failed: {error}"),
        }
    }
    let answer = answer.expect("the import finished within three deliveries");
    let id = answer["handled"][0]["job_id"].as_str().unwrap().to_string();
    let job = rig.job(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [10_700, 10_000, 0, 0, 200, 500], "{job}");
    assert_eq!(
        rig.customer("user7@faults.test").await["first_name"],
        "Again7"
    );
    assert_eq!(
        rig.customer("user9999@faults.test").await["first_name"],
        "First9999"
    );
    let report = rig.report(&job).await;
    assert_eq!(report.lines().count(), 201, "a complete error report");
    // Each customer stored once, plus the job.
    assert_eq!(fake.stats().items_stored, 10_001, "{:?}", fake.stats());

    // A redelivered event changes nothing.
    let again = rig
        .try_invoke(event, Duration::from_secs(600), "delivery-2")
        .await
        .expect("the redelivery is answered");
    assert_eq!(again["handled"][0]["job_id"], json!(id));
    assert_eq!(
        counts(&rig.job(&id).await),
        [10_700, 10_000, 0, 0, 200, 500]
    );
    assert_eq!(fake.stats().items_stored, 10_001);

    let faults = &proxy.counts;
    assert!(
        faults.failed_before.load(Ordering::Relaxed) > 20,
        "{faults:?}"
    );
    assert!(faults.html_errors.load(Ordering::Relaxed) > 5, "{faults:?}");
    assert!(
        faults.answers_lost.load(Ordering::Relaxed) > 5,
        "{faults:?}"
    );
}

/// A mapping (or `required`) naming a custom field that does not exist, or that the caller may
/// not see, is refused when the job is created: the job would otherwise fail every row.
async fn a_mapping_to_a_missing_custom_field_is_refused_when_the_job_is_created(api: LambdaApi) {
    let hidden = json!({"key": "salary", "label": "Salary", "type": "number",
                        "view_roles": ["admin"], "edit_roles": ["admin"]});
    assert_eq!(api.post(As::Admin, "/fields", hidden).await.status, 201);
    let undefined = json!({"mapping": {"Kundennummer": "custom_fields.customer_no"}});
    let refused = api.post(As::Admin, "/imports", undefined).await;
    refused.assert_problem(422, "mapping.Kundennummer");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("customer_no")),
        "{}",
        refused.body
    );
    let required = json!({"required": ["email", "custom_fields.customer_no"]});
    api.post(As::Admin, "/imports", required)
        .await
        .assert_problem(422, "required[1]");
    // A field the agent may not see is, for them, one that does not exist: same answer.
    let hidden = json!({"mapping": {"Pay": "custom_fields.salary"}});
    let as_agent = api.post(As::Agent, "/imports", hidden.clone()).await;
    as_agent.assert_problem(422, "mapping.Pay");
    assert!(
        !as_agent.body.to_string().contains("view"),
        "{}",
        as_agent.body
    );
    assert_eq!(api.post(As::Admin, "/imports", hidden).await.status, 201);
    // Defined, the same mapping is accepted.
    let field = json!({"key": "customer_no", "label": "Customer number", "type": "text"});
    assert_eq!(api.post(As::Admin, "/fields", field).await.status, 201);
    let defined = json!({"mapping": {"Kundennummer": "custom_fields.customer_no"}});
    assert_eq!(api.post(As::Admin, "/imports", defined).await.status, 201);
}

/// The error report lists failed rows in file order, whichever stage failed them (a row with
/// the wrong number of fields fails before a row with a bad value is looked at).
async fn the_error_report_lists_rows_in_file_order(api: LambdaApi) {
    let rig = Rig::new(api);
    // Row 2 fails on its values (checked last), row 3 on its email, row 4 on its shape.
    let file = "Email,First Name,Last Name\nann@x.io,\"Ann\tTab\",Lee\nnot-an-email,C,D\nbo@x.io,Bo\nok@x.io,Ok,Fine\n";
    let job = rig.import(json!({"dry_run": true}), file.as_bytes()).await;
    assert_eq!(counts(&job), [4, 1, 0, 0, 3, 0], "{job}");
    let report = rig.report(&job).await;
    let rows: Vec<&str> = report
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(rows, ["2", "3", "4"], "{report}");
}

on_both_stores!(
    a_mapping_to_a_missing_custom_field_is_refused_when_the_job_is_created,
    the_error_report_lists_rows_in_file_order,
);
