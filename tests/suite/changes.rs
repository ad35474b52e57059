//! The change log and its feed (`GET /changes`) on both stores: events derived from the
//! records' changes (the change queue locally, the table's stream read from dynoxide in the
//! cloud), paged by cursor, filtered by type, authorised, and forgetting erased people.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use helpdesk_shared::services::changes::ChangeLogger;
use helpdesk_shared::store::sqlite::SqliteStore;
use serde_json::{Value, json};

use crate::streams::poller::StreamPoller;
use crate::support::{As, LambdaApi, Place, dynamo_client, dynamo_endpoint, run_job};

/// Turns what the store recorded into events, as `helpdesk serve` (the queue) or the notifier
/// (the stream) does.
pub(crate) enum Source {
    Queue(Arc<SqliteStore>),
    Stream(Box<StreamPoller>),
}

pub(crate) struct Log {
    source: Source,
    logger: ChangeLogger,
}

impl Log {
    /// Attach before the first write: the stream starts with what is written after this.
    pub(crate) async fn attach(api: &LambdaApi) -> Log {
        let source = match &api.place {
            Place::Local { database, .. } => Source::Queue(Arc::new(
                SqliteStore::open(database).expect("second connection"),
            )),
            Place::Cloud { table, .. } => Source::Stream(Box::new(
                StreamPoller::open(&dynamo_client(), &dynamo_endpoint(), table).await,
            )),
            _ => panic!("a store with a change log"),
        };
        Log {
            source,
            logger: helpdesk_shared::app::change_logger(&api.store),
        }
    }

    /// Files the events of every change made so far; answers how many were filed.
    pub(crate) async fn catch_up(&mut self) -> usize {
        match &mut self.source {
            Source::Queue(queue) => self.logger.drain(queue.as_ref()).await.expect("drain"),
            Source::Stream(poller) => {
                let changes: Vec<_> = poller
                    .records()
                    .await
                    .into_iter()
                    .map(|r| serde_json::from_value(r).expect("a stream record"))
                    .filter_map(|r| helpdesk_shared::store::dynamodb::stream::record_change(&r))
                    .collect();
                self.logger.log(&changes).await.expect("log").len()
            }
        }
    }
}

/// Every event from `path`'s cursor on, following next_cursor until caught up.
pub(crate) async fn read_all(api: &LambdaApi, who: As, first: &str) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut path = first.to_string();
    for _ in 0..100 {
        let page = api.get(who, &path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        events.extend(page.body["events"].as_array().unwrap().iter().cloned());
        let next = page.body["next_cursor"].as_str().unwrap().to_string();
        if page.body["caught_up"] == true {
            return (events, next);
        }
        // The same query, from the next cursor on (in pages of 3, to page often).
        let query: Vec<&str> = first
            .trim_start_matches("/changes")
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("cursor=") && !p.starts_with("limit="))
            .collect();
        path = format!("/changes?limit=3&cursor={next}&{}", query.join("&"));
    }
    panic!("the feed did not catch up");
}

pub(crate) fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

