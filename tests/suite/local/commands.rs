//! The one-shot commands: import and ingest.

use super::*;

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

/// `helpdesk import --tickets`: customers first, then their tickets; the second run changes
/// nothing, and the summary says what a dry run would do.
#[test]
fn import_command_brings_tickets_in() {
    let data = temp_dir("cli-tickets");
    let customers = data.join("customers.csv");
    std::fs::write(&customers, "Email,First Name,Last Name\nann@x.io,Ann,Lee\n").expect("csv");
    let tickets = data.join("tickets.csv");
    std::fs::write(
        &tickets,
        "external_id,customer_email,subject,created_at,text,author_email\n\
         OD-7,ann@x.io,Cannot log in,2023-05-04,,\n\
         OD-7,,,2023-05-04T09:30:00Z,Reset your password,agent@x.io\n\
         OD-8,zed@x.io,Who am I,2023-05-05,,\n",
    )
    .expect("csv");
    let path = tickets.to_str().unwrap();
    let out = helpdesk(&["import", customers.to_str().unwrap()], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dry = helpdesk(&["import", "--tickets", "--dry-run", path], &data);
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(
        said.contains(
            "(dry run: no ticket written): 3 rows: 2 created, 0 updated, 0 unchanged, 1 failed"
        ),
        "{said}"
    );
    let first = helpdesk(&["import", "--tickets", path, "--json"], &data);
    let job: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(job["counts"]["created"], 2, "{job}");
    assert_eq!(job["counts"]["failed"], 1, "{job}");
    let again = helpdesk(&["import", "--tickets", path, "--json"], &data);
    let job: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(job["counts"]["unchanged"], 2, "{job}");
    // With --create-missing-customers, Zed's ticket comes in with a new customer.
    let created = helpdesk(
        &[
            "import",
            "--tickets",
            "--create-missing-customers",
            path,
            "--json",
        ],
        &data,
    );
    let job: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(job["counts"]["created"], 1, "{job}");
    // The flag belongs to ticket imports.
    let refused = helpdesk(&["import", "--create-missing-customers", path], &data);
    assert!(!refused.status.success());
}
