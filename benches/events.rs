//! Events benchmark (`cargo bench --bench events`): what the change log costs and how fast it
//! goes (docs/performance.md, #28).
//!
//! - SQLite: customers written with and without the change queue's triggers (the baseline:
//!   the same writes on a file whose triggers are dropped), the logger's rate turning the queue
//!   into events, commit-to-feed lag with the logger on its `helpdesk serve` tick, and reading
//!   the feed.
//! - DynamoDB (dynoxide, with `DYNAMODB_ENDPOINT`): the notifier's logger filing events (two
//!   items each), with and without publishing to EventBridge (moto, with `MOTO_ENDPOINT`), the
//!   write units each event adds to a new and to an updated row, and the read units of the
//!   feed per 1,000 changes (from the items' sizes, as DynamoDB charges them).
//!
//! - Webhooks: `helpdesk serve` posting signed events to an endpoint on this machine, against
//!   the rate that endpoint takes posts straight from this process.
//!
//! - DynamoDB's commit to feed: a write, its stream record, the logger, the feed; with the
//!   stream read at once, and as Lambda polls it with the notifier's mapping from the template.
//!
//! Nothing here asserts a time.

#[path = "support/local_dynamodb.rs"]
mod local_dynamodb;
/// The tests' stream reader (as Lambda's event source mapping reads dynoxide's stream).
#[path = "../tests/suite/streams/poller.rs"]
#[allow(
    dead_code,
    reason = "the tests use more of the stream reader than the benchmark"
)]
mod poller;
#[path = "support/report.rs"]
mod report;
#[path = "../tests/suite/streams/runtime.rs"]
#[allow(dead_code, reason = "the benchmark runs no function")]
mod runtime;
#[path = "support/serve.rs"]
mod serve;

use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::domain::caller::{Caller, Role};
use helpdesk_shared::domain::customer::{Customer, ImportMark, Profile, RowOutcome};
use helpdesk_shared::domain::events::RecordChange;
use helpdesk_shared::ports::changes::EventSink;
use helpdesk_shared::ports::store::{CustomerStore, CustomerWrite, Store};
use helpdesk_shared::services::changes::{ChangeFeed, ChangeLogger, FeedQuery};
use helpdesk_shared::store::sqlite::SqliteStore;

const LOCAL_ROWS: usize = 20_000;
const CLOUD_EVENTS: usize = 2_000;
const LAG_SAMPLES: usize = 200;
const BATCH: usize = 500;

fn customer(i: usize) -> Customer {
    let now = helpdesk_shared::now();
    Customer {
        id: helpdesk_shared::new_id(),
        profile: Profile {
            email: helpdesk_shared::domain::email::Email::parse(&format!(
                "person{i}@company{}.example",
                i % 500
            ))
            .expect("email"),
            first_name: Some(format!("First{i}")),
            last_name: Some(format!("Last{i}")),
            ..Profile::default()
        },
        welcome: None,
        import_mark: None,
        blocked: None,
        undeliverable: None,
        complained: None,
        portal: Default::default(),
        avatar_image: None,
        created_by: None,
        changed_by: None,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    }
}

fn main() {
    println!("machine: {}", report::machine());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(local());
    webhooks::run();
    match std::env::var("DYNAMODB_ENDPOINT") {
        Ok(endpoint) => runtime.block_on(async {
            cloud(&endpoint).await;
            cloud_lag(&endpoint, Polling::AtOnce).await;
            cloud_lag(
                &endpoint,
                Polling::Lambda(poller::Mapping::of("NotifierFunction")),
            )
            .await;
        }),
        Err(_) => {
            println!("\nDynamoDB: not measured (set DYNAMODB_ENDPOINT to a dynoxide endpoint)")
        }
    }
}

fn temp_db(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "helpdesk-bench-events-{label}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("helpdesk.db")
}

/// Writes `LOCAL_ROWS` new customers in batches, as an import does; answers rows per second.
async fn write_rows(store: &Arc<SqliteStore>) -> f64 {
    let started = Instant::now();
    for start in (0..LOCAL_ROWS).step_by(BATCH) {
        let writes: Vec<CustomerWrite> = (start..start + BATCH)
            .map(|i| CustomerWrite::Insert(customer(i)))
            .collect();
        let outcomes = store.write_customers(&writes).await.expect("writes");
        assert!(outcomes.iter().all(Result::is_ok));
    }
    store.finish_bulk_writes().await.expect("finish");
    LOCAL_ROWS as f64 / started.elapsed().as_secs_f64()
}

