//! Webhooks of `helpdesk serve`: a receiver in the test checks each delivery's signature; a
//! failed delivery is retried, replays deliver again, a `kill -9` mid-delivery loses nothing,
//! and an endpoint failing for too long is turned off.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use helpdesk_shared::domain::timestamp::Timestamp;

use super::Server;
use crate::support::temp_dir;

const ADMIN: &str = "admin-key-0123456789";

/// One request the receiver got: its headers (lower-cased names) and body.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// An HTTP endpoint on loopback answering every POST with `status`, after `delay_ms`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (g, s, d) = (got.clone(), status.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (g, s, d) = (g.clone(), s.clone(), d.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("stream"));
                    let mut headers = Vec::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.trim_end().split_once(':') {
                            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
                        }
                        line.clear();
                    }
                    let length: usize = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body = String::from_utf8_lossy(&body).to_string();
                    g.lock().unwrap().push(Received { headers, body });
                    std::thread::sleep(Duration::from_millis(d.load(Ordering::SeqCst)));
                    let status = s.load(Ordering::SeqCst);
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                });
            }
        });
        Receiver {
            url,
            got,
            status,
            delay_ms,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received (at most `within`).
    fn wait_for(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = Instant::now();
        while started.elapsed() < within {
            let got = self.received();
            if done(&got) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the receiver did not get what was awaited: {:#?}",
            self.received()
        );
    }
}

/// Checks `X-Helpdesk-Signature: t=<unix>,v1=<hex>` as the docs tell receivers to.
fn verify(secret: &str, received: &Received) {
    let header = received.header("x-helpdesk-signature").expect("signed");
    let (t, v1) = header.split_once(",v1=").expect("t=…,v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(v1, expected, "signature of {}", received.body);
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - t.parse::<i64>().unwrap();
    assert!((0..120).contains(&age), "a fresh timestamp: {age} s");
}

fn deliveries_of<'a>(got: &'a [Received], email: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.json()["entity"]["email"] == email)
        .collect()
}

#[test]
fn webhooks_are_signed_retried_replayed_and_survive_kill_9() {
    let data = temp_dir("webhooks");
    let keys = format!("{ADMIN}:admin");
    let receiver = Receiver::start();

    // Without --allow-private-webhooks a loopback endpoint is refused, naming the field.
    let server = Server::start(&data, Some(&keys));
    let body = json!({"url": receiver.url, "types": ["customer"]});
    let (status, _, problem) = server.request("POST", "/webhooks", ADMIN, &[], Some(&body));
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    drop(server);

    let server = Server::start_with(&data, Some(&keys), &["--allow-private-webhooks"], None);
    let (status, _, hook) = server.request("POST", "/webhooks", ADMIN, &[], Some(&body));
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    let path = format!("/webhooks/{}", hook["id"].as_str().unwrap());
    let (_, _, shown) = server.request("GET", &path, ADMIN, &[], None);
    assert!(shown.get("secret").is_none(), "never shown again: {shown}");

    // The first delivery fails (500) and is retried within a minute.
    receiver.status.store(500, Ordering::SeqCst);
    let customer = json!({"email": "ann@acme.test", "first_name": "Ann"});
    let (status, _, _) = server.request("POST", "/customers", ADMIN, &[], Some(&customer));
    assert_eq!(status, 201);
    receiver.wait_for(Duration::from_secs(10), |got| !got.is_empty());
    receiver.status.store(200, Ordering::SeqCst);
    let got = receiver.wait_for(Duration::from_secs(60), |got| got.len() >= 2);
    let (first, retry) = (&got[0], &got[1]);
    for delivery in [first, retry] {
        verify(&secret, delivery);
        assert_eq!(delivery.json()["type"], "customer.created");
        assert_eq!(delivery.json()["data"]["first_name"], "Ann");
        assert_eq!(
            delivery.header("x-helpdesk-event-id"),
            delivery.json()["id"].as_str()
        );
    }
    assert_eq!(
        first.json()["id"],
        retry.json()["id"],
        "the same event, again"
    );
    let (_, _, shown) = server.request("GET", &path, ADMIN, &[], None);
    let recent = shown["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2, "{shown}");
    assert_eq!(recent[0]["ok"], true, "{shown}");
    assert_eq!(recent[1]["status"], 500, "{shown}");
    assert_eq!(shown["failures_in_row"], 0);
    assert_eq!(shown["delivered"], 1);

    // Only the types asked for: a company makes no delivery.
    let company = json!({"name": "Acme"});
    let (status, _, _) = server.request("POST", "/companies", ADMIN, &[], Some(&company));
    assert_eq!(status, 201);

    // Replay from a cursor delivers again what came after it.
    let (_, _, now) = server.request("GET", "/changes?cursor=now", ADMIN, &[], None);
    let cursor = now["next_cursor"].as_str().unwrap().to_string();
    let bob = json!({"email": "bob@acme.test"});
    server.request("POST", "/customers", ADMIN, &[], Some(&bob));
    receiver.wait_for(Duration::from_secs(10), |got| {
        deliveries_of(got, "bob@acme.test").len() == 1
    });
    let replay = json!({"cursor": cursor});
    let (status, _, queued) =
        server.request("POST", &format!("{path}/replay"), ADMIN, &[], Some(&replay));
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["queued"], 1, "{queued}");
    let got = receiver.wait_for(Duration::from_secs(10), |got| {
        deliveries_of(got, "bob@acme.test").len() == 2
    });
    let bobs = deliveries_of(&got, "bob@acme.test");
    assert_eq!(bobs[0].json()["id"], bobs[1].json()["id"]);
    assert!(
        got.iter()
            .all(|r| r.json()["type"].as_str().unwrap().starts_with("customer.")),
        "only customer events"
    );

    // kill -9 while an endpoint holds a delivery: after the restart it comes again.
    receiver.delay_ms.store(3000, Ordering::SeqCst);
    let cy = json!({"email": "cy@acme.test"});
    server.request("POST", "/customers", ADMIN, &[], Some(&cy));
    receiver.wait_for(Duration::from_secs(10), |got| {
        deliveries_of(got, "cy@acme.test").len() == 1
    });
    server.crash();
    receiver.delay_ms.store(0, Ordering::SeqCst);
    let server = Server::start_with(&data, Some(&keys), &["--allow-private-webhooks"], None);
    let got = receiver.wait_for(Duration::from_secs(15), |got| {
        deliveries_of(got, "cy@acme.test").len() >= 2
    });
    let cys = deliveries_of(&got, "cy@acme.test");
    assert_eq!(cys[0].json()["id"], cys[1].json()["id"]);
    verify(&secret, cys[1]);

    let (status, _, _) = server.request("DELETE", &path, ADMIN, &[], None);
    assert_eq!(status, 204);
    let (status, _, _) = server.request("GET", &path, ADMIN, &[], None);
    assert_eq!(status, 404);
}

