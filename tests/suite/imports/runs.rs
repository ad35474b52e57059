//! How imports run: S3 events, redelivery, pauses, crashes, throttling, uploads, failing DynamoDB.

use super::*;
use helpdesk_shared::domain::import_job::ImportJob;

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
    let job: ImportJob = store.get_job(&id).await.unwrap().unwrap();
    assert!(job.counts.created > 0);
    let mut rewound = job.clone();
    rewound.checkpoint = None;
    rewound.counts = Default::default();
    rewound.lease_until = None;
    rewound.version += 1;
    store.replace_job(&job, &rewound).await.unwrap();
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
    // 10 ms per request and 300 writes/s: the import must back off and retry the statements
    // refused in each batch (the request itself answers 200), and lose none of them.
    let (metered, table, api) =
        crate::support::metered_api(Duration::from_millis(10), 300.0, "throttle").await;
    let rig = Rig::new(api);
    let outcome = rig
        .drop_file("imports/throttle.csv", &bulk_file(2_000))
        .await;
    let job = rig
        .job(outcome["handled"][0]["job_id"].as_str().unwrap())
        .await;
    assert_eq!(counts(&job), [2_000, 2_000, 0, 0, 0, 0], "{job}");
    let stats = metered.stats();
    assert!(stats.throttled > 0, "the endpoint throttled: {stats:?}");
    // New customers go 25 to a request (statements sent again included).
    assert!(
        stats.requests < 2_000 / 5 && stats.items_written >= 2_000,
        "{stats:?}"
    );
    // Every customer is stored exactly once (plus the import job item, and the salt the
    // address registry's lookups are hashed with).
    assert_eq!(crate::support::items_in(&table).await, 2_002, "{stats:?}");
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

/// Delivers `event` as Lambda would, up to three times until the handler answers; the job's id.
async fn delivered_up_to_three_times(rig: &Rig, event: &Value, request_id: &str) -> String {
    for delivery in 1..=3 {
        match rig
            .try_invoke(event.clone(), Duration::from_secs(600), request_id)
            .await
        {
            Ok(done) => return done["handled"][0]["job_id"].as_str().unwrap().to_string(),
            Err(error) => eprintln!("delivery {delivery} failed: {error}"),
        }
    }
    panic!("the import did not finish within three deliveries");
}

/// The csv-import handler against a DynamoDB that fails: one call in 7 before it reaches the
/// table (JSON 500, throttling, HTML 500), one write in 5 applied with its answer lost. Lambda
/// delivers the event up to three times; the outcome must be the fault-free one.
#[tokio::test]
async fn an_import_survives_a_failing_dynamodb_within_three_tries() {
    use crate::fault_proxy::FaultProxy;
    use std::sync::atomic::Ordering;
    let table = crate::support::dynoxide_table().await;
    let proxy = FaultProxy::start(&crate::support::dynamo_endpoint(), 7, 5, 20_261_201).await;
    let rig = Rig::new(crate::support::api_on_table(
        &proxy.endpoint(),
        &table,
        "faults",
    ));
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
    let id = delivered_up_to_three_times(&rig, &event, "delivery-1").await;
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
    // Each customer stored once, plus the job and the salt of address hashes.
    assert_eq!(crate::support::items_in(&table).await, 10_002);

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
    assert_eq!(crate::support::items_in(&table).await, 10_002);

    // 2,000 of them changed (replacements at their version, in batches), through the same
    // faults: each written once, and no history item from the import (the log files those).
    let mut changed = String::from("Email,Last Name\n");
    for i in 0..2_000 {
        changed.push_str(&format!("user{i}@faults.test,Changed{i}\n"));
    }
    let key = "imports/faults-changed.csv";
    rig.api
        .objects
        .put(key, changed.clone().into_bytes(), "text/csv")
        .await
        .unwrap();
    let event = s3_event(key, "etag-faults-changed", changed.len());
    let id = delivered_up_to_three_times(&rig, &event, "delivery-3").await;
    let job = rig.job(&id).await;
    assert_eq!(counts(&job), [2_000, 0, 2_000, 0, 0, 0], "{job}");
    let changed = rig.customer("user1999@faults.test").await;
    assert_eq!(changed["last_name"], "Changed1999");
    assert_eq!(changed["first_name"], "First1999");
    assert_eq!(changed["version"], 2, "{changed}");
    assert_eq!(crate::support::items_in(&table).await, 10_003);

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
