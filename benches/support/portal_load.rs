//! The portal under load: page and API latency with 32 clients on `helpdesk serve`, and the
//! DynamoDB capacity of a ticket list and a ticket page through the metering proxy in front of dynoxide.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Concurrent clients.
const CLIENTS: usize = 32;
/// Requests of each kind every client makes.
const ROUNDS: usize = 50;
/// Tickets the signed-in customer's company has.
const TICKETS: usize = 60;
const KEY: &str = "portal-bench-key-0123456789";

/// One HTTP/1.1 request on a fresh connection; answers status and body.
fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

struct Serve {
    child: Child,
    address: String,
    data: PathBuf,
}

impl Serve {
    fn start() -> Serve {
        let data =
            std::env::temp_dir().join(format!("helpdesk-bench-portal-{}", std::process::id()));
        let (child, address) = super::spawn_serve(&data, &format!("{KEY}:admin"));
        Serve {
            child,
            address,
            data,
        }
    }

    fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let auth = format!("Bearer {KEY}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let (status, text) = request(&self.address, method, path, &headers, &body.to_string());
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Signs `email` in with the code the watcher writes to the outbox; answers the token.
    fn sign_in(&self, email: &str) -> String {
        let body = json!({"email": email}).to_string();
        let (status, _) = request(
            &self.address,
            "POST",
            "/portal/sign-in",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, 202);
        let code = (0..200)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(100));
                code_in(&self.data.join("outbox"), email)
            })
            .expect("a code in the outbox");
        let body = json!({"email": email, "code": code, "return_token": true}).to_string();
        let (status, text) = request(
            &self.address,
            "POST",
            "/portal/sessions",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, 201, "{text}");
        let opened: Value = serde_json::from_str(&text).expect("json");
        opened["token"].as_str().expect("token").to_string()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn code_in(outbox: &Path, email: &str) -> Option<String> {
    for entry in std::fs::read_dir(outbox).ok()?.flatten() {
        let text = std::fs::read_to_string(entry.path()).ok()?;
        if text.contains(email) && text.contains("code is ") {
            let digits: String = text
                .split("code is ")
                .nth(1)?
                .chars()
                .take(9)
                .filter(char::is_ascii_digit)
                .collect();
            return Some(digits);
        }
    }
    None
}

/// p50 and p99 of the portal's page (`GET /portal`, the ticket list) and API
/// (`GET /portal/tickets`) with 32 clients at once on `helpdesk serve` (release).
pub fn latency() {
    let serve = Serve::start();
    let company = serve.api("POST", "/companies", json!({"name": "North"}));
    serve.api(
        "POST",
        "/customers",
        json!({"email": "ann@north.test", "company_id": company["id"], "portal_access": "company"}),
    );
    let token = serve.sign_in("ann@north.test");
    let bearer = format!("Bearer {token}");
    for i in 0..TICKETS {
        let body =
            json!({"subject": format!("Question {i}"), "text": "How do I reset my password?"})
                .to_string();
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ];
        let (status, text) = request(&serve.address, "POST", "/portal/tickets", &headers, &body);
        assert_eq!(status, 201, "{text}");
    }
    let cookie = format!("hd_portal={token}");
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (address, cookie, bearer) = (serve.address.clone(), cookie.clone(), bearer.clone());
            std::thread::spawn(move || {
                let agent = format!("Bearer {KEY}");
                let mut pages = Vec::with_capacity(ROUNDS);
                let mut calls = Vec::with_capacity(ROUNDS);
                let mut baseline = Vec::with_capacity(ROUNDS);
                for _ in 0..ROUNDS {
                    let at = Instant::now();
                    let (status, _) =
                        request(&address, "GET", "/portal", &[("Cookie", &cookie)], "");
                    assert_eq!(status, 200);
                    pages.push(at.elapsed());
                    let at = Instant::now();
                    let (status, _) = request(
                        &address,
                        "GET",
                        "/portal/tickets?limit=25",
                        &[("Authorization", &bearer)],
                        "",
                    );
                    assert_eq!(status, 200);
                    calls.push(at.elapsed());
                    let at = Instant::now();
                    let (status, _) = request(
                        &address,
                        "GET",
                        "/customers/ann@north.test/tickets?limit=25",
                        &[("Authorization", &agent)],
                        "",
                    );
                    assert_eq!(status, 200);
                    baseline.push(at.elapsed());
                }
                (pages, calls, baseline)
            })
        })
        .collect();
    let (mut pages, mut calls, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for worker in workers {
        let (p, c, b) = worker.join().expect("client");
        pages.extend(p);
        calls.extend(c);
        baseline.extend(b);
    }
    let took = started.elapsed();
    println!(
        "\n## The customer portal on helpdesk serve ({CLIENTS} clients at once, {} requests of each kind, a list of 25 of {TICKETS} tickets, {:.0} requests/s)\n",
        CLIENTS * ROUNDS,
        (3 * CLIENTS * ROUNDS) as f64 / took.as_secs_f64()
    );
    super::report(
        "page `GET /portal` (server-rendered ticket list)",
        &mut pages,
    );
    super::report("API `GET /portal/tickets?limit=25`", &mut calls);
    super::report(
        "baseline: agent `GET /customers/{email}/tickets?limit=25`",
        &mut baseline,
    );
}

