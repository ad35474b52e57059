//! `helpdesk serve`, the local program: run as a user would, spoken to over HTTP on loopback.

use crate::support::temp_dir;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Server {
    child: Child,
    pub(crate) address: String,
    pub(crate) output: Vec<String>,
    /// Where the server's log (stderr) goes.
    pub(crate) log: std::path::PathBuf,
}

impl Server {
    /// Starts `helpdesk serve` on a free loopback port and waits until it says where it listens.
    pub(crate) fn start(data_dir: &Path, api_keys: Option<&str>) -> Server {
        Server::start_with(data_dir, api_keys, &[], None)
    }

    /// As [`Server::start`], with extra `serve` arguments, and optionally under `umask`.
    pub(crate) fn start_with(
        data_dir: &Path,
        api_keys: Option<&str>,
        args: &[&str],
        umask: Option<&str>,
    ) -> Server {
        Server::spawn(data_dir, api_keys, args, umask, &[])
    }

    /// As [`Server::start`], with extra environment variables.
    pub(crate) fn start_with_env(
        data_dir: &Path,
        api_keys: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        Server::spawn(data_dir, api_keys, &[], None, env)
    }

    fn spawn(
        data_dir: &Path,
        api_keys: Option<&str>,
        args: &[&str],
        umask: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let log = temp_dir("serve-log").join("stderr.log");
        let mut command = match umask {
            // The shell sets the mask, then becomes the server.
            Some(mask) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("umask {mask}; exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_helpdesk"));
                shell
            }
            None => Command::new(env!("CARGO_BIN_EXE_helpdesk")),
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("HELPDESK_API_KEYS")
            .env_remove("HELPDESK_PUBLIC_URL")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(keys) = api_keys {
            command.env("HELPDESK_API_KEYS", keys);
        }
        command.envs(env.iter().copied());
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
                    log,
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("helpdesk serve did not report its address: {output:?}");
    }

    /// The server's log so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn request(
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
    pub(crate) fn crash(mut self) {
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

fn helpdesk(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("helpdesk runs")
}

const ANN_FIRST: &str = "From: Ann Lee <ann@acme.test>\r\nTo: help@helpdesk.test\r\nSubject: Printer on fire\r\nMessage-ID: <l1@acme.test>\r\n\r\nHelp!\r\n";

const ANN_REPLY: &str = "From: Ann Lee <ann@acme.test>\r\nTo: help@helpdesk.test\r\nSubject: Re: Printer on fire\r\nMessage-ID: <l2@acme.test>\r\nIn-Reply-To: <l1@acme.test>\r\n\r\nStill burning.\r\n";

const AUTO_REPLY: &str = "From: ooo@acme.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <l3@acme.test>\r\n\r\nAway.\r\n";

mod commands;
mod export;
mod folders;
mod keys;
mod mail;
mod webhooks;
