//! `helpdesk serve` for the benchmarks: started over a data dir, spoken to over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `helpdesk serve`, stopped when dropped.
pub struct Served {
    child: Child,
    pub address: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `helpdesk serve` over `data`, and when it said it listens.
pub fn serve(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (Served, Instant) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("helpdesk serve");
    let stdout = child.stdout.take().expect("stdout");
    for line in BufReader::new(stdout).lines().take(20) {
        let line = line.expect("output");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let address = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            return (Served { child, address }, Instant::now());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("helpdesk serve did not start");
}

pub fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        assert!(Instant::now() < deadline, "not done within 10 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[allow(dead_code, reason = "not every benchmark reads")]
pub fn get(address: &str, path: &str, key: &str) -> serde_json::Value {
    request(address, "GET", path, key, None)
}

/// One request with a JSON body; the answer's JSON (`Null` when there is none).
#[allow(dead_code, reason = "not every benchmark writes")]
pub fn post(address: &str, path: &str, key: &str, body: &serde_json::Value) -> serde_json::Value {
    request(address, "POST", path, key, Some(body))
}

fn request(
    address: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&serde_json::Value>,
) -> serde_json::Value {
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return serde_json::Value::Null;
    };
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).unwrap_or_default()
}