async fn lifecycle_events_in_order(api: LambdaApi) {
    let mut log = Log::attach(&api).await;
    api.create(json!({"email": "ann@acme.test", "first_name": "Ann"}))
        .await;
    // The second of two equal writes changes nothing and makes no event.
    for _ in 0..2 {
        let changed = api
            .patch(
                As::Agent,
                "/customers/ann@acme.test",
                Some("*"),
                json!({"last_name": "Lee"}),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
    }
    let blocked = api
        .post(As::Admin, "/customers/ann@acme.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    let unblocked = api
        .delete(As::Admin, "/customers/ann@acme.test/block")
        .await;
    assert_eq!(unblocked.status, 200, "{}", unblocked.body);
    let company = api
        .post(
            As::Admin,
            "/companies",
            json!({"name": "Acme", "domains": ["acme.test"]}),
        )
        .await;
    assert_eq!(company.status, 201, "{}", company.body);
    let id = company.body["id"].as_str().unwrap().to_string();
    let renamed = api
        .patch(
            As::Admin,
            &format!("/companies/{id}"),
            Some("*"),
            json!({"name": "Acme Inc"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    api.create(json!({"email": "tmp@else.test"})).await;
    let deleted = api.delete(As::Admin, "/customers/tmp@else.test").await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(log.catch_up().await >= 8);

    let (events, _) = read_all(&api, As::Admin, "/changes?limit=3").await;
    let ann: Vec<&Value> = events
        .iter()
        .filter(|e| e["entity"]["email"] == "ann@acme.test")
        .collect();
    let kinds: Vec<&str> = ann.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "customer.created",
            "customer.updated",
            "customer.blocked",
            "customer.unblocked"
        ],
        "{events:#?}"
    );
    let versions: Vec<u64> = ann.iter().filter_map(|e| e["version"].as_u64()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    let updated = ann[1];
    assert_eq!(
        updated["changes"],
        json!([{"field": "last_name", "from": null, "to": "Lee"}])
    );
    assert_eq!(updated["actor"]["type"], "caller", "{updated}");
    assert_eq!(updated["data"]["last_name"], "Lee");
    assert!(updated["data"].get("import_mark").is_none());
    assert!(updated["id"].as_str().unwrap().starts_with("evt_"));
    let all = types(&events);
    for wanted in ["company.created", "company.updated", "customer.deleted"] {
        assert!(all.contains(&wanted), "{wanted} in {all:?}");
    }
    let ids: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "one id per event");

    // Types and prefixes filter; unknown ones are refused by name.
    let (companies, _) = read_all(&api, As::Admin, "/changes?types=company").await;
    assert_eq!(types(&companies), ["company.created", "company.updated"]);
    let (blocks, _) = read_all(
        &api,
        As::Admin,
        "/changes?types=customer.blocked,customer.unblocked",
    )
    .await;
    assert_eq!(types(&blocks), ["customer.blocked", "customer.unblocked"]);
    api.get(As::Admin, "/changes?types=customer.exploded")
        .await
        .assert_problem(400, "types");
}

async fn feed_is_for_admins_and_integrations(api: LambdaApi) {
    // An app client with the scope `<resource server>/changes:read` reads the feed, and
    // nothing else.
    let feed = api.get(As::FeedReader, "/changes").await;
    assert_eq!(feed.status, 200, "{}", feed.body);
    api.get(As::FeedReader, "/customers")
        .await
        .assert_problem_status(403);
    api.get(As::Agent, "/changes")
        .await
        .assert_problem_status(403);
    api.get(As::Anonymous, "/changes")
        .await
        .assert_problem_status(401);
    api.get(As::Admin, "/changes?cursor=c1xyz")
        .await
        .assert_problem(400, "cursor");
    api.get(As::Admin, "/changes?limit=1001")
        .await
        .assert_problem(400, "limit");
    api.get(As::Admin, "/changes?since=yesterday")
        .await
        .assert_problem(400, "since");
    api.get(As::Admin, "/changes?color=red")
        .await
        .assert_problem(400, "color");
}

async fn cursor_now_and_since_start_where_asked(api: LambdaApi) {
    let mut log = Log::attach(&api).await;
    api.create(json!({"email": "early@acme.test"})).await;
    log.catch_up().await;
    let now = api.get(As::Admin, "/changes?cursor=now").await;
    assert_eq!(now.status, 200, "{}", now.body);
    assert_eq!(now.body["events"], json!([]), "{}", now.body);
    let cursor = now.body["next_cursor"].as_str().unwrap().to_string();
    api.create(json!({"email": "late@acme.test"})).await;
    log.catch_up().await;
    let (after, _) = read_all(&api, As::Admin, &format!("/changes?cursor={cursor}")).await;
    let emails: Vec<&str> = after
        .iter()
        .filter_map(|e| e["entity"]["email"].as_str())
        .collect();
    assert_eq!(emails, ["late@acme.test"]);
    let (since, _) = read_all(&api, As::Admin, "/changes?since=2020-01-01").await;
    assert_eq!(since.len(), 2, "{since:#?}");
}

async fn paging_under_concurrent_writers_misses_nothing(api: LambdaApi) {
    let mut log = Log::attach(&api).await;
    let finished = std::cell::Cell::new(0);
    let writers = futures::future::join_all((0..3).map(|w| {
        let (api, finished) = (&api, &finished);
        async move {
            for i in 0..10 {
                let email = format!("w{w}-{i}@load.test");
                api.create(json!({"email": email})).await;
                let path = format!("/customers/{email}");
                let patched = api
                    .patch(
                        As::Agent,
                        &path,
                        Some("*"),
                        json!({"first_name": format!("N{i}")}),
                    )
                    .await;
                assert_eq!(patched.status, 200, "{}", patched.body);
            }
            finished.set(finished.get() + 1);
        }
    }));
    // A reader pages while the writers write and the log catches up.
    let reader = async {
        let mut seen: Vec<Value> = Vec::new();
        let mut cursor = String::new();
        for _ in 0..500 {
            let filed = log.catch_up().await;
            let path = match cursor.as_str() {
                "" => "/changes?limit=4".to_string(),
                c => format!("/changes?limit=4&cursor={c}"),
            };
            let page = api.get(As::Admin, &path).await;
            assert_eq!(page.status, 200, "{}", page.body);
            seen.extend(page.body["events"].as_array().unwrap().iter().cloned());
            cursor = page.body["next_cursor"].as_str().unwrap().to_string();
            if finished.get() == 3 && filed == 0 && page.body["caught_up"] == true {
                return seen;
            }
            tokio::task::yield_now().await;
        }
        panic!("the reader never caught up");
    };
    let (_, seen) = tokio::join!(writers, reader);
    let mut by_entity: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for event in &seen {
        let id = event["id"].as_str().unwrap().to_string();
        let entity = event["entity"]["id"].as_str().unwrap().to_string();
        let list = by_entity.entry(entity).or_default();
        // At least once: a repeat is the same event, never a new one in between.
        if !list.iter().any(|(seen, _)| *seen == id) {
            list.push((id, event["type"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(by_entity.len(), 30, "every customer's events");
    for (entity, list) in by_entity {
        let kinds: Vec<&str> = list.iter().map(|(_, kind)| kind.as_str()).collect();
        assert_eq!(kinds, ["customer.created", "customer.updated"], "{entity}");
    }
}

async fn erasure_leaves_nothing_of_the_person_in_the_feed(api: LambdaApi) {
    let mut log = Log::attach(&api).await;
    api.create(
        json!({"email": "bob@secret.test", "first_name": "Bobby", "phones": ["+1 555 0100"]}),
    )
    .await;
    api.create(json!({"email": "carol@acme.test"})).await;
    let changed = api
        .patch(
            As::Agent,
            "/customers/bob@secret.test",
            Some("*"),
            json!({"last_name": "Tables"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    log.catch_up().await;
    let erased = api
        .post(As::Admin, "/customers/bob@secret.test/erase", json!({}))
        .await;
    assert_eq!(erased.status, 202, "{}", erased.body);
    let id = erased.body["id"].as_str().unwrap().to_string();
    run_job(&api, "erasure", &id).await;
    log.catch_up().await;
    let (events, _) = read_all(&api, As::Admin, "/changes").await;
    let text = serde_json::to_string(&events).unwrap();
    for personal in ["bob@secret.test", "Bobby", "Tables", "555 0100"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    let all = types(&events);
    assert!(all.contains(&"customer.erased"), "{all:?}");
    assert!(all.contains(&"erasure.succeeded"), "{all:?}");
    assert!(all.contains(&"customer.created"), "carol's stays: {all:?}");
    let erased_event = events
        .iter()
        .find(|e| e["type"] == "customer.erased")
        .unwrap();
    assert_eq!(erased_event["data"], Value::Null);
    assert!(erased_event["entity"].get("email").is_none());
}

on_both_stores!(
    lifecycle_events_in_order,
    feed_is_for_admins_and_integrations,
    cursor_now_and_since_start_where_asked,
    paging_under_concurrent_writers_misses_nothing,
    erasure_leaves_nothing_of_the_person_in_the_feed,
);

/// An EventBridge endpoint on loopback that fails the second entry of the first `PutEvents`
/// (as EventBridge does under throttling) and takes everything after; it keeps each request's
/// entries.
async fn flaky_event_bridge() -> (String, Arc<std::sync::Mutex<Vec<Vec<Value>>>>) {
    use axum::routing::post;
    let calls: Arc<std::sync::Mutex<Vec<Vec<Value>>>> = Arc::default();
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/",
        post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let entries = request["Entries"].as_array().cloned().unwrap_or_default();
                let first = {
                    let mut calls = seen.lock().unwrap();
                    calls.push(entries.clone());
                    calls.len() == 1
                };
                let answers: Vec<Value> = (0..entries.len())
                    .map(|i| match (first, i) {
                        (true, 1) => json!({"ErrorCode": "ThrottlingException",
                                             "ErrorMessage": "Rate exceeded"}),
                        _ => json!({"EventId": uuid::Uuid::new_v4().to_string()}),
                    })
                    .collect();
                let failed = usize::from(first && entries.len() > 1);
                (
                    [("content-type", "application/x-amz-json-1.1")],
                    json!({"FailedEntryCount": failed, "Entries": answers}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

#[tokio::test]
async fn event_bridge_gets_failed_entries_again_and_only_those() {
    let (url, calls) = flaky_event_bridge().await;
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    let store = crate::support::sqlite_store();
    let sink = helpdesk_shared::publish::eventbridge::EventBridgeSink::new(
        aws_sdk_eventbridge::Client::from_conf(config),
        "bus".into(),
        store.clone(),
    );
    let logger = helpdesk_shared::app::change_logger(&store).with_sink(Arc::new(sink));
    let changes: Vec<_> = (0..12)
        .map(|i| {
            let customer = crate::support::customer(&format!("c{i}@acme.test"));
            helpdesk_shared::domain::events::RecordChange::Customer(None, Some(customer))
        })
        .collect();
    let events = logger.log(&changes).await.expect("logged and published");
    let calls = calls.lock().unwrap().clone();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    // Ten to a request; the one entry EventBridge failed goes again alone.
    assert_eq!(sizes, [10, 1, 2], "{calls:#?}");
    let id_of = |entry: &Value| -> String {
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        detail["id"].as_str().unwrap().to_string()
    };
    assert_eq!(id_of(&calls[1][0]), id_of(&calls[0][1]));
    assert_eq!(id_of(&calls[0][1]), events[1].id);
    assert_eq!(calls[0][0]["Source"], "helpdesk");
    assert_eq!(calls[0][0]["DetailType"], "customer.created");
    assert_eq!(calls[0][0]["EventBusName"], "bus");
}