async fn local() {
    println!("\nSQLite, {LOCAL_ROWS} new customers in batches of {BATCH}:\n");
    // The baseline: the same writes without the change queue's triggers.
    let bare_path = temp_db("bare");
    let bare = Arc::new(SqliteStore::open(&bare_path).expect("open"));
    {
        let raw = rusqlite::Connection::open(&bare_path).expect("raw");
        for kind in ["inserted", "updated", "deleted"] {
            raw.execute_batch(&format!("DROP TRIGGER customers_{kind};"))
                .expect("drop trigger");
        }
    }
    let bare_rate = write_rows(&bare).await;
    let path = temp_db("queued");
    let queued = Arc::new(SqliteStore::open(&path).expect("open"));
    let queued_rate = write_rows(&queued).await;
    println!("| writes | rows/s |");
    println!("|---|---|");
    println!("| without the change queue (baseline) | {bare_rate:.0} |");
    println!("| with the change queue | {queued_rate:.0} |");

    let store: Arc<dyn Store> = queued.clone();
    let logger = helpdesk_shared::app::change_logger(&store);
    let started = Instant::now();
    let filed = logger.drain(queued.as_ref()).await.expect("drain");
    let took = started.elapsed();
    println!(
        "\nlogger: {filed} events filed from the queue in {:.2} s: {:.0} events/s",
        took.as_secs_f64(),
        filed as f64 / took.as_secs_f64()
    );

    let feed = ChangeFeed::new(store.clone());
    let admin = Caller::new("bench", [Role::Admin], false);
    let started = Instant::now();
    let (read, _) = read_feed(&feed, &admin).await;
    let took = started.elapsed();
    println!(
        "feed: {read} events read in pages of 1,000 in {:.2} s ({:.1} ms per 1,000)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 * 1000.0 / read.max(1) as f64
    );
    lag(queued, logger, feed, admin).await;
}

