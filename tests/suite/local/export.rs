//! `helpdesk export`: customers of every shape out as CSV, and back in unchanged.

use super::*;

/// Custom fields of every type, companies, and customers with every kind of value: non-ASCII
/// names, commas, quotes, line breaks, cells a spreadsheet would run as formulas.
fn customers_of_every_shape(server: &Server, key: &str) {
    let fields = [
        json!({"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro, annual"]}),
        json!({"key": "seats", "label": "Seats", "type": "number"}),
        json!({"key": "vip", "label": "VIP", "type": "boolean"}),
        json!({"key": "renewal", "label": "Renewal", "type": "date"}),
        json!({"key": "modules", "label": "Modules", "type": "multiselect", "options": ["crm", "billing", "desk"]}),
        json!({"key": "site", "label": "Site", "type": "url"}),
        json!({"key": "billing_email", "label": "Billing email", "type": "email"}),
        json!({"key": "hotline", "label": "Hotline", "type": "phone"}),
        json!({"key": "motto", "label": "Motto", "type": "text"}),
    ];
    for field in fields {
        let (status, _, body) = server.request("POST", "/fields", key, &[], Some(&field));
        assert_eq!(status, 201, "{body}");
    }
    let (status, _, company) = server.request(
        "POST",
        "/companies",
        key,
        &[],
        Some(&json!({"name": "Zoë's Café, Ltd.", "domains": ["cafe.example"]})),
    );
    assert_eq!(status, 201, "{company}");
    let customers = [
        json!({"email": "zoe@cafe.example", "first_name": "Zoë", "last_name": "Ångström-Łukasz",
               "phones": ["+44 20 7946 0958", "(044) 123 45 67"], "alternate_emails": ["zoe@home.example"],
               "tags": ["vip", "beta"], "notes": "Line one, with a comma\nLine \"two\"\n=HYPERLINK(\"x\")",
               "address": {"line1": "1 Rue de l'Église", "line2": "Bât. 2", "city": "Zürich",
                           "region": "ZH", "postal_code": "8001", "country": "CH"},
               "social": {"twitter": "https://x.com/zoe", "linkedin": "https://linkedin.com/in/zoe"},
               "portal_access": "company",
               "custom_fields": {"plan": "pro, annual", "seats": 12, "vip": true, "renewal": "2027-01-31",
                                 "modules": ["crm", "desk"], "site": "https://cafe.example/zoë",
                                 "billing_email": "billing@cafe.example", "hotline": "+41 44 000 00 00",
                                 "motto": "@everyone: 'quotes' and -dashes-"}}),
        json!({"email": "bo@plain.example", "first_name": "Bo", "custom_fields": {"seats": 2.5, "vip": false}}),
        json!({"email": "only@address.example"}),
        json!({"email": "blocked@plain.example", "first_name": "Blo", "last_name": "Cked"}),
    ];
    for customer in customers {
        let (status, _, body) = server.request("POST", "/customers", key, &[], Some(&customer));
        assert_eq!(status, 201, "{body}");
    }
    let (status, _, body) = server.request(
        "POST",
        "/customers/blocked@plain.example/block",
        key,
        &[],
        None,
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_export_imports_back_unchanged_with_every_field_type() {
    let data = temp_dir("export");
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    customers_of_every_shape(&server, key.trim());
    drop(server);

    let file = data.join("customers.csv");
    let out = helpdesk(
        &["export", "--bom", "--output", file.to_str().unwrap()],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 4 customers"));
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with("\u{feff}Email,First Name,Last Name,Company,".as_bytes()));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(",cf_billing_email,cf_hotline,cf_modules,cf_motto,cf_plan,cf_renewal,cf_seats,cf_site,cf_vip,created_at,updated_at,avatar_image\r\n"), "{text}");
    // Formula guard, RFC 4180 quoting of the line breaks and quotes.
    assert!(
        text.contains(",'+44 20 7946 0958; (044) 123 45 67,"),
        "{text}"
    );
    assert!(
        text.contains("\"Line one, with a comma\nLine \"\"two\"\"\n=HYPERLINK(\"\"x\"\")\""),
        "{text}"
    );
    assert!(text.contains("'@everyone"), "{text}");
    assert!(
        text.contains("linkedin=https://linkedin.com/in/zoe twitter=https://x.com/zoe"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "personal data, owner only");
    }

    // Imported as it is: every row unchanged, nothing failed.
    let out = helpdesk(
        &["import", "--dry-run", "--json", file.to_str().unwrap()],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["counts"]["rows"], 4, "{job}");
    assert_eq!(job["counts"]["unchanged"], 4, "{job}");
    assert_eq!(job["counts"]["failed"], 0, "{job}");
    assert_eq!(
        job["ignored_columns"],
        json!(["created_at", "updated_at", "avatar_image"]),
        "{job}"
    );

    // Filters: the blocked one alone, and none changed since tomorrow.
    let out = helpdesk(&["export", "--blocked"], &data);
    let blocked = String::from_utf8(out.stdout).unwrap();
    assert_eq!(blocked.lines().count(), 2, "{blocked}");
    assert!(blocked.contains("blocked@plain.example"));
    let out = helpdesk(&["export", "--unblocked"], &data);
    let unblocked = String::from_utf8(out.stdout).unwrap();
    for email in [
        "zoe@cafe.example",
        "bo@plain.example",
        "only@address.example",
    ] {
        assert!(unblocked.contains(email), "{unblocked}");
    }
    assert!(!unblocked.contains("blocked@plain.example"), "{unblocked}");
    let out = helpdesk(&["export", "--updated-since", "2999-01-01"], &data);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1,
        "the header only"
    );
    let out = helpdesk(&["export", "--updated-since", "yesterday"], &data);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--updated-since 'yesterday'"));
}

#[test]
fn an_export_job_through_helpdesk_serve_is_the_commands_file() {
    let data = temp_dir("export-job");
    let server = Server::start(&data, None);
    let key = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let key = key.trim();
    customers_of_every_shape(&server, key);
    let (status, head, started) = server.request("POST", "/exports", key, &[], Some(&json!({})));
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().unwrap();
    assert!(head.contains(&format!("location: /exports/{id}")), "{head}");
    let mut export = Value::Null;
    for _ in 0..100 {
        export = server
            .request("GET", &format!("/exports/{id}"), key, &[], None)
            .2;
        if export["status"] == "succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(export["status"], "succeeded", "{export}");
    assert_eq!(export["counts"]["customers"], 4);
    // The link points at this server's download route, which needs no key.
    let url = export["download_url"].as_str().unwrap();
    let path = url.split_once(&server.address).map(|(_, p)| p).unwrap();
    let mut stream = TcpStream::connect(&server.address).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.address
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    // Chunked or not, the body holds the same file the command writes.
    let out = helpdesk(&["export"], &data);
    let command = String::from_utf8(out.stdout).unwrap();
    let first_row = command.lines().nth(1).unwrap();
    assert!(body.contains(first_row), "{body}");
    assert!(body.contains(command.lines().next().unwrap()));
}
