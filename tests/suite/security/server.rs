//! helpdesk serve as an attacker meets it: uploads, logs, links, slow clients, file modes, huge inputs.

use super::*;

#[test]
fn only_the_creator_or_an_admin_uploads_an_imports_file() {
    let data = temp_dir("upload-owner");
    let server = Server::start(&data, Some(&keys()));
    let (status, _, job) = server.request(
        "POST",
        "/imports",
        AGENT_ONE,
        &[],
        Some(&json!({"required": ["email"]})),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap();
    let upload = |key: &str, path: &str| {
        raw(
            &server.address,
            &format!(
                "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: text/csv\r\nContent-Length: 16\r\nConnection: close\r\n\r\nEmail\nup@x.test\n"
            ),
        )
    };
    // Another agent gets exactly what an unknown id gets.
    let (status, _, refused) = upload(AGENT_TWO, &format!("/imports/{id}/file"));
    let unknown_id = "00000000-0000-0000-0000-000000000000";
    let (unknown_status, _, unknown) = upload(AGENT_TWO, &format!("/imports/{unknown_id}/file"));
    assert_eq!((status, unknown_status), (404, 404), "{refused}");
    assert_eq!(
        refused["detail"].as_str().unwrap().replace(id, "ID"),
        unknown["detail"]
            .as_str()
            .unwrap()
            .replace(unknown_id, "ID")
    );
    assert_eq!(refused["title"], unknown["title"]);
    // The creator may.
    let (status, _, accepted) = upload(AGENT_ONE, &format!("/imports/{id}/file"));
    assert_eq!(status, 202, "{accepted}");

    // An admin may upload for someone else's job.
    let (_, _, other) = server.request("POST", "/imports", AGENT_TWO, &[], Some(&json!({})));
    let other_id = other["id"].as_str().unwrap();
    let (status, _, _) = upload(ADMIN, &format!("/imports/{other_id}/file"));
    assert_eq!(status, 202);
}

#[test]
fn every_request_log_line_names_the_caller_never_the_key() {
    let data = temp_dir("audit");
    let server = Server::start(&data, Some(&keys()));
    let (status, _, _) = server.request(
        "POST",
        "/customers",
        AGENT_TWO,
        &[],
        Some(&json!({"email": "logged@x.test"})),
    );
    assert_eq!(status, 201);
    let (status, _, _) = server.request("GET", "/customers", "not-a-key-at-all-000", &[], None);
    assert_eq!(status, 401);
    // The log is written as requests finish; give the writer a moment.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log_text();
        if log.contains("status=401") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let created: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("customer created"))
        .collect();
    assert_eq!(created.len(), 1, "{log}");
    assert!(
        created[0].contains("api-key-2"),
        "a service's line carries the caller: {log}"
    );
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request") && l.contains("status="))
        .collect();
    assert_eq!(requests.len(), 2, "{log}");
    assert!(
        requests[0].contains("caller=\"api-key-2\"") || requests[0].contains("caller=api-key-2"),
        "{log}"
    );
    assert!(requests[1].contains("anonymous"), "{log}");
    for key in [AGENT_ONE, AGENT_TWO, ADMIN, "not-a-key-at-all-000"] {
        assert!(!log.contains(key), "a key reached the log: {log}");
    }
}

#[test]
fn links_are_built_from_the_public_url_never_the_host_header() {
    let data = temp_dir("public-url");
    let server = Server::start(&data, Some(&keys()));
    let (status, _, job) = raw(
        &server.address,
        &with_host("POST", "/imports", "evil.example", AGENT_ONE, "{}"),
    );
    assert_eq!(status, 201, "{job}");
    let upload_url = job["upload_url"].as_str().unwrap();
    assert!(
        upload_url.starts_with(&format!("http://{}/imports/", server.address)),
        "the default public URL is the listen address: {upload_url}"
    );
    drop(server);

    let server = Server::start_with(
        &data,
        Some(&keys()),
        &["--public-url", "https://help.example.com/"],
        None,
    );
    let (_, _, job) = raw(
        &server.address,
        &with_host("POST", "/imports", "evil.example", AGENT_ONE, "{}"),
    );
    assert!(
        job["upload_url"]
            .as_str()
            .unwrap()
            .starts_with("https://help.example.com/imports/"),
        "{job}"
    );

    // The attachment redirect too.
    let mail = "From: Ann Lee <ann@acme.test>\r\nSubject: Logs\r\nMessage-ID: <host@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nLogs attached.\r\n--b\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n";
    std::fs::create_dir_all(data.join("inbox")).unwrap();
    std::fs::write(data.join("mail.tmp"), mail).unwrap();
    std::fs::rename(data.join("mail.tmp"), data.join("inbox/1.eml")).unwrap();
    let ticket = wait_for_ticket(&server, AGENT_ONE, "ann@acme.test");
    let attachment = ticket["messages"][0]["attachments"][0]["id"]
        .as_str()
        .expect("an attachment")
        .to_string();
    let id = ticket["id"].as_str().unwrap();
    let (status, head, _) = raw(
        &server.address,
        &with_host(
            "GET",
            &format!("/tickets/{id}/attachments/{attachment}"),
            "evil.example",
            AGENT_ONE,
            "",
        ),
    );
    assert_eq!(status, 303);
    assert!(
        head.contains("location: https://help.example.com/downloads/"),
        "{head}"
    );
    assert!(!head.contains("evil.example"), "{head}");

    // The local download route serves an active type inert: saved as a file, never shown.
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: https://help.example.com"))
        .expect("a location")
        .trim()
        .to_string();
    let (status, download, bytes) =
        crate::support::http_get_with_head(&format!("http://{}{location}", server.address));
    assert_eq!(status, 200, "{download}");
    assert!(
        download.contains("content-disposition: attachment; filename=\"page.html\""),
        "{download}"
    );
    assert!(
        download.contains("content-type: application/octet-stream"),
        "{download}"
    );
    assert!(
        download.contains("x-content-type-options: nosniff"),
        "{download}"
    );
    assert_eq!(bytes, b"<script>alert(1)</script>");

    // A malformed public URL stops the server with a reason.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "ftp://x",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--public-url"));
}