/// Commit to feed, one customer at a time, with the logger on `helpdesk serve`'s 250 ms tick.
async fn lag(store: Arc<SqliteStore>, logger: ChangeLogger, feed: ChangeFeed, admin: Caller) {
    let ticking = {
        let (store, logger) = (store.clone(), logger.clone());
        tokio::spawn(async move {
            loop {
                let _ = logger.drain(store.as_ref()).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let now = feed
        .read(
            &admin,
            FeedQuery {
                cursor: Some("now".into()),
                limit: 1,
                ..FeedQuery::default()
            },
        )
        .await
        .expect("now");
    let mut cursor = now.next_cursor;
    let mut lags = Vec::with_capacity(LAG_SAMPLES);
    for i in 0..LAG_SAMPLES {
        // Writes land anywhere in the tick, as users' do.
        tokio::time::sleep(Duration::from_millis((i as u64 * 37) % 250)).await;
        store
            .insert_customer(&customer(LOCAL_ROWS + i))
            .await
            .expect("insert");
        let committed = Instant::now();
        loop {
            let page = feed
                .read(
                    &admin,
                    FeedQuery {
                        cursor: Some(cursor.clone()),
                        limit: 10,
                        ..FeedQuery::default()
                    },
                )
                .await
                .expect("feed");
            cursor = page.next_cursor;
            if !page.events.is_empty() {
                lags.push(committed.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    ticking.abort();
    lags.sort();
    let at = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    println!(
        "commit to feed ({LAG_SAMPLES} writes, logger every 250 ms): p50 {:.0} ms, p99 {:.0} ms",
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0
    );
}

/// The whole feed in pages of 1,000, from the start: events and pages read.
async fn read_feed(feed: &ChangeFeed, admin: &Caller) -> (usize, usize) {
    let (mut read, mut pages) = (0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let query = FeedQuery {
            cursor: cursor.clone(),
            limit: 1000,
            ..FeedQuery::default()
        };
        let page = feed.read(admin, query).await.expect("feed");
        read += page.events.len();
        pages += 1;
        cursor = Some(page.next_cursor);
        if page.caught_up {
            return (read, pages);
        }
    }
}

/// What the store keeps of an event's JSON in its feed item (deflated).
fn deflated_len(json: &[u8]) -> usize {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json).expect("deflate");
    encoder.finish().expect("deflate").len()
}

/// Write units of an item of `bytes` (1 per KB or part).
fn wru(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

async fn cloud(endpoint: &str) {
    use helpdesk_shared::store::dynamodb::DynamoStore;
    let client = local_dynamodb::client(endpoint);
    let table = format!("events-{}", std::process::id());
    DynamoStore::create_table(&client, &table)
        .await
        .expect("table");
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(client, table).with_feed_settle(Duration::ZERO));
    println!("\nDynamoDB (dynoxide on 127.0.0.1), {CLOUD_EVENTS} customer.created events:\n");
    let changes: Vec<RecordChange> = (0..CLOUD_EVENTS)
        .map(|i| RecordChange::Customer(None, Some(customer(i))))
        .collect();
    println!("| notifier's logger | events/s |");
    println!("|---|---|");
    let logger = helpdesk_shared::app::change_logger(&store);
    let started = Instant::now();
    let mut sizes = Vec::new();
    for batch in changes.chunks(25) {
        let events = logger.log(batch).await.expect("log");
        sizes.extend(events.iter().map(|e| {
            let json = serde_json::to_vec(e).expect("json");
            (json.len(), deflated_len(&json))
        }));
    }
    let rate = CLOUD_EVENTS as f64 / started.elapsed().as_secs_f64();
    println!("| filing only (batches of 25, as the stream delivers) | {rate:.0} |");
    if let Ok(moto) = std::env::var("MOTO_ENDPOINT") {
        let sink = event_bridge(&moto, &store).await;
        let publishing = helpdesk_shared::app::change_logger(&store).with_sink(sink);
        let started = Instant::now();
        for batch in changes.chunks(25) {
            publishing.log(batch).await.expect("log and publish");
        }
        let rate = CLOUD_EVENTS as f64 / started.elapsed().as_secs_f64();
        println!("| filing and publishing to EventBridge (moto) | {rate:.0} |");
    } else {
        println!("| filing and publishing | not measured (set MOTO_ENDPOINT) |");
    }
    // Imports' updates of the same customers: the log files each one's history entry too.
    let updates: Vec<RecordChange> = changes
        .iter()
        .enumerate()
        .filter_map(|(row, change)| match change {
            RecordChange::Customer(None, Some(before)) => Some(RecordChange::Customer(
                Some(before.clone()),
                Some(imported_update(before, row as u64 + 2)),
            )),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    for batch in updates.chunks(25) {
        logger.log(batch).await.expect("log updates");
    }
    let rate = updates.len() as f64 / started.elapsed().as_secs_f64();
    println!("| filing imports' updates (event and history entry) | {rate:.0} |");
    let entries: Vec<usize> = updates
        .iter()
        .filter_map(RecordChange::logged_history)
        .map(|entry| serde_json::to_vec(&entry).expect("json").len())
        .collect();
    let entry_bytes = entries.iter().sum::<usize>() / entries.len().max(1);
    let count = sizes.len().max(1);
    let mean = sizes.iter().map(|(json, _)| json).sum::<usize>() / count;
    let packed = sizes.iter().map(|(_, z)| z).sum::<usize>() / count;
    // The feed item holds the deflated event and its keys (about 120 bytes); the owner's index
    // item only keys (about 150); a history item its entry and keys (about 130).
    let per_event = wru(packed + 120) + wru(150);
    let per_entry = wru(entry_bytes + 130);
    println!(
        "\nan event: {mean} bytes of JSON, {packed} deflated; {per_event} WRU (feed item and owner item; {} with the JSON as it is). A new import row: {NEW_ROW_WRU:.2} WRU before, {:.2} with its event; an updated row: {UPDATED_ROW_WRU:.2} before (the record alone), {:.2} with its history entry ({entry_bytes} bytes, {per_entry} WRU, filed by the log) and its event",
        wru(mean + 120) + wru(150),
        NEW_ROW_WRU + per_event as f64,
        UPDATED_ROW_WRU + (per_entry + per_event) as f64
    );
    let feed = ChangeFeed::new(store.clone());
    let admin = Caller::new("bench", [Role::Admin], false);
    let started = Instant::now();
    let (read, pages) = read_feed(&feed, &admin).await;
    // A page's hour is read with 16 queries (one per shard); each is charged 0.5 RRU per 4 KB
    // it returns (eventually consistent), at least 0.5.
    let bytes = read * (packed + 120);
    let rru = (bytes as f64 / 4096.0 / 16.0).ceil() * 16.0 * 0.5 + pages as f64 * 16.0 * 0.5;
    println!(
        "feed: {read} events in {pages} pages, {:.2} s; about {:.0} RRU per 1,000 changes",
        started.elapsed().as_secs_f64(),
        rru * 1000.0 / read.max(1) as f64
    );
}

/// How the lag measurement reads the table's stream.
enum Polling {
    /// At once after each write: the engine, the logger and the feed alone.
    AtOnce,
    /// As Lambda's event source mapping does (the notifier's, from the template): each shard
    /// read four times a second, and a batch handed over once it is full or once the
    /// mapping's batching window has passed since its first record.
    Lambda(poller::Mapping),
}

/// An import row's write units without its event (and an update's without its history entry),
/// as the import benchmark measures them through dynoxide (`IMPORT_BENCH_AGAIN=1 cargo bench
/// --bench import`, docs/performance.md).
const NEW_ROW_WRU: f64 = 4.0;
const UPDATED_ROW_WRU: f64 = 5.0;

/// `before` as an import's row `row` leaves it: a new last name, the row's mark.
fn imported_update(before: &Customer, row: u64) -> Customer {
    let mut after = before.clone();
    after.profile.last_name = Some(format!("Renamed{row}"));
    after.import_mark = Some(ImportMark {
        job: "bench-import".into(),
        row,
        outcome: RowOutcome::Updated,
    });
    after.version += 1;
    after.updated_at = helpdesk_shared::now();
    after
}

/// Lambda polls a DynamoDB stream's shards four times a second (its documented base rate).
const LAMBDA_POLL: Duration = Duration::from_millis(250);
/// Writes the polled measurement waits for (each takes about the batching window).
const POLLED_SAMPLES: usize = 40;
/// Stream reads one write may take before its event must be in the feed.
const MAX_READS: usize = 200;

/// Commit to feed in the cloud's path: a write, its stream record, the notifier's logger
/// filing it, a reader of the feed finding it (settling time 0: the cloud's 30 s come on top,
/// by design).
async fn cloud_lag(endpoint: &str, polling: Polling) {
    use helpdesk_shared::store::dynamodb::DynamoStore;
    let client = local_dynamodb::client(endpoint);
    let (label, samples) = match &polling {
        Polling::AtOnce => ("at-once", LAG_SAMPLES / 2),
        Polling::Lambda(_) => ("polled", POLLED_SAMPLES),
    };
    let table = format!("events-lag-{label}-{}", std::process::id());
    DynamoStore::create_table(&client, &table)
        .await
        .expect("table");
    let mut stream = poller::StreamPoller::open(&client, endpoint, &table).await;
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(client, table).with_feed_settle(Duration::ZERO));
    let logger = helpdesk_shared::app::change_logger(&store);
    let feed = ChangeFeed::new(store.clone());
    let admin = Caller::new("bench", [Role::Admin], false);
    let now = FeedQuery {
        cursor: Some("now".into()),
        limit: 1,
        ..FeedQuery::default()
    };
    let mut cursor = feed.read(&admin, now).await.expect("now").next_cursor;
    // Lambda's polls keep their own pace, whenever the writes come.
    let mut ticker = tokio::time::interval(LAMBDA_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut lags = Vec::with_capacity(samples);
    for i in 0..samples {
        if let Polling::Lambda(_) = polling {
            // Writes land at every point of the poll cycle.
            tokio::time::sleep(Duration::from_millis((i * 97 % 250) as u64)).await;
        }
        store
            .insert_customer(&customer(CLOUD_EVENTS + i))
            .await
            .expect("insert");
        let committed = Instant::now();
        for read in 0.. {
            assert!(read < MAX_READS, "the write's event never reached the feed");
            let changes: Vec<RecordChange> = next_batch(&mut stream, &polling, &mut ticker)
                .await
                .into_iter()
                .filter_map(|r| serde_json::from_value(r).ok())
                .filter_map(|r| helpdesk_shared::store::dynamodb::stream::record_change(&r))
                .collect();
            logger.log(&changes).await.expect("log");
            let query = FeedQuery {
                cursor: Some(cursor.clone()),
                limit: 10,
                ..FeedQuery::default()
            };
            let page = feed.read(&admin, query).await.expect("feed");
            cursor = page.next_cursor;
            if !page.events.is_empty() {
                lags.push(committed.elapsed());
                break;
            }
        }
    }
    lags.sort();
    let at = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    let how = match &polling {
        Polling::AtOnce => "stream read at once".to_string(),
        Polling::Lambda(mapping) => format!(
            "Lambda's polling: every {} ms, batches of {} or after {} s",
            LAMBDA_POLL.as_millis(),
            mapping.batch_size,
            mapping.batching_window.as_secs()
        ),
    };
    println!(
        "commit to feed ({} writes; {how}; no settling): p50 {:.0} ms, p99 {:.0} ms",
        lags.len(),
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0
    );
}

/// The stream records the logger gets next, as `polling` reads them.
async fn next_batch(
    stream: &mut poller::StreamPoller,
    polling: &Polling,
    ticker: &mut tokio::time::Interval,
) -> Vec<serde_json::Value> {
    let Polling::Lambda(mapping) = polling else {
        return stream.records().await;
    };
    let mut batch = Vec::new();
    let mut first_seen: Option<Instant> = None;
    for _ in 0..MAX_READS {
        ticker.tick().await;
        batch.extend(
            stream
                .records()
                .await
                .into_iter()
                .filter(|record| mapping.passes(record)),
        );
        if batch.is_empty() {
            continue;
        }
        let first = *first_seen.get_or_insert_with(Instant::now);
        if batch.len() >= mapping.batch_size || first.elapsed() >= mapping.batching_window {
            return batch;
        }
    }
    panic!(
        "no batch for Lambda within {MAX_READS} polls ({} records passed its filter)",
        batch.len()
    );
}

async fn event_bridge(moto: &str, store: &Arc<dyn Store>) -> Arc<dyn EventSink> {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .build();
    let client = aws_sdk_eventbridge::Client::from_conf(config);
    let bus = format!("events-bench-{}", std::process::id());
    client
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("bus");
    Arc::new(helpdesk_shared::publish::eventbridge::EventBridgeSink::new(
        client,
        bus,
        store.clone(),
    ))
}

/// Webhook deliveries from `helpdesk serve` to an endpoint on this machine, against the rate
/// the same endpoint takes posts at straight from this process.
mod webhooks {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use serde_json::json;

    use super::serve::{post, serve, wait_for};

    const DELIVERIES: usize = 1_000;

    /// An endpoint that answers 200 to every POST; counts them.
    fn receiver() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("stream"));
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.fetch_add(1, Ordering::SeqCst);
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        (url, count)
    }

    pub fn run() {
        println!(
            "\nWebhooks (`helpdesk serve`), {DELIVERIES} events to one endpoint on 127.0.0.1:\n"
        );
        println!("| posts | per second |");
        println!("|---|---|");
        let (url, count) = receiver();
        let address = url.trim_start_matches("http://").trim_end_matches("/hook");
        let started = Instant::now();
        for _ in 0..DELIVERIES {
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            let body = r#"{"id":"evt_0"}"#;
            let request = format!(
                "POST /hook HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).expect("send");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
        }
        let rate = DELIVERIES as f64 / started.elapsed().as_secs_f64();
        println!("| straight from this process, one after another (baseline) | {rate:.0} |");

        let data =
            std::env::temp_dir().join(format!("helpdesk-bench-webhooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("data dir");
        let (server, _) = serve(&data, &["--allow-private-webhooks"], &[]);
        let key = std::fs::read_to_string(data.join("admin.key")).expect("key");
        let key = key.trim();
        let hook = post(&server.address, "/webhooks", key, &json!({"url": url}));
        assert!(hook["secret"].is_string(), "{hook}");
        count.store(0, Ordering::SeqCst);
        let started = Instant::now();
        for batch in 0..DELIVERIES / 100 {
            let customers: Vec<_> = (0..100)
                .map(|i| json!({"email": format!("hook{batch}x{i}@company.example")}))
                .collect();
            post(
                &server.address,
                "/customers/batch",
                key,
                &json!({"customers": customers}),
            );
        }
        wait_for(|| count.load(Ordering::SeqCst) >= DELIVERIES);
        let rate = DELIVERIES as f64 / started.elapsed().as_secs_f64();
        println!("| signed deliveries by `helpdesk serve`, from the writes on | {rate:.0} |");
        drop(server);
    }
}
