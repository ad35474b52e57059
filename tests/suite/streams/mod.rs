//! The stream-driven functions end to end: the API writes to a dynoxide table with its stream
//! on, a poller reads the stream as Lambda's event source mapping does (the template's filters
//! and batch sizes), and the functions' real bootstraps run each batch through a local Lambda
//! Runtime API, against dynoxide and moto (SES, S3) as they would against AWS.

pub(crate) mod poller;
mod runtime;

use std::sync::Arc;

use helpdesk_shared::store::dynamodb::DynamoStore;
use serde_json::{Value, json};

use crate::support::{As, LambdaApi, dynamo_client, dynamo_endpoint, moto_endpoint, ses_client};
use poller::{Mapping, StreamPoller};
use runtime::Function;

/// A table with its stream on, the API on it and a bucket for the mail.
struct Stack {
    api: LambdaApi,
    table: String,
    bucket: String,
    stream: StreamPoller,
}

impl Stack {
    async fn new() -> Stack {
        let client = dynamo_client();
        let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
        DynamoStore::create_table(&client, &table).await.unwrap();
        let stream = StreamPoller::open(&client, &dynamo_endpoint(), &table).await;
        let objects = crate::support::s3_store().await;
        let bucket = objects.bucket().to_string();
        let store = Arc::new(
            DynamoStore::new(client, table.clone()).with_feed_settle(std::time::Duration::ZERO),
        );
        Stack {
            api: LambdaApi::new(store, objects),
            table,
            bucket,
            stream,
        }
    }

    /// What every function gets from the template (`TABLE_NAME`) and the engines' addresses.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TABLE_NAME", self.table.clone()),
            ("AWS_ENDPOINT_URL", moto_endpoint()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo_endpoint()),
            ("AWS_S3_FORCE_PATH_STYLE", "true".into()),
        ]
    }
}

/// A sender domain SES (moto) accepts.
async fn verified_domain() -> String {
    let domain = format!("helpdesk-{}.test", uuid::Uuid::new_v4().simple());
    ses_client()
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .expect("moto accepts CreateEmailIdentity");
    domain
}

