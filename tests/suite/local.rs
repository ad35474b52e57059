//! `helpdesk serve`, the local program: run as a user would, spoken to over HTTP on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::temp_dir;

struct Server {
    child: Child,
    address: String,
    output: Vec<String>,
}

impl Server {
    /// Starts `helpdesk serve` on a free loopback port and waits until it says where it listens.
    fn start(data_dir: &Path, api_keys: Option<&str>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_helpdesk"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("HELPDESK_API_KEYS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(keys) = api_keys {
            command.env("HELPDESK_API_KEYS", keys);
        }
        let mut child = command.spawn().expect("helpdesk binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut output = Vec::new();
        for line in BufReader::new(stdout).lines().take(20) {
            let line = line.expect("utf-8 output");
            let found = line.split("listening on http://").nth(1).map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
            output.push(line);
            if let Some(address) = found {
                return Server {
                    child,
                    address,
                    output,
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("helpdesk serve did not report its address: {output:?}");
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        key: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, String, Value) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, payload) = response.split_once("\r\n\r\n").expect("HTTP response");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let value = if payload.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(payload).unwrap_or(json!(payload))
        };
        (status, head.to_ascii_lowercase(), value)
    }

    /// Simulates a crash: SIGKILL, no chance to flush anything.
    fn crash(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_creates_an_admin_key_and_keeps_data_across_a_crash() {
    let data = temp_dir("serve");
    let server = Server::start(&data, None);
    let key =
        std::fs::read_to_string(data.join("admin.key")).expect("admin key kept in the data dir");
    let key = key.trim().to_string();
    assert_eq!(key.len(), 64);
    assert!(
        server.output.iter().any(|line| line.contains(&key)),
        "the new key is printed: {:?}",
        server.output
    );

    let (status, _, company) = server.request(
        "POST",
        "/companies",
        &key,
        &[],
        Some(&json!({"name": "Acme", "domains": ["acme.com"]})),
    );
    assert_eq!(status, 201, "{company}");
    let (status, head, customer) = server.request(
        "POST",
        "/customers",
        &key,
        &[],
        Some(&json!({"email": "Ann@Acme.com", "alternate_emails": ["ann@home.org"]})),
    );
    assert_eq!(status, 201, "{customer}");
    assert!(head.contains("etag: \"1\""));
    assert_eq!(customer["company_id"], company["id"]);
    let (status, _, _) = server.request(
        "GET",
        "/customers/ann@acme.com",
        "wrong-key-wrong-key",
        &[],
        None,
    );
    assert_eq!(status, 401);
    server.crash();

    // Restarted on the same data: same key (not printed again), same customer.
    let server = Server::start(&data, None);
    assert!(
        !server.output.iter().any(|line| line.contains(&key)),
        "an existing key is not printed again"
    );
    let (status, _, found) = server.request("GET", "/customers/ANN@home.org", &key, &[], None);
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["id"], customer["id"]);
    let (status, _, updated) = server.request(
        "PATCH",
        "/customers/ann@acme.com",
        &key,
        &[("If-Match", "\"1\"")],
        Some(&json!({"first_name": "Ann"})),
    );
    assert_eq!(status, 200, "{updated}");
    let (status, _, _) = server.request("DELETE", "/customers/ann@acme.com", &key, &[], None);
    assert_eq!(status, 204);
}

#[test]
fn serve_with_configured_keys_applies_their_roles() {
    let data = temp_dir("keys");
    let agent = "agent-key-0123456789";
    let manager = "manager-key-0123456789";
    let server = Server::start(
        &data,
        Some(&format!("{agent}:agent,{manager}:agent+manage_companies")),
    );
    assert!(
        !data.join("admin.key").exists(),
        "no admin key is made when keys are configured"
    );
    let (status, head, problem) = server.request(
        "POST",
        "/companies",
        agent,
        &[],
        Some(&json!({"name": "Acme"})),
    );
    assert_eq!(status, 403);
    assert!(head.contains("content-type: application/problem+json"));
    assert_eq!(problem["status"], 403);
    let (status, _, _) = server.request(
        "POST",
        "/companies",
        manager,
        &[],
        Some(&json!({"name": "Acme"})),
    );
    assert_eq!(status, 201);
    let (status, _, _) = server.request("GET", "/fields", manager, &[], None);
    assert_eq!(status, 403, "field definitions are for admins");
}

#[test]
fn serve_refuses_a_malformed_key_list() {
    let data = temp_dir("badkeys");
    let output = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("HELPDESK_API_KEYS", "short:admin")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("HELPDESK_API_KEYS"));
}
