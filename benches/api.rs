//! API benchmark (`cargo bench --bench api`): what a user of the API function waits for.
//!
//! - start-up: `helpdesk serve` from process start to its first answered request;
//! - handler latency p50/p99 for create, get and list, in process, through the same path Lambda
//!   takes (API Gateway v2 event → lambda_http adapter → router → SQLite store);
//! - release binary sizes of the API function and of `helpdesk`;
//! - the customer portal: page and API latency with 32 clients on `helpdesk serve`, and the
//!   DynamoDB capacity of its ticket list and ticket page;
//! - DynamoDB capacity (WRU/RRU) per API create, get, list page and name search, per inbound
//!   message and per welcome email, through the metering proxy in front of dynoxide, which counts capacity as DynamoDB charges it.
//!
//! Loops are bounded by count; nothing here asserts a time.

#[path = "support/report.rs"]
mod report;

#[path = "support/metering_proxy.rs"]
mod metering_proxy;

// The timed rows serve the lifecycle and layout benches.
#[allow(dead_code)]
#[path = "support/unit_costs.rs"]
mod unit_costs;

#[path = "support/portal_load.rs"]
mod portal_load;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::store::sqlite::SqliteStore;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service};
use serde_json::{Value, json};

const STARTS: usize = 20;
const CREATES: usize = 5_000;
const GETS: usize = 5_000;
const LISTS: usize = 1_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("# helpdesk API benchmark\n");
    println!("machine: {}", report::machine());
    // `API_BENCH_SECTIONS=capacity` (a comma list of sizes, start, portal, latency, capacity) runs some.
    let sections = std::env::var("API_BENCH_SECTIONS").ok();
    let run = |name: &str| {
        sections
            .as_deref()
            .is_none_or(|s| s.split(',').any(|x| x.trim() == name))
    };
    if run("sizes") {
        binary_sizes();
    }
    if run("start") {
        start_up();
    }
    if run("portal") {
        portal_load::latency();
        runtime.block_on(portal_load::capacity());
    }
    if run("latency") {
        runtime.block_on(handler_latency());
    }
    if run("capacity") {
        runtime.block_on(capacity_per_operation());
    }
}

fn binary_sizes() {
    // The API function's binary is another package's: build it in release like `sam build` would.
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "api"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let helpdesk = std::path::Path::new(env!("CARGO_BIN_EXE_helpdesk"));
    let api = helpdesk.with_file_name("api");
    println!("\n## release binary size\n");
    for (name, path) in [
        ("api (Lambda bootstrap)", api.as_path()),
        ("helpdesk", helpdesk),
    ] {
        match std::fs::metadata(path) {
            Ok(meta) if built || name == "helpdesk" => {
                println!("- {name}: {:.1} MiB", meta.len() as f64 / 1048576.0)
            }
            _ => println!("- {name}: not built"),
        }
    }
}

/// `helpdesk serve` (release) on a free loopback port over `data`, with `keys` as
/// `HELPDESK_API_KEYS`; answers the process and the address it reports.
fn spawn_serve(data: &std::path::Path, keys: &str) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("HELPDESK_API_KEYS", keys)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("helpdesk starts");
    let stdout = child.stdout.take().expect("stdout");
    let address = BufReader::new(stdout)
        .lines()
        .take(10)
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("listening on http://")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .expect("address");
    (child, address)
}

