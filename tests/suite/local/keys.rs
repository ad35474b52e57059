//! helpdesk serve's API keys, request ids and crash safety.

use super::*;

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

/// `helpdesk serve --portal-sso-secret-file`: a host application's HS256 token opens a portal
/// session (here creating the customer, as `--portal-sso-create-customers` allows); a secret
/// too short to be one is refused at start.
#[test]
fn serve_takes_the_portal_single_sign_on_secret_from_a_file() {
    let dir = temp_dir("sso");
    let secret = dir.join("sso-secret");
    std::fs::write(&secret, "a-host-application-secret-of-32-bytes-or-more\n").unwrap();
    let data = dir.join("data");
    let server = Server::start_with(
        &data,
        Some("local-sso-admin-key-0123456789:admin"),
        &[
            "--portal-sso-secret-file",
            secret.to_str().unwrap(),
            "--portal-sso-create-customers",
        ],
        None,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"email": "host.user@acme.test", "iat": now, "jti": "local-1"}),
        &jsonwebtoken::EncodingKey::from_secret(b"a-host-application-secret-of-32-bytes-or-more")
            .unwrap(),
    )
    .unwrap();
    let (status, _, body) = server.request(
        "POST",
        "/portal/sessions",
        "",
        &[],
        Some(&json!({"jwt": jwt, "return_token": true})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, me) = server.request(
        "GET",
        "/portal/me",
        body["token"].as_str().unwrap(),
        &[],
        None,
    );
    assert_eq!((status, &me["email"]), (200, &json!("host.user@acme.test")));
    drop(server);

    std::fs::write(&secret, "short").unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--portal-sso-secret-file",
        ])
        .arg(&secret)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("helpdesk runs");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("at least 32 bytes"),
        "{refused:?}"
    );
}