fn mail_to(address: &str) -> Vec<String> {
    crate::support::moto_sent_mail()
        .into_iter()
        .filter(|(to, _)| to.iter().any(|t| t == address))
        .map(|(_, raw)| raw)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_sign_in_and_reply_mail_goes_out_from_real_stream_records() {
    let mut stack = Stack::new().await;
    let domain = verified_domain().await;
    // Replies go out from the support address (the default one): SES must accept it too, not
    // only when another test happened to verify it first.
    ses_client()
        .create_email_identity()
        .email_identity("helpdesk.test")
        .send()
        .await
        .expect("moto accepts CreateEmailIdentity");
    let events = EventsOnMoto::new().await;
    let mut env = stack.env();
    env.push(("EVENT_BUS_NAME", events.bus.clone()));
    env.push(("WELCOME_SENDER", format!("Support <help@{domain}>")));
    env.push(("PORTAL_URL", "https://help.example.test".into()));
    let notifier = Function::start("notifier", &env).await;
    let mapping = Mapping::of("NotifierFunction");

    // A welcome email: the created customer's record passes the filter; the notifier's own
    // writes (claimed, then sent) do not come back to it.
    let ann = format!("ann@{domain}");
    let created = stack
        .api
        .create(
            json!({"email": ann, "first_name": "Ann", "send_welcome": true,
                       "portal_access": "own"}),
        )
        .await;
    assert_eq!(created["welcome"]["status"], "pending");
    assert!(stack.stream.deliver(&mapping, &notifier).await >= 1);
    let customer = stack.api.get(As::Agent, &format!("/customers/{ann}")).await;
    assert_eq!(
        customer.body["welcome"]["status"], "sent",
        "{}",
        customer.body
    );
    assert_eq!(mail_to(&ann).len(), 1);
    // The notifier's own writes (the welcome's claim and its sending) come back to it, for
    // the change log, and send nothing again.
    stack.stream.deliver(&mapping, &notifier).await;
    assert_eq!(mail_to(&ann).len(), 1, "the welcome email went once");

    // A sign-in code: the request item passes the filter, the code is mailed.
    let asked = stack
        .api
        .call(
            As::Anonymous,
            "POST",
            "/portal/sign-in",
            &[],
            Some(json!({"email": ann}).to_string()),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    assert!(stack.stream.deliver(&mapping, &notifier).await >= 1);
    let sent = mail_to(&ann);
    assert_eq!(sent.len(), 2);
    let code: String = sent[1]
        .split("code is ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("a code in the mail")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let opened = stack
        .api
        .call(
            As::Anonymous,
            "POST",
            "/portal/sessions",
            &[],
            Some(json!({"email": ann, "code": code, "return_token": true}).to_string()),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let bearer = format!("Bearer {}", opened.body["token"].as_str().unwrap());

    // An agent's reply into the ticket Ann opened in the portal: queued, then sent.
    let ticket = stack
        .api
        .call(
            As::Anonymous,
            "POST",
            "/portal/tickets",
            &[("authorization", &bearer)],
            Some(json!({"subject": "Printer", "text": "It is on fire."}).to_string()),
        )
        .await;
    assert_eq!(ticket.status, 201, "{}", ticket.body);
    let id = ticket.body["id"].as_str().unwrap().to_string();
    let reply = stack
        .api
        .post(
            As::Agent,
            &format!("/tickets/{id}/messages"),
            json!({"text": "Unplug it, we are on our way."}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(stack.stream.deliver(&mapping, &notifier).await >= 1);
    let sent = mail_to(&ann);
    assert_eq!(sent.len(), 3);
    assert!(sent[2].contains("Unplug it"), "{}", sent[2]);
    let thread = stack.api.get(As::Agent, &format!("/tickets/{id}")).await;
    let delivered: Vec<&Value> = thread.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.get("delivery").filter(|d| !d.is_null()))
        .collect();
    assert_eq!(delivered.len(), 1, "{}", thread.body);
    assert_eq!(delivered[0]["status"], "sent", "{}", thread.body);

    // The same records made the change log: the feed tells the story in order.
    stack.stream.deliver(&mapping, &notifier).await;
    let feed = stack.api.get(As::Admin, "/changes").await;
    assert_eq!(feed.status, 200, "{}", feed.body);
    let types: Vec<&str> = feed.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for wanted in [
        "customer.created",
        "ticket.created",
        "ticket.message.received",
        "ticket.message.sent",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    let created = &feed.body["events"][0];
    assert_eq!(created["type"], "customer.created", "{}", feed.body);
    assert_eq!(created["entity"]["email"], ann.as_str());
    assert_eq!(created["data"]["first_name"], "Ann");

    // And every one of them on the stack's event bus (moto's EventBridge, a rule to a queue),
    // with the feed's envelope as its detail.
    let published = events.received().await;
    let feed_ids: Vec<&str> = feed.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    for id in &feed_ids {
        let found = published.iter().find(|e| e["detail"]["id"] == *id);
        let found = found.unwrap_or_else(|| panic!("{id} on the bus: {published:#?}"));
        assert_eq!(found["source"], "helpdesk");
        assert_eq!(found["detail-type"], found["detail"]["type"]);
    }
    let on_bus = published
        .iter()
        .find(|e| e["detail-type"] == "customer.created")
        .expect("customer.created on the bus");
    assert_eq!(on_bus["detail"]["data"]["first_name"], "Ann");
}

/// An event bus on moto with a rule that sends every helpdesk event to a queue, read back
/// over SQS's JSON protocol.
struct EventsOnMoto {
    bus: String,
    queue_url: String,
}

impl EventsOnMoto {
    async fn new() -> EventsOnMoto {
        let name = format!("helpdesk-{}", uuid::Uuid::new_v4().simple());
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .endpoint_url(moto_endpoint())
            .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build();
        let client = aws_sdk_eventbridge::Client::from_conf(config);
        client
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("moto makes the bus");
        let (status, made) = sqs("CreateQueue", json!({ "QueueName": name })).await;
        assert_eq!(status, 200, "{made}");
        let queue_url = made["QueueUrl"].as_str().expect("QueueUrl").to_string();
        let (_, attributes) = sqs(
            "GetQueueAttributes",
            json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
        )
        .await;
        let arn = attributes["Attributes"]["QueueArn"]
            .as_str()
            .expect("QueueArn");
        client
            .put_rule()
            .name("all")
            .event_bus_name(&name)
            .event_pattern(r#"{"source": ["helpdesk"]}"#)
            .send()
            .await
            .expect("moto takes the rule");
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(arn)
            .build()
            .unwrap();
        client
            .put_targets()
            .rule("all")
            .event_bus_name(&name)
            .targets(target)
            .send()
            .await
            .expect("moto takes the target");
        EventsOnMoto {
            bus: name,
            queue_url,
        }
    }

    /// Every event the queue got so far, as EventBridge wrote them.
    async fn received(&self) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..100 {
            let (_, got) = sqs(
                "ReceiveMessage",
                json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10}),
            )
            .await;
            let messages = got["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let body = message["Body"].as_str().unwrap_or_default();
                events.push(serde_json::from_str(body).expect("an event"));
                sqs(
                    "DeleteMessage",
                    json!({"QueueUrl": self.queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
                )
                .await;
            }
        }
        events
    }
}

async fn sqs(operation: &str, body: Value) -> (u16, Value) {
    let (status, text) = poller::post_json_to(
        &moto_endpoint(),
        "sqs",
        &format!("AmazonSQS.{operation}"),
        &body.to_string(),
    )
    .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Delivers the stream to the jobs function until `path` answers a finished status (the
/// function checkpoints long jobs, and the checkpoint's record wakes it again).
async fn run_until_done(stack: &mut Stack, jobs: &Function, path: &str) -> Value {
    let mapping = Mapping::of("JobsFunction");
    let mut delivered = 0;
    for _ in 0..50 {
        delivered += stack.stream.deliver(&mapping, jobs).await;
        let job = stack.api.get(As::Admin, path).await;
        if job.body["status"] != "running" {
            assert!(delivered > 0, "{path} ended without the function");
            return job.body;
        }
    }
    panic!("{path} still runs after 50 reads of the stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_erasures_migrations_and_exports_run_from_real_stream_records() {
    let mut stack = Stack::new().await;
    let mut env = stack.env();
    env.push(("MAIL_BUCKET", stack.bucket.clone()));
    let jobs = Function::start("jobs", &env).await;
    for email in ["ann@acme.test", "annie@home.test", "bob@acme.test"] {
        stack.api.create(json!({"email": email})).await;
    }

    let merged = stack
        .api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["annie@home.test"]}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let path = format!("/merges/{}", merged.body["merge_id"].as_str().unwrap());
    let done = run_until_done(&mut stack, &jobs, &path).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    let erased = stack
        .api
        .post(As::Admin, "/customers/bob@acme.test/erase", json!({}))
        .await;
    assert_eq!(erased.status, 202, "{}", erased.body);
    let path = format!("/erasures/{}", erased.body["id"].as_str().unwrap());
    let done = run_until_done(&mut stack, &jobs, &path).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let gone = stack.api.get(As::Agent, "/customers/bob@acme.test").await;
    assert_eq!(gone.status, 404);

    let path = "/migrations/layout-2026-12";
    let started = stack.api.post(As::Admin, path, json!({})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let done = run_until_done(&mut stack, &jobs, path).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // A customer export: written by the jobs function into the mail bucket, linked.
    let started = stack.api.post(As::Admin, "/exports", json!({})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let path = format!("/exports/{}", started.body["id"].as_str().unwrap());
    let done = run_until_done(&mut stack, &jobs, &path).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["counts"]["customers"], 1,
        "ann (with annie merged in); bob is erased"
    );
    let (status, file) = crate::support::http_get(done["download_url"].as_str().unwrap());
    assert_eq!(status, 200);
    let file = String::from_utf8(file).unwrap();
    assert!(
        file.contains("ann@acme.test") && !file.contains("bob@acme.test"),
        "{file}"
    );
}
