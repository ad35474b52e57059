//! `helpdesk serve`, the local program: run as a user would, spoken to over HTTP on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::temp_dir;

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
    assert!(
        server
            .output
            .iter()
            .any(|line| line == "API keys: 2 from HELPDESK_API_KEYS"),
        "{:?}",
        server.output
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

/// Configured keys do not silently retire the data dir's admin key: it keeps working beside
/// them, and the start says so (and how to retire it).
#[test]
fn configured_keys_keep_the_admin_key_working_and_say_so() {
    let data = temp_dir("keys-and-admin");
    let first = Server::start(&data, None);
    let admin = std::fs::read_to_string(data.join("admin.key"))
        .expect("admin key made on the first start")
        .trim()
        .to_string();
    drop(first);
    let agent = "agent-key-0123456789";
    let server = Server::start(&data, Some(&format!("{agent}:agent")));
    let banner = server
        .output
        .iter()
        .find(|line| line.starts_with("API keys:"))
        .expect("a start-up line about the keys");
    assert!(
        banner.contains("1 from HELPDESK_API_KEYS")
            && banner.contains("admin.key")
            && banner.contains("delete that file"),
        "{banner}"
    );
    let (status, _, _) = server.request("GET", "/fields", &admin, &[], None);
    assert_eq!(status, 200, "the admin key still works (and is an admin's)");
    let (status, _, _) = server.request("GET", "/customers", agent, &[], None);
    assert_eq!(status, 200);
    let (status, _, _) = server.request("GET", "/fields", agent, &[], None);
    assert_eq!(status, 403);
    drop(server);

    // Deleting the file retires it.
    std::fs::remove_file(data.join("admin.key")).expect("delete the admin key");
    let server = Server::start(&data, Some(&format!("{agent}:agent")));
    let (status, _, _) = server.request("GET", "/customers", &admin, &[], None);
    assert_eq!(status, 401);
    assert!(!data.join("admin.key").exists(), "not made again");
}

/// Every answer carries a request id (the client's, or a new one), and the request's log line
/// names it once, with the caller once.
#[test]
fn requests_carry_an_id_into_the_answer_and_the_log() {
    let data = temp_dir("request-ids");
    let key = "admin-key-0123456789";
    let server = Server::start(&data, Some(&format!("{key}:admin")));
    let (status, head, _) = server.request(
        "GET",
        "/customers",
        key,
        &[("x-request-id", "tour-42")],
        None,
    );
    assert_eq!(status, 200);
    assert!(head.contains("x-request-id: tour-42"), "{head}");
    let (_, head, _) = server.request("GET", "/customers", key, &[], None);
    let made = head
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .expect("a request id is made when none is sent")
        .to_string();
    assert!(!made.is_empty());
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log_text();
        if log.contains(&made) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in ["tour-42", made.as_str()] {
        let line = log
            .lines()
            .find(|line| line.contains(id) && line.contains("route=/customers"))
            .unwrap_or_else(|| panic!("no log line for {id}: {log}"));
        assert_eq!(line.matches("caller=").count(), 1, "{line}");
        assert_eq!(line.matches("request_id=").count(), 1, "{line}");
        assert!(!line.contains("request_id=\"\""), "{line}");
    }
}

/// `import` and `ingest` refuse the default data dir when it holds no database (run from the
/// wrong folder, they would fill a new one); a data dir they are given is used, new or not.
#[test]
fn one_shot_commands_refuse_an_empty_default_data_dir() {
    let folder = temp_dir("wrong-folder");
    let file = folder.join("customers.csv");
    std::fs::write(&file, "Email,First Name,Last Name\nann@x.io,Ann,Lee\n").expect("csv");
    for args in [vec!["import", "customers.csv"], vec!["ingest", "mail.eml"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
            .args(&args)
            .current_dir(&folder)
            .env_remove("HELPDESK_DATA_DIR")
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no helpdesk data in") && stderr.contains("--data-dir"),
            "{stderr}"
        );
        assert!(!folder.join("data").exists(), "{args:?} made no data dir");
    }
    let named = helpdesk(&["import", file.to_str().unwrap()], &folder.join("named"));
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    assert!(folder.join("named").join("helpdesk.db").exists());
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

fn helpdesk(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("helpdesk runs")
}

#[test]
fn import_command_maps_dry_runs_and_reports() {
    let data = temp_dir("cli-import");
    let file = data.join("export.csv");
    std::fs::write(
        &file,
        "E-mail,Vorname,Nachname,Notiz\nann@acme.com,Ann,Lee,hello\nbad,X,Y,\n",
    )
    .unwrap();
    let mapping = data.join("mapping.json");
    std::fs::write(
        &mapping,
        r#"{"Vorname": "first_name", "Nachname": "last_name", "Notiz": "notes"}"#,
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    let mapping_arg = mapping.to_str().unwrap();

    let dry = helpdesk(
        &[
            "import",
            file_arg,
            "--mapping",
            mapping_arg,
            "--dry-run",
            "--json",
        ],
        &data,
    );
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let job: Value = serde_json::from_slice(&dry.stdout).expect("--json prints the job");
    assert_eq!(job["dry_run"], true);
    assert_eq!(
        job["counts"],
        json!({"rows": 2, "created": 1, "updated": 0, "unchanged": 0, "failed": 1, "duplicates": 0})
    );

    let real = helpdesk(&["import", file_arg, "--mapping", mapping_arg], &data);
    assert!(real.status.success());
    let summary = String::from_utf8_lossy(&real.stdout);
    assert!(
        summary.contains("2 rows: 1 created, 0 updated, 0 unchanged, 1 failed, 0 duplicates"),
        "{summary}"
    );
    let report_line = summary
        .lines()
        .find(|l| l.starts_with("error report: "))
        .expect("report named");
    let report = std::fs::read_to_string(report_line.trim_start_matches("error report: ")).unwrap();
    assert!(
        report.contains("3,bad,email: is not an email address"),
        "{report}"
    );

    // The data is in the store the server uses.
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let (status, _, ann) = server.request("GET", "/customers/ann@acme.com", key.trim(), &[], None);
    assert_eq!(status, 200);
    assert_eq!(ann["notes"], "hello");

    let empty = data.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let failed = helpdesk(&["import", empty.to_str().unwrap()], &data);
    assert!(!failed.status.success(), "a failed import exits non-zero");
    assert!(String::from_utf8_lossy(&failed.stderr).contains("the file is empty"));
    let missing = helpdesk(&["import", "/no/such/file.csv"], &data);
    assert!(!missing.status.success());
}

#[test]
fn serve_imports_dropped_and_uploaded_files() {
    let data = temp_dir("serve-import");
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim();

    // A file dropped into DATA_DIR/imports/ is imported by the watcher.
    std::fs::write(
        data.join("imports-drop.tmp"),
        "Email,First Name,Last Name\ndrop@acme.com,Drop,Ped\n",
    )
    .unwrap();
    std::fs::create_dir_all(data.join("imports")).unwrap();
    std::fs::rename(
        data.join("imports-drop.tmp"),
        data.join("imports/dropped.csv"),
    )
    .unwrap();
    let mut found = false;
    for _ in 0..100 {
        let (status, _, _) = server.request("GET", "/customers/drop@acme.com", key, &[], None);
        if status == 200 {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(found, "the dropped file was imported within 10 s");

    // An import created through the API takes its file through the local upload route.
    let (status, _, created) = server.request(
        "POST",
        "/imports",
        key,
        &[],
        Some(&json!({"required": ["email"]})),
    );
    assert_eq!(status, 201, "{created}");
    let upload_url = created["upload_url"].as_str().unwrap();
    let path = upload_url
        .split_once("//")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .unwrap();
    let mut stream = TcpStream::connect(&server.address).unwrap();
    let body = "Email\nup@acme.com\nup2@acme.com\n";
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.address,
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    let id = created["id"].as_str().unwrap();
    let mut job = Value::Null;
    for _ in 0..100 {
        job = server
            .request("GET", &format!("/imports/{id}"), key, &[], None)
            .2;
        if job["status"] == "succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["counts"]["created"], 2);
    let (status, _, _) = server.request("PUT", &path, key, &[], Some(&json!("again")));
    assert_eq!(status, 409, "a job takes one file");
}

const ANN_FIRST: &str = "From: Ann Lee <ann@acme.test>\r\nTo: help@helpdesk.test\r\nSubject: Printer on fire\r\nMessage-ID: <l1@acme.test>\r\n\r\nHelp!\r\n";
const ANN_REPLY: &str = "From: Ann Lee <ann@acme.test>\r\nTo: help@helpdesk.test\r\nSubject: Re: Printer on fire\r\nMessage-ID: <l2@acme.test>\r\nIn-Reply-To: <l1@acme.test>\r\n\r\nStill burning.\r\n";
const AUTO_REPLY: &str = "From: ooo@acme.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <l3@acme.test>\r\n\r\nAway.\r\n";

#[test]
fn ingest_command_reports_each_message() {
    let data = temp_dir("cli-ingest");
    let mail = temp_dir("cli-ingest-mail");
    let files = [
        ("1-first.eml", ANN_FIRST.as_bytes()),
        ("2-reply.eml", ANN_REPLY.as_bytes()),
        ("3-auto.eml", AUTO_REPLY.as_bytes()),
        ("4-broken.eml", b"\xff\xfe\x00garbage".as_slice()),
    ];
    let mut paths = Vec::new();
    for (name, body) in files {
        std::fs::write(mail.join(name), body).unwrap();
        paths.push(mail.join(name).display().to_string());
    }
    let args: Vec<&str> = std::iter::once("ingest")
        .chain(paths.iter().map(String::as_str))
        .collect();
    let output = helpdesk(&args, &data);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].contains("ingested: customer ann@acme.test (new), ticket "),
        "{stdout}"
    );
    assert!(lines[0].ends_with("(new)"), "{stdout}");
    assert!(lines[1].ends_with("(in_reply_to)"), "{stdout}");
    assert!(
        lines[2].contains("ignored: Auto-Submitted: auto-replied"),
        "{stdout}"
    );
    assert!(lines[3].contains("failed: malformed message"), "{stdout}");
    let ticket = |line: &str| {
        line.split("ticket ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_string()
    };
    assert_eq!(
        ticket(lines[0]),
        ticket(lines[1]),
        "the reply joins the ticket"
    );
    // The raw message is kept in the data dir whatever its outcome.
    assert_eq!(std::fs::read_dir(data.join("inbound")).unwrap().count(), 4);

    // The same file again is recognised: same outcome, nothing stored twice.
    let again = helpdesk(&["ingest", "--json", &paths[1]], &data);
    assert!(again.status.success());
    let record: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(record["status"], "ingested");
    assert_eq!(record["thread_reason"], "in_reply_to");
    assert_eq!(record["ticket_id"], json!(ticket(lines[0])));
    assert_eq!(record["file"], json!(paths[1]));

    let missing = helpdesk(&["ingest", "/no/such/mail.eml"], &data);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/mail.eml"));
}

#[test]
fn serve_ingests_the_inbox_and_serves_attachments() {
    let data = temp_dir("serve-inbox");
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim();
    let with_attachment = "From: Ann Lee <ann@acme.test>\r\nSubject: Logs\r\nMessage-ID: <att@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nLogs attached.\r\n--b\r\nContent-Type: text/plain; name=\"app.log\"\r\nContent-Disposition: attachment; filename=\"app.log\"\r\n\r\nline one\r\nline two\r\n--b--\r\n";
    std::fs::create_dir_all(data.join("inbox")).unwrap();
    std::fs::write(data.join("mail.tmp"), with_attachment).unwrap();
    std::fs::rename(data.join("mail.tmp"), data.join("inbox/1.eml")).unwrap();

    let mut tickets = Value::Null;
    for _ in 0..100 {
        let (status, _, body) =
            server.request("GET", "/customers/ann@acme.test/tickets", key, &[], None);
        if status == 200 && body["items"].as_array().is_some_and(|i| !i.is_empty()) {
            tickets = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = tickets["items"][0]["id"]
        .as_str()
        .expect("the inbox mail made a ticket");
    assert!(
        !data.join("inbox/1.eml").exists(),
        "an ingested file leaves the inbox"
    );
    let (status, _, ticket) = server.request("GET", &format!("/tickets/{id}"), key, &[], None);
    assert_eq!(status, 200);
    let attachment = &ticket["messages"][0]["attachments"][0];
    assert_eq!(attachment["filename"], "app.log");
    let (status, head, download) = server.request(
        "GET",
        &format!(
            "/tickets/{id}/attachments/{}",
            attachment["id"].as_str().unwrap()
        ),
        key,
        &[],
        None,
    );
    assert_eq!(status, 303, "{download}");
    let url = download["url"].as_str().unwrap();
    assert!(
        head.contains(&format!("location: {}", url.to_ascii_lowercase())),
        "{head}"
    );
    // The URL is the credential: no API key needed, and it works while it lasts.
    let (status, bytes) = crate::support::http_get(url);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(bytes).unwrap(), "line one\r\nline two");
    let (status, _) = crate::support::http_get(&format!("{}x", url));
    assert_eq!(status, 404, "an unknown token downloads nothing");

    let (status, _, inbound) = server.request("GET", "/inbound?status=ingested", key, &[], None);
    assert_eq!(status, 200);
    assert_eq!(inbound["items"].as_array().unwrap().len(), 1);
}

#[test]
fn serve_writes_welcome_emails_to_the_outbox() {
    let data = temp_dir("serve-outbox");
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim();
    let (status, _, _) = server.request(
        "POST",
        "/customers",
        key,
        &[],
        Some(&json!({"email": "hal@acme.test", "first_name": "Hal", "send_welcome": true})),
    );
    assert_eq!(status, 201);
    let mut welcome = Value::Null;
    for _ in 0..100 {
        welcome = server
            .request("GET", "/customers/hal@acme.test", key, &[], None)
            .2["welcome"]
            .clone();
        if welcome["status"] == "sent" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(welcome["status"], "sent", "{welcome}");
    let outbox: Vec<_> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let raw = std::fs::read(&outbox[0]).unwrap();
    let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        mail.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("hal@acme.test")
    );
    assert_eq!(mail.subject(), Some("Welcome, Hal"));
    assert_eq!(
        mail.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
}

/// `helpdesk serve` runs a requested erasure in the background (the customer and their notes
/// are gone when `GET /erasures/{id}` says it succeeded), a merge's moves, and a migration.
#[test]
fn serve_runs_erasures_merges_and_migrations() {
    let data = temp_dir("serve-erase");
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim();
    let customer = json!({"email": "eve@acme.test", "first_name": "Evangeline"});
    let (status, _, _) = server.request("POST", "/customers", key, &[], Some(&customer));
    assert_eq!(status, 201);
    let note = json!({"text": "Evangeline called"});
    let path = "/customers/eve@acme.test/notes";
    assert_eq!(server.request("POST", path, key, &[], Some(&note)).0, 201);
    let (status, _, erasure) = server.request(
        "POST",
        "/customers/eve@acme.test/erase",
        key,
        &[],
        Some(&json!({})),
    );
    assert_eq!(status, 202, "{erasure}");
    let id = erasure["id"].as_str().unwrap().to_string();
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = server
            .request("GET", &format!("/erasures/{id}"), key, &[], None)
            .2;
        if shown["status"] == "succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert_eq!(shown["counts"]["customers"], 1);
    let (status, _, _) = server.request("GET", "/customers/eve@acme.test", key, &[], None);
    assert_eq!(status, 404);
    // A merge's moves run in the background too.
    for email in ["kim@acme.test", "kim@home.test"] {
        let (status, _, _) = server.request(
            "POST",
            "/customers",
            key,
            &[],
            Some(&json!({"email": email})),
        );
        assert_eq!(status, 201);
    }
    let note = json!({"text": "from home"});
    assert_eq!(
        server
            .request(
                "POST",
                "/customers/kim@home.test/notes",
                key,
                &[],
                Some(&note)
            )
            .0,
        201
    );
    let merge = json!({"from": ["kim@home.test"]});
    let (status, _, merged) = server.request(
        "POST",
        "/customers/kim@acme.test/merge",
        key,
        &[],
        Some(&merge),
    );
    assert_eq!(status, 202, "{merged}");
    let merge_id = merged["merge_id"].as_str().unwrap().to_string();
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = server
            .request("GET", &format!("/merges/{merge_id}"), key, &[], None)
            .2;
        if shown["status"] == "succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert_eq!(shown["moved"]["notes"], 1);
    // And a migration started through the API: the file migrated itself when it opened.
    let path = "/migrations/layout-2026-12";
    let (status, _, started) = server.request("POST", path, key, &[], Some(&json!({})));
    assert_eq!(status, 202, "{started}");
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = server.request("GET", path, key, &[], None).2;
        if shown["status"] == "succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert_eq!(shown["counts"]["rewritten"], 0);
    for file in ["helpdesk.db", "helpdesk.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("Evangeline"), "{file} still holds her name");
    }
}

/// Exports too large to answer inline expire from `DATA_DIR/exports/` after a day, as the
/// cloud's bucket rule has them do.
#[test]
fn serve_deletes_old_exports() {
    let data = temp_dir("serve-exports");
    let exports = data.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    for name in ["old.json", "new.json"] {
        std::fs::write(exports.join(name), b"{}").unwrap();
    }
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(exports.join("old.json"))
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let _server = Server::start(&data, None);
    for _ in 0..100 {
        if !exports.join("old.json").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !exports.join("old.json").exists(),
        "the old export is deleted"
    );
    assert!(exports.join("new.json").exists(), "a recent export stays");
}

/// A data directory written by the first local schema (tests/fixtures/sqlite-v0: four imported
/// customers with pending welcomes, one with an alternate email, two in a company, and one
/// who wrote in) opens with the current code: every record is found and listed as before, and
/// the welcomes still due are sent.
#[test]
fn serve_migrates_a_data_dir_from_the_first_schema() {
    let data = temp_dir("serve-migrate");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlite-v0");
    std::fs::copy(fixture.join("helpdesk.db"), data.join("helpdesk.db")).unwrap();
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim();
    let emails = |path: &str| -> Vec<String> {
        let (status, _, body) = server.request("GET", path, key, &[], None);
        assert_eq!(status, 200, "{path}: {body}");
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        emails("/customers?limit=50"),
        [
            "ann@acme.test",
            "bob@acme.test",
            "cid@solo.test",
            "dee@solo.test",
            "eve@mail.test"
        ]
    );
    // "an": Cid under his last name ("anders…" sorts first), Ann under her email.
    assert_eq!(
        emails("/customers?q=an"),
        ["cid@solo.test", "ann@acme.test"]
    );
    let (status, _, ann) = server.request("GET", "/customers/ann.archer@home.test", key, &[], None);
    assert_eq!(status, 200, "{ann}");
    assert_eq!(ann["email"], "ann@acme.test");
    let company = ann["company_id"].as_str().unwrap().to_string();
    assert_eq!(
        emails(&format!("/customers?company_id={company}")),
        ["ann@acme.test", "bob@acme.test"]
    );
    let (status, _, tickets) =
        server.request("GET", "/customers/eve@mail.test/tickets", key, &[], None);
    assert_eq!(status, 200, "{tickets}");
    assert_eq!(tickets["items"][0]["subject"], "Printer on fire");
    // The four pending welcomes go out once the server runs.
    let mut sent = 0;
    for _ in 0..100 {
        sent = std::fs::read_dir(data.join("outbox"))
            .map(|entries| entries.count())
            .unwrap_or(0);
        if sent == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sent, 4);
    // Claims still hold: the alternate email cannot be taken by a new customer.
    let (status, _, body) = server.request(
        "POST",
        "/customers",
        key,
        &[],
        Some(&json!({"email": "ann.archer@home.test"})),
    );
    assert_eq!(status, 409, "{body}");
    // And the file says it is at the new version (opening it again changes nothing).
    drop(server);
    let server = Server::start(&data, None);
    assert_eq!(
        server.request("GET", "/customers?q=an", key, &[], None).2["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