/// The ticket a mail in the inbox made, once the watcher ingested it.
fn wait_for_ticket(server: &Server, key: &str, email: &str) -> Value {
    for _ in 0..100 {
        let (status, _, tickets) = server.request(
            "GET",
            &format!("/customers/{email}/tickets"),
            key,
            &[],
            None,
        );
        if status == 200
            && let Some(id) = tickets["items"][0]["id"].as_str()
        {
            return server
                .request("GET", &format!("/tickets/{id}"), key, &[], None)
                .2;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no ticket for {email}");
}

#[test]
fn slow_or_many_clients_cannot_hold_the_server() {
    let data = temp_dir("slow");
    let server = Server::start_with(
        &data,
        Some(&keys()),
        &[
            "--header-timeout",
            "1",
            "--body-timeout",
            "1",
            "--max-connections",
            "2",
        ],
        None,
    );
    // Both connection slots taken: one sends half its headers, one sends nothing.
    let mut half = TcpStream::connect(&server.address).unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let silent = TcpStream::connect(&server.address).unwrap();
    let started = Instant::now();
    // A third client waits for a slot, and gets one when the slow ones are cut off.
    let (status, _, _) = server.request("GET", "/health", AGENT_ONE, &[], None);
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(8),
        "served after {waited:?}"
    );
    for mut stream in [half, silent] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = Vec::new();
        // Closed by the server (EOF, perhaps after a 408), never left hanging.
        let read = stream.read_to_end(&mut rest);
        assert!(read.is_ok(), "the slow connection was not closed: {read:?}");
    }

    // A body that stalls is cut off; nothing of it is kept.
    let (status, _, job) = server.request("POST", "/imports", AGENT_ONE, &[], Some(&json!({})));
    assert_eq!(status, 201);
    let id = job["id"].as_str().unwrap();
    let mut stalled = TcpStream::connect(&server.address).unwrap();
    stalled
        .write_all(format!("PUT /imports/{id}/file HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {AGENT_ONE}\r\nContent-Length: 1000\r\n\r\nEmail\n").as_bytes())
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let (_, _, job) = server.request("GET", &format!("/imports/{id}"), AGENT_ONE, &[], None);
    assert_eq!(
        job["status"], "pending",
        "the job still waits for a whole file"
    );
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let data = temp_dir("private");
    // A key file left world-readable (and too short to use) is rewritten 0600.
    std::fs::write(data.join("admin.key"), "short\n").unwrap();
    std::fs::set_permissions(
        data.join("admin.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_with(&data, None, &[], Some("000"));
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim().to_string();
    assert!(
        server.output.iter().any(|l| l.contains(&key)),
        "a new key is shown once"
    );

    // Everything local mode writes: database, outbox, raw mail, bodies, attachments, uploads
    // and reports.
    let (status, _, _) = server.request(
        "POST",
        "/customers",
        &key,
        &[],
        Some(&json!({"email": "hal@acme.test", "send_welcome": true})),
    );
    assert_eq!(status, 201);
    let mail = "From: Ann Lee <ann@acme.test>\r\nSubject: Logs\r\nMessage-ID: <private@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Logs attached.</p>\r\n--b\r\nContent-Type: text/plain; name=\"app.log\"\r\nContent-Disposition: attachment; filename=\"app.log\"\r\n\r\nline one\r\n--b--\r\n";
    // The server made the inbox; a user only drops files into it.
    std::fs::write(data.join("mail.tmp"), mail).unwrap();
    std::fs::rename(data.join("mail.tmp"), data.join("inbox/1.eml")).unwrap();
    wait_for_ticket(&server, &key, "ann@acme.test");
    let (_, _, job) = server.request(
        "POST",
        "/imports",
        &key,
        &[],
        Some(&json!({"required": ["email"]})),
    );
    let id = job["id"].as_str().unwrap();
    let (status, _, _) = raw(
        &server.address,
        &format!(
            "PUT /imports/{id}/file HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: 20\r\nConnection: close\r\n\r\nEmail\nbad\nok@x.test\n"
        ),
    );
    assert_eq!(status, 202);
    let mut settled = false;
    for _ in 0..100 {
        let (_, _, job) = server.request("GET", &format!("/imports/{id}"), &key, &[], None);
        let (_, _, hal) = server.request("GET", "/customers/hal@acme.test", &key, &[], None);
        if job["status"] == "succeeded" && hal["welcome"]["status"] == "sent" {
            settled = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(settled, "the import and the welcome email finished");

    let mut files = 0;
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
            }
        }
    }
    assert!(
        files >= 6,
        "the walk saw the database, outbox, mail, upload and report files"
    );
    drop(server);

    // The key is printed only when it is created.
    let again = Server::start(&data, None);
    assert!(
        !again.output.iter().any(|l| l.contains(&key)),
        "{:?}",
        again.output
    );
}

/// Runs `helpdesk` to the end while sampling its peak resident memory (Linux `VmHWM`).
#[cfg(target_os = "linux")]
fn run_measuring_peak(args: &[&str]) -> (std::process::Output, u64) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("helpdesk runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    // Bounded: an import of this file takes seconds; give up after five minutes.
    for _ in 0..6_000 {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    (output, peak_kib * 1024)
}

#[cfg(target_os = "linux")]
#[test]
fn a_huge_csv_field_fails_its_row_alone_in_bounded_memory() {
    use std::io::BufWriter;
    let data = temp_dir("huge-field");
    let path = data.join("huge.csv");
    {
        let mut file = BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(file, "Email,First Name,Last Name,Notes").unwrap();
        for i in 0..1_000 {
            writeln!(file, "before{i}@x.test,Ann,Lee,fine").unwrap();
        }
        // One 200 MB field, quoted, with commas and newlines inside.
        write!(file, "huge@x.test,Huge,Field,\"").unwrap();
        let chunk = "lorem, ipsum\n".repeat(80_000);
        for _ in 0..(200 * 1024 * 1024 / chunk.len()) {
            file.write_all(chunk.as_bytes()).unwrap();
        }
        writeln!(file, "\"").unwrap();
        // One row of 2 MiB in fields that are each under the field limit.
        let field = "w".repeat(60 * 1024);
        writeln!(file, "wide@x.test,{}", vec![field; 34].join(",")).unwrap();
        for i in 0..1_000 {
            writeln!(file, "after{i}@x.test,Bob,Ray,fine").unwrap();
        }
    }
    let (output, peak) = run_measuring_peak(&[
        "import",
        path.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{summary}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        summary.contains("2002 rows: 2000 created, 0 updated, 0 unchanged, 2 failed"),
        "{summary}"
    );
    assert!(peak > 4 * 1024 * 1024, "the peak was sampled: {peak} bytes");
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MiB",
        peak / (1024 * 1024)
    );
    let report_path = summary
        .lines()
        .find_map(|l| l.strip_prefix("error report: "))
        .expect("a report");
    let report = std::fs::read_to_string(report_path.trim()).unwrap();
    assert!(
        report.contains("huge@x.test,a field is larger than 64 KiB"),
        "{}",
        &report[..report.len().min(2_000)]
    );
    assert!(
        report.contains("wide@x.test,the row is larger than 1 MiB"),
        "{}",
        &report[..report.len().min(2_000)]
    );
    assert!(
        report.len() < 200 * 1024,
        "the report's copies are truncated: {} bytes",
        report.len()
    );
}

#[test]
fn an_import_over_the_size_limit_fails_before_any_row_is_read() {
    let data = temp_dir("too-big");
    let path = data.join("too-big.csv");
    // Sparse: 2 GiB and one byte on disk in no time, almost none of it written.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(2 * 1024 * 1024 * 1024 + 1).unwrap();
    drop(file);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(["import", path.to_str().unwrap(), "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the file is 2147483649 bytes; an import takes at most 2147483648 bytes"),
        "{stderr}"
    );
}

/// The cloud API (API Gateway events through the shared router) logs one line per request
/// with the caller's `sub`, and the lines logged inside the request carry it too.
#[tokio::test]
async fn the_cloud_api_logs_every_request_with_its_caller() {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let api = LambdaApi::on_sqlite().await;
    let created = api
        .post(As::Agent, "/customers", json!({"email": "logged@x.test"}))
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(api.get(As::Anonymous, "/customers").await.status, 401);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let sub = "7d1e2f3a-0b4c-4d5e-8f6a-7b8c9d0e1f2a";
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" answered "))
        .filter(|l| l.contains("status="))
        .collect();
    assert_eq!(requests.len(), 2, "{log}");
    assert!(requests[0].contains(sub), "{log}");
    assert!(requests[1].contains("anonymous"), "{log}");
    let created_line = log
        .lines()
        .find(|l| l.contains("customer created"))
        .expect("the service's line");
    assert!(created_line.contains(sub), "{log}");
}