/// DynamoDB capacity of the portal's ticket list and ticket page (dynoxide through the metering proxy): a customer
/// with `TICKETS` tickets of three messages each.
pub async fn capacity() {
    use super::unit_costs::Units;
    use helpdesk_shared::domain::portal::PortalSession;
    let Some((fake, table)) = super::metering_proxy::on_new_table("bench-portal").await else {
        println!("\nportal capacity: {}", super::metering_proxy::NOT_MEASURED);
        return;
    };
    let store: Arc<dyn helpdesk_shared::ports::store::Store> = Arc::new(
        helpdesk_shared::store::dynamodb::DynamoStore::new(fake.client(), table),
    );
    let dir =
        std::env::temp_dir().join(format!("helpdesk-bench-portal-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let folder = Arc::new(helpdesk_shared::objects::FolderStore::new(dir.clone()));
    let state = helpdesk_shared::app::api_state(
        &store,
        folder.clone(),
        folder,
        helpdesk_shared::services::replies::SupportAddress::fallback(),
        Arc::new(helpdesk_shared::http::auth::JwtClaimsAuthenticator),
        helpdesk_shared::http::Links::default(),
    );
    let lambda = super::Lambda {
        router: helpdesk_shared::http::router(state),
        fixture: serde_json::from_str(include_str!("../../tests/fixtures/apigw-v2-jwt.json"))
            .expect("fixture"),
    };
    assert_eq!(
        lambda
            .call(
                "POST",
                "/customers",
                "",
                Some(&json!({"email": "ann@north.test"}))
            )
            .await,
        201
    );
    let customer = store
        .find_customer(&helpdesk_shared::domain::email::Email::stored(
            "ann@north.test",
        ))
        .await
        .expect("store")
        .expect("ann");
    // A session written straight into the store: its token is this one.
    let token = "hdp_portal-bench-token";
    let hash = helpdesk_shared::domain::portal::token_hash(token);
    let now = helpdesk_shared::now();
    store
        .put_session(&PortalSession {
            token_hash: hash,
            customer_id: customer.id.clone(),
            email: customer.email().to_string(),
            epoch: 0,
            created_at: now.clone(),
            expires_at: now.plus_days(1),
        })
        .await
        .expect("session");
    let bearer = format!("Bearer {token}");
    let mut first = String::new();
    for i in 0..TICKETS {
        let body = json!({"subject": format!("Question {i}"), "text": "How do I reset it?"});
        let status = lambda
            .call_with_anonymous(
                "POST",
                "/portal/tickets",
                &[("authorization", &bearer)],
                Some(&body),
            )
            .await;
        assert_eq!(status.0, 201);
        if first.is_empty() {
            first = status.1["id"].as_str().unwrap_or_default().to_string();
        }
        for _ in 0..2 {
            let path = format!(
                "/portal/tickets/{}/messages",
                status.1["id"].as_str().unwrap_or_default()
            );
            let answered = lambda
                .call_with_anonymous(
                    "POST",
                    &path,
                    &[("authorization", &bearer)],
                    Some(&json!({"text": "More detail"})),
                )
                .await;
            assert_eq!(answered.0, 201);
        }
    }
    println!(
        "\n## DynamoDB capacity of the customer portal (dynoxide through the metering proxy, a customer with {TICKETS} tickets of 3 messages)\n"
    );
    println!("{}", super::unit_costs::HEADER);
    let ticket = format!("/portal/tickets/{first}");
    let agent_ticket = format!("/tickets/{first}");
    for (label, path) in [
        (
            "portal ticket list, a page of 25",
            "/portal/tickets?limit=25",
        ),
        (
            "portal ticket page (the ticket and its 3 messages)",
            ticket.as_str(),
        ),
        (
            "baseline: agent list of the customer's tickets, 25",
            "/customers/ann@north.test/tickets?limit=25",
        ),
        ("baseline: agent ticket page", agent_ticket.as_str()),
    ] {
        let before = Units::of(&fake);
        for _ in 0..100 {
            let answered = if path.starts_with("/portal") {
                lambda
                    .call_with_anonymous("GET", path, &[("authorization", &bearer)], None)
                    .await
            } else {
                let (path, query) = path.split_once('?').unwrap_or((path, ""));
                (lambda.call("GET", path, query, None).await, Value::Null)
            };
            assert_eq!(answered.0, 200, "{}", answered.1);
        }
        println!("{}", Units::of(&fake).per(before, 100).row(label));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