fn start_up() {
    let mut samples = Vec::with_capacity(STARTS);
    for round in 0..STARTS {
        let data = std::env::temp_dir().join(format!(
            "helpdesk-bench-start-{}-{round}",
            std::process::id()
        ));
        let started = Instant::now();
        let (mut child, address) = spawn_serve(&data, "bench-key-0123456789:admin");
        // Ready means: a request is answered.
        let mut answered = false;
        for _ in 0..5_000 {
            if health(&address) {
                answered = true;
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let elapsed = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&data);
        assert!(answered, "helpdesk serve never answered");
        samples.push(elapsed);
    }
    println!(
        "\n## process start to first answered request (helpdesk serve, fresh data dir, {STARTS} runs)\n"
    );
    report("start-up", &mut samples);
}

fn health(address: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.1 200")
}

struct Lambda {
    router: axum::Router,
    fixture: Value,
}

impl Lambda {
    async fn call(&self, method: &str, path: &str, query: &str, body: Option<&Value>) -> u16 {
        self.call_with(method, path, query, &[], body).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> u16 {
        let mut event = self.fixture.clone();
        for (name, value) in headers {
            event["headers"][*name] = json!(value);
        }
        event["rawPath"] = json!(path);
        event["rawQueryString"] = json!(query);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] = json!("[admin]");
        event["body"] = json!(body.map(Value::to_string).unwrap_or_default());
        let request: LambdaRequest = serde_json::from_value(event).expect("event");
        let mut adapter = lambda_http::Adapter::from(self.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .expect("response");
        serde_json::to_value(&response).expect("json")["statusCode"]
            .as_u64()
            .unwrap_or(0) as u16
    }
}

impl Lambda {
    /// A request without the JWT authorizer's claims (the portal's routes), `path` with its
    /// query string; answers status and body.
    async fn call_with_anonymous(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut event = self.fixture.clone();
        for (name, value) in headers {
            event["headers"][*name] = json!(value);
        }
        event["rawPath"] = json!(path);
        event["rawQueryString"] = json!(query);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["authorizer"] = Value::Null;
        event["body"] = json!(body.map(Value::to_string).unwrap_or_default());
        let request: LambdaRequest = serde_json::from_value(event).expect("event");
        let mut adapter = lambda_http::Adapter::from(self.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .expect("response");
        let response = serde_json::to_value(&response).expect("json");
        let status = response["statusCode"].as_u64().unwrap_or(0) as u16;
        let text = response["body"].as_str().unwrap_or_default();
        (status, serde_json::from_str(text).unwrap_or(Value::Null))
    }
}

async fn handler_latency() {
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = SqliteStore::open(&dir.join("helpdesk.db")).expect("store");
    let lambda = Lambda {
        router: helpdesk_shared::http::router({
            let store: Arc<dyn helpdesk_shared::ports::store::Store> = Arc::new(store);
            let folder = Arc::new(helpdesk_shared::objects::FolderStore::new(dir.clone()));
            helpdesk_shared::app::api_state(
                &store,
                folder.clone(),
                folder,
                helpdesk_shared::services::replies::SupportAddress::fallback(),
                Arc::new(helpdesk_shared::http::auth::JwtClaimsAuthenticator),
                helpdesk_shared::http::Links::default(),
            )
        }),
        fixture: serde_json::from_str(include_str!("../tests/fixtures/apigw-v2-jwt.json"))
            .expect("fixture"),
    };
    println!(
        "\n## in-process handler latency (API Gateway v2 event → router → SQLite, one client)\n"
    );

    let mut samples = Vec::with_capacity(CREATES);
    for i in 0..CREATES {
        let body = json!({"email": format!("user{i:06}@company{}.com", i % 97), "first_name": "Pat", "last_name": format!("Doe{i}"),
                          "phones": ["+1 555 0100"], "tags": ["bench"]});
        let started = Instant::now();
        let status = lambda.call("POST", "/customers", "", Some(&body)).await;
        samples.push(started.elapsed());
        assert_eq!(status, 201);
    }
    report(&format!("create ({CREATES})"), &mut samples);

    let mut samples = Vec::with_capacity(GETS);
    for i in 0..GETS {
        let path = format!(
            "/customers/USER{:06}@company{}.com",
            (i * 7919) % CREATES,
            ((i * 7919) % CREATES) % 97
        );
        let started = Instant::now();
        let status = lambda.call("GET", &path, "", None).await;
        samples.push(started.elapsed());
        assert_eq!(status, 200);
    }
    report(&format!("get ({GETS})"), &mut samples);

    let mut samples = Vec::with_capacity(LISTS);
    for i in 0..LISTS {
        let query = if i % 2 == 0 {
            "limit=50".to_string()
        } else {
            format!("limit=50&q=user{:03}", i % 500)
        };
        let started = Instant::now();
        let status = lambda.call("GET", "/customers", &query, None).await;
        samples.push(started.elapsed());
        assert_eq!(status, 200);
    }
    report(
        &format!("list, 50 per page, half with q ({LISTS}, {CREATES} customers)"),
        &mut samples,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Customers in the table while reads are measured: enough that a listing page is a small part.
const COST_CUSTOMERS: usize = 2_000;
const COST_READS: usize = 200;
const COST_MESSAGES: usize = 200;
const COST_BLOCKS: usize = 100;

async fn capacity_per_operation() {
    use unit_costs::Units;
    let Some((fake, table)) = metering_proxy::on_new_table("bench-costs").await else {
        println!(
            "\n## DynamoDB capacity per operation: {}",
            metering_proxy::NOT_MEASURED
        );
        return;
    };
    let store: Arc<dyn helpdesk_shared::ports::store::Store> = Arc::new(
        helpdesk_shared::store::dynamodb::DynamoStore::new(fake.client(), table),
    );
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let folder = Arc::new(helpdesk_shared::objects::FolderStore::new(dir.clone()));
    let lambda = Lambda {
        router: helpdesk_shared::http::router(helpdesk_shared::app::api_state(
            &store,
            folder.clone(),
            folder.clone(),
            helpdesk_shared::services::replies::SupportAddress::fallback(),
            Arc::new(helpdesk_shared::http::auth::JwtClaimsAuthenticator),
            helpdesk_shared::http::Links::default(),
        )),
        fixture: serde_json::from_str(include_str!("../tests/fixtures/apigw-v2-jwt.json"))
            .expect("fixture"),
    };
    println!(
        "\n## DynamoDB capacity per operation (dynoxide through the metering proxy, {COST_CUSTOMERS} customers, {} shards)\n",
        helpdesk_shared::store::dynamodb::LIST_SHARDS
    );
    println!("{}", unit_costs::HEADER);
    let before = Units::of(&fake);
    for i in 0..COST_CUSTOMERS {
        let body = json!({"email": format!("user{i:06}@company{}.com", i % 97), "first_name": format!("Pat{i}"), "last_name": format!("Doe{i}"),
                          "phones": ["+1 555 0100"], "tags": ["bench"]});
        assert_eq!(
            lambda.call("POST", "/customers", "", Some(&body)).await,
            201
        );
    }
    println!(
        "{}",
        Units::of(&fake)
            .per(before, COST_CUSTOMERS)
            .row("API create (company-less, no alternate emails)")
    );
    let reads: [(&str, &str, Box<PathAndQuery>); 3] = [
        (
            "API get",
            "GET",
            Box::new(|i| {
                (
                    format!(
                        "/customers/user{:06}@company{}.com",
                        (i * 7919) % COST_CUSTOMERS,
                        ((i * 7919) % COST_CUSTOMERS) % 97
                    ),
                    String::new(),
                )
            }),
        ),
        (
            "API list, first page of 50",
            "GET",
            Box::new(|_| ("/customers".into(), "limit=50".into())),
        ),
        (
            "API name search, page of 50 (`q=pat1`)",
            "GET",
            Box::new(|_| ("/customers".into(), "limit=50&q=pat1".into())),
        ),
    ];
    for (label, method, request) in reads {
        let before = Units::of(&fake);
        for i in 0..COST_READS {
            let (path, query) = request(i);
            assert_eq!(lambda.call(method, &path, &query, None).await, 200);
        }
        println!("{}", Units::of(&fake).per(before, COST_READS).row(label));
    }

    // A change of one field: the record and its history entry, one transaction. Then the
    // history of one of them (the change and the creation rolled back from it).
    let before = Units::of(&fake);
    for i in COST_BLOCKS..2 * COST_BLOCKS {
        let path = format!("/customers/user{i:06}@company{}.com", i % 97);
        let body = json!({"last_name": format!("Changed{i}")});
        let patched = lambda
            .call_with("PATCH", &path, "", &[("if-match", "\"1\"")], Some(&body))
            .await;
        assert_eq!(patched, 200);
    }
    println!(
        "{}",
        Units::of(&fake)
            .per(before, COST_BLOCKS)
            .row("API update one field (with its history entry)")
    );
    let before = Units::of(&fake);
    for i in COST_BLOCKS..2 * COST_BLOCKS {
        let path = format!("/customers/user{i:06}@company{}.com/history", i % 97);
        assert_eq!(lambda.call("GET", &path, "", None).await, 200);
    }
    println!(
        "{}",
        Units::of(&fake)
            .per(before, COST_BLOCKS)
            .row("API history of a customer changed once")
    );

    // Blocking: an admin blocks 100 customers (the record and its marker, one transaction),
    // then agents page through the blocked ones.
    let before = Units::of(&fake);
    for i in 0..COST_BLOCKS {
        let path = format!("/customers/user{i:06}@company{}.com/block", i % 97);
        assert_eq!(lambda.call("POST", &path, "", Some(&json!({}))).await, 200);
    }
    println!(
        "{}",
        Units::of(&fake)
            .per(before, COST_BLOCKS)
            .row("API block a customer")
    );
    let before = Units::of(&fake);
    for _ in 0..COST_READS {
        assert_eq!(
            lambda
                .call("GET", "/customers", "blocked=true&limit=50", None)
                .await,
            200
        );
    }
    println!(
        "{}",
        Units::of(&fake)
            .per(before, COST_READS)
            .row("API list blocked, page of 50")
    );

    // Inbound mail: a new sender (customer, ticket, message), then a reply into that ticket.
    let mail = helpdesk_shared::app::inbound(&store, folder.clone());
    let message = |i: usize, reply: bool| {
        let threading = if reply {
            format!("In-Reply-To: <m{i}@bench.example>\r\n")
        } else {
            String::new()
        };
        let id = if reply {
            format!("r{i}")
        } else {
            format!("m{i}")
        };
        format!(
            "From: Sam {i} <sender{i}@mail.example>\r\nTo: help@helpdesk.example\r\nSubject: Question {i}\r\nMessage-ID: <{id}@bench.example>\r\n{threading}\r\nHello, a question.\r\n"
        )
    };
    for reply in [false, true] {
        let before = Units::of(&fake);
        for i in 0..COST_MESSAGES {
            let envelope = helpdesk_shared::services::inbound::Envelope {
                id: format!("{}-{i}", if reply { "reply" } else { "new" }),
                raw_key: format!("inbound/{reply}-{i}.eml"),
                received_at: helpdesk_shared::domain::clock::now(),
                verdicts: None,
            };
            let record = mail
                .ingest(envelope, message(i, reply).as_bytes())
                .await
                .expect("ingested");
            assert_eq!(record.status.as_str(), "ingested");
        }
        let label = if reply {
            "inbound reply into its ticket"
        } else {
            "inbound message from a new sender"
        };
        println!("{}", Units::of(&fake).per(before, COST_MESSAGES).row(label));
    }

    // Welcome emails: customers created with send_welcome, then sent by the notifier.
    let notifier = helpdesk_shared::services::notifications::Notifier {
        customers: store.clone(),
        mailer: Arc::new(Discard),
        template: helpdesk_shared::services::notifications::WelcomeTemplate::with_sender(
            "help@helpdesk.example".into(),
        ),
        addresses: helpdesk_shared::services::addresses::AddressBook::new(
            store.clone(),
            store.clone(),
        ),
    };
    for i in 0..COST_MESSAGES {
        let body = json!({"email": format!("welcome{i}@company.com"), "first_name": "Wil", "send_welcome": true});
        assert_eq!(
            lambda.call("POST", "/customers", "", Some(&body)).await,
            201
        );
    }
    let before = Units::of(&fake);
    for i in 0..COST_MESSAGES {
        notifier
            .welcome(&helpdesk_shared::domain::email::Email::stored(format!(
                "welcome{i}@company.com"
            )))
            .await
            .expect("welcome");
    }
    println!(
        "{}",
        Units::of(&fake)
            .per(before, COST_MESSAGES)
            .row("welcome email (claim, send, record)")
    );
    println!(
        "\nPrices: on-demand, us-east-1, ${} per million WRU, ${} per million RRU.",
        unit_costs::DOLLARS_PER_MILLION_WRU,
        unit_costs::DOLLARS_PER_MILLION_RRU
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The path and query string of the `i`th request of a kind.
type PathAndQuery = dyn Fn(usize) -> (String, String);

/// A mailer that accepts everything: the welcome email's cost is the store's, not SES's.
struct Discard;

#[async_trait::async_trait]
impl helpdesk_shared::ports::mailer::Mailer for Discard {
    async fn send(
        &self,
        _mail: &helpdesk_shared::ports::mailer::OutgoingMail,
    ) -> Result<helpdesk_shared::ports::mailer::Sent, helpdesk_shared::ports::mailer::MailError>
    {
        Ok(helpdesk_shared::ports::mailer::Sent {
            provider_id: "discarded".into(),
            message_id: "discarded@helpdesk.invalid".into(),
            refused: Vec::new(),
        })
    }
}

fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    println!(
        "- {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}