/// Makes the endpoint's record in the stopped server's data file look as if it had been
/// failing for a while (`failures` in a row since `since`), with its waiting deliveries due now:
/// the next failure is then the one the rule counts.
fn age_failures(data: &std::path::Path, failures: u32, since: &str) {
    let db = rusqlite::Connection::open(data.join("helpdesk.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE webhooks SET doc = json_set(doc, '$.failures_in_row', ?1, '$.failing_since', ?2)",
            rusqlite::params![failures, since],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let due = db
        .execute(
            "UPDATE webhook_outbox SET next_at = '2000-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
    assert!(due >= 1, "a delivery waits");
}

/// Fails the endpoint's delivery until the server shows `failures` in a row; answers the
/// endpoint as `GET /webhooks/{id}` shows it.
fn fails_until(server: &Server, path: &str, failures: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, shown) = server.request("GET", path, ADMIN, &[], None);
        if shown["failures_in_row"].as_u64() >= Some(failures) || Instant::now() > deadline {
            return shown;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_endpoint_failing_too_long_is_turned_off_and_a_replay_turns_it_on() {
    let data = temp_dir("webhooks-off");
    let keys = format!("{ADMIN}:admin");
    let receiver = Receiver::start();
    receiver.status.store(500, Ordering::SeqCst);
    let private = ["--allow-private-webhooks"];
    let server = Server::start_with(&data, Some(&keys), &private, None);
    let body = json!({"url": receiver.url, "types": ["customer.created"]});
    let (status, _, hook) = server.request("POST", "/webhooks", ADMIN, &[], Some(&body));
    assert_eq!(status, 201, "{hook}");
    let path = format!("/webhooks/{}", hook["id"].as_str().unwrap());
    let (_, _, now) = server.request("GET", "/changes?cursor=now", ADMIN, &[], None);
    let cursor = now["next_cursor"].as_str().unwrap().to_string();
    let ann = json!({"email": "ann@acme.test"});
    server.request("POST", "/customers", ADMIN, &[], Some(&ann));
    assert_eq!(fails_until(&server, &path, 1)["state"], "active");

    // 999 failures in a row so far: the 1,000th turns the endpoint off.
    drop(server);
    age_failures(&data, 999, Timestamp::now().as_ref());
    let server = Server::start_with(&data, Some(&keys), &private, None);
    let off = fails_until(&server, &path, 1_000);
    assert_eq!(off["state"], "disabled", "{off}");
    let reason = off["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("1000 failed deliveries in a row"), "{off}");
    assert!(reason.contains("HTTP 500"), "{off}");
    // Turned off, it is sent nothing more.
    let sent = receiver.received().len();
    let bob = json!({"email": "bob@acme.test"});
    server.request("POST", "/customers", ADMIN, &[], Some(&bob));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        receiver.received().len(),
        sent,
        "nothing sent to an endpoint turned off"
    );

    // A replay turns it on again, from zero; failing for five days turns it off as well.
    let replay = json!({"cursor": cursor});
    let (status, _, queued) =
        server.request("POST", &format!("{path}/replay"), ADMIN, &[], Some(&replay));
    assert_eq!(status, 202, "{queued}");
    let (_, _, on) = server.request("GET", &path, ADMIN, &[], None);
    assert_eq!(on["state"], "active", "{on}");
    assert_eq!(fails_until(&server, &path, 1)["state"], "active");
    drop(server);
    let since = Timestamp::now().plus_days(-5);
    age_failures(&data, 1, since.as_ref());
    let server = Server::start_with(&data, Some(&keys), &private, None);
    let off = fails_until(&server, &path, 2);
    assert_eq!(off["state"], "disabled", "{off}");
    let reason = off["disabled_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("2 failed deliveries in a row since {since}")),
        "{off}"
    );
}
