//! Security hardening: each test reproduces one way in that probing found, through a public
//! interface, and checks that it is closed.

use crate::support::{As, LambdaApi};
use serde_json::{Value, json};

/// Three fields: `secret` (admin-only and required), `tier` (agents see it, only admins edit
/// it) and `plan` (everyone edits it).
async fn fields_with_permissions(api: &LambdaApi) {
    for field in [
        json!({"key": "secret", "label": "Secret", "type": "number", "required": true,
               "view_roles": ["admin"], "edit_roles": ["admin"]}),
        json!({"key": "tier", "label": "Tier", "type": "text", "edit_roles": ["admin"]}),
        json!({"key": "plan", "label": "Plan", "type": "text"}),
    ] {
        let reply = api.post(As::Admin, "/fields", field).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

#[track_caller]
fn never_mentions(body: &Value, hidden: &str) {
    assert!(
        !body.to_string().contains(hidden),
        "the reply names the hidden field {hidden}: {body}"
    );
}

// ---------------------------------------------------------------------------------------------
// `helpdesk serve`: uploads, links, logs, slow clients and the data directory.

use crate::local::Server;
use crate::support::temp_dir;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const AGENT_ONE: &str = "agent-one-key-0123456789";

const AGENT_TWO: &str = "agent-two-key-0123456789";

const ADMIN: &str = "admin-key-0123456789abcdef";

fn keys() -> String {
    format!("{AGENT_ONE}:agent,{AGENT_TWO}:agent,{ADMIN}:admin")
}

/// Sends `request` as written (headers included) and answers status, lower-cased head, body.
fn raw(address: &str, request: &str) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = serde_json::from_str(body).unwrap_or(json!(body));
    (status, head.to_ascii_lowercase(), body)
}

/// A request with a Host header of the client's choosing.
fn with_host(method: &str, path: &str, host: &str, key: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

mod erasure;
mod fields;
mod marks;
mod merges;
mod server;
