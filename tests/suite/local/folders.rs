//! What helpdesk serve does with its folders and jobs: imports, inbox, outbox, erasures, merges, migrations, exports, old data dirs.

use super::*;

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

    // A file dropped into DATA_DIR/imports/tickets/ brings tickets for that customer.
    std::fs::create_dir_all(data.join("imports/tickets")).unwrap();
    std::fs::write(
        data.join("tickets-drop.tmp"),
        "external_id,customer_email,subject,created_at
X-1,drop@acme.com,From before,2022-02-02
",
    )
    .unwrap();
    std::fs::rename(
        data.join("tickets-drop.tmp"),
        data.join("imports/tickets/legacy.csv"),
    )
    .unwrap();
    let mut tickets = Value::Null;
    for _ in 0..100 {
        let (_, _, page) =
            server.request("GET", "/customers/drop@acme.com/tickets", key, &[], None);
        tickets = page;
        if tickets["items"].as_array().is_some_and(|t| !t.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(tickets["items"][0]["external_id"], "X-1", "{tickets}");

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
