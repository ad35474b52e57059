//! Erasure and export through the API, on both stores. The erasure job runs through the jobs
//! function's handler, fed the stream record its request wrote; afterwards every table item
//! and every stored object is searched for the person.

use serde_json::{Value, json};

use crate::inbound::Mail;
use crate::support::{As, LambdaApi, Place};

/// What identifies Annabel: her addresses, her name, what she wrote and sent.
const TRACES: [&str; 7] = [
    "ann@acme.test",
    "ann@home.test",
    "Annabel",
    "Quixley",
    "printer-fire-4711",
    "secret-attachment-data",
    "quixley-report",
];

fn mail_from(from: &str, message_id: &str, extra_headers: &str, text: &str) -> String {
    format!(
        "From: Annabel Quixley <{from}>\r\nTo: help@helpdesk.test\r\nSubject: Quixley printer\r\n\
         Message-ID: <{message_id}>\r\n{extra_headers}MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         {text}\r\n--b\r\nContent-Type: application/pdf; name=\"quixley-report.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"quixley-report.pdf\"\r\n\r\n\
         secret-attachment-data\r\n--b--\r\n"
    )
}

/// Runs the erasure as the jobs function does when the table's stream shows it running.
async fn run_jobs(api: &LambdaApi, erasure_id: &str) -> Value {
    crate::support::run_job(api, "erasure", erasure_id).await
}

/// Every stored item and object, as text.
pub(crate) async fn everything_stored(api: &LambdaApi) -> Vec<String> {
    let mut found = Vec::new();
    match &api.place {
        Place::Local { database, folder } => {
            let connection = rusqlite::Connection::open(database).unwrap();
            let tables: Vec<String> = connection
                .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for table in tables {
                let mut statement = connection
                    .prepare(&format!("SELECT * FROM {table}"))
                    .unwrap();
                let columns = statement.column_count();
                let mut rows = statement.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    let mut text = format!("{table}:");
                    for i in 0..columns {
                        match row.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                text.push_str(&String::from_utf8_lossy(t));
                            }
                            other => text.push_str(&format!("{other:?}")),
                        }
                        text.push('|');
                    }
                    found.push(text);
                }
            }
            let mut folders = vec![folder.clone()];
            while let Some(dir) = folders.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        folders.push(path);
                    } else {
                        let bytes = std::fs::read(&path).unwrap();
                        found.push(format!(
                            "{}:{}",
                            path.display(),
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                }
            }
        }
        Place::Cloud { table, bucket } => {
            let client = crate::support::dynamo_client();
            let mut start = None;
            loop {
                let page = client
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                for item in page.items() {
                    let mut text = String::new();
                    for (name, value) in item {
                        let value = match value {
                            aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
                            aws_sdk_dynamodb::types::AttributeValue::B(b) => {
                                String::from_utf8_lossy(b.as_ref()).into_owned()
                            }
                            other => format!("{other:?}"),
                        };
                        text.push_str(&format!("{name}={value}|"));
                    }
                    found.push(text);
                }
                match page.last_evaluated_key() {
                    Some(key) => start = Some(key.clone()),
                    None => break,
                }
            }
            let s3 = crate::support::s3_client();
            let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
            for object in listed.contents() {
                let key = object.key().unwrap();
                let body = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap();
                let bytes = body.body.collect().await.unwrap().into_bytes();
                found.push(format!("{key}:{}", String::from_utf8_lossy(&bytes)));
            }
        }
        Place::Elsewhere => panic!("this test needs to know where the data is"),
    }
    found
}

/// Each trace is somewhere: what [`assert_no_trace`] looks through does hold the data.
async fn assert_traces(api: &LambdaApi) {
    let stored = everything_stored(api).await;
    for trace in TRACES {
        assert!(
            stored.iter().any(|s| s.contains(trace)),
            "{trace} is not stored"
        );
    }
}

async fn assert_no_trace(api: &LambdaApi) {
    let stored = everything_stored(api).await;
    assert!(stored.len() > 3, "the other customer's data is still there");
    for trace in TRACES {
        let holders: Vec<&String> = stored.iter().filter(|s| s.contains(trace)).collect();
        assert!(holders.is_empty(), "{trace} is still stored: {holders:#?}");
    }
}

/// Annabel with an alternate address, notes, a change, a ticket with a large body and an
/// attachment, and an ignored automatic reply; Bob beside her.
async fn annabel_and_bob(api: &LambdaApi) -> (Mail, Value) {
    api.create(
        json!({"email": "ann@acme.test", "first_name": "Annabel", "last_name": "Quixley",
                      "alternate_emails": ["ann@home.test"]}),
    )
    .await;
    let edited = api
        .patch(
            As::Admin,
            "/customers/ann@acme.test",
            Some("\"1\""),
            json!({"notes": "Quixley prefers phone"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    let note = api
        .post(
            As::Agent,
            "/customers/ann@home.test/notes",
            json!({"text": "Called Quixley back"}),
        )
        .await;
    assert_eq!(note.status, 201);
    let mail = Mail::new(api.clone());
    // Over 64 KiB of text: the body is kept in the bucket, apart from the record.
    let long = "printer-fire-4711 ".repeat(4_000);
    let first = mail
        .deliver(&mail_from("ann@acme.test", "q1@acme.test", "", &long))
        .await;
    assert_eq!(first["status"], "ingested", "{first}");
    let auto = mail_from(
        "ann@home.test",
        "q2@acme.test",
        "Auto-Submitted: auto-replied\r\n",
        "printer-fire-4711 away",
    );
    let ignored = mail.deliver(&auto).await;
    assert_eq!(ignored["status"], "ignored", "{ignored}");
    let bob = mail
        .deliver("From: Bob Stone <bob@other.test>\r\nSubject: Hello\r\nMessage-ID: <b1@other.test>\r\n\r\nHi there.\r\n")
        .await;
    assert_eq!(bob["status"], "ingested", "{bob}");
    (mail, first)
}

async fn export_holds_everything(api: LambdaApi) {
    let (_mail, first) = annabel_and_bob(&api).await;
    // A field agents may not view: in an admin's export, not in an agent's.
    let field = api
        .post(
            As::Admin,
            "/fields",
            json!({"key": "risk", "label": "Risk", "type": "number",
                                           "view_roles": ["admin"], "edit_roles": ["admin"]}),
        )
        .await;
    assert_eq!(field.status, 201, "{}", field.body);
    let etag = api.get(As::Admin, "/customers/ann@acme.test").await.headers["etag"].clone();
    let scored = api
        .patch(
            As::Admin,
            "/customers/ann@acme.test",
            Some(&etag),
            json!({"custom_fields": {"risk": 7}}),
        )
        .await;
    assert_eq!(scored.status, 200, "{}", scored.body);
    let full = api.get(As::Admin, "/customers/ann@acme.test/export").await;
    assert_eq!(full.body["customer"]["custom_fields"]["risk"], 7);
    let reply = api.get(As::Agent, "/customers/ANN@home.test/export").await;
    assert!(
        reply.body["customer"]["custom_fields"]
            .get("risk")
            .is_none()
    );
    let hidden = &reply.body["history"][0]["changes"][0];
    assert_eq!(hidden["field"], "custom_fields.risk");
    assert_eq!(hidden["hidden"], true);
    assert!(hidden.get("to").is_none(), "{hidden}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let export = &reply.body;
    assert_eq!(export["customer"]["email"], "ann@acme.test");
    assert_eq!(
        export["customer"]["alternate_emails"],
        json!(["ann@home.test"])
    );
    assert_eq!(export["notes"][0]["text"], "Called Quixley back");
    let versions: Vec<&Value> = export["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["version"])
        .collect();
    assert_eq!(versions, [&json!(3), &json!(2), &json!(1)]);
    let tickets = export["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["id"], first["ticket_id"]);
    let message = &tickets[0]["messages"][0];
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .starts_with("printer-fire-4711")
    );
    assert_eq!(message["attachments"][0]["filename"], "quixley-report.pdf");
    let link = message["attachment_links"][0].as_str().unwrap();
    assert!(link.starts_with(&format!(
        "/tickets/{}/attachments/",
        first["ticket_id"].as_str().unwrap()
    )));
    assert_eq!(
        api.get(As::Agent, link).await.status,
        303,
        "the link answers the download"
    );
    let inbound: Vec<&str> = export["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(inbound, ["ingested", "ignored"]);
    assert!(!export.to_string().contains("Bob"), "only Annabel's data");
    api.get(As::Agent, "/customers/nobody@x.test/export")
        .await
        .assert_problem_status(404);
    api.get(As::Anonymous, "/customers/ann@acme.test/export")
        .await
        .assert_problem_status(401);
}

async fn erasure_leaves_no_trace(api: LambdaApi) {
    let (mail, first) = annabel_and_bob(&api).await;
    assert_traces(&api).await;
    api.post(As::Agent, "/customers/ann@acme.test/erase", json!({}))
        .await
        .assert_problem_status(403);
    api.post(
        As::Admin,
        "/customers/ann@acme.test/erase",
        json!({"suppress": "yes"}),
    )
    .await
    .assert_problem(400, "suppress");
    let requested = api
        .post(
            As::Admin,
            "/customers/ann@acme.test/erase",
            json!({"suppress": true}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let id = requested.body["id"].as_str().unwrap().to_string();
    assert_eq!(requested.headers["location"], format!("/erasures/{id}"));
    assert_eq!(requested.body["status"], "running");
    // Asked again while it runs: the same erasure.
    let again = api
        .post(As::Admin, "/customers/ann@home.test/erase", json!({}))
        .await;
    assert_eq!(again.body["id"], id.as_str());
    // Already blocked: mail arriving now makes no ticket.
    let during = mail
        .deliver(&mail_from(
            "ann@acme.test",
            "q3@acme.test",
            "",
            "printer-fire-4711 again",
        ))
        .await;
    assert_eq!(during["status"], "ignored");

    run_jobs(&api, &id).await;
    // A redelivered stream record changes nothing.
    run_jobs(&api, &id).await;

    let done = api.get(As::Admin, &format!("/erasures/{id}")).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    assert!(done.body["finished_at"].is_string());
    assert_eq!(done.body["counts"]["tickets"], 1);
    assert_eq!(done.body["counts"]["messages"], 1);
    assert_eq!(done.body["counts"]["inbound_records"], 3);
    assert_eq!(done.body["counts"]["customers"], 1);
    assert_eq!(done.body["email_hashes"].as_array().unwrap().len(), 2);
    assert!(done.body["email_hashes"][0].as_str().unwrap().len() == 64);
    api.get(As::Agent, &format!("/erasures/{id}"))
        .await
        .assert_problem_status(403);

    api.get(As::Agent, "/customers/ann@acme.test")
        .await
        .assert_problem_status(404);
    api.get(As::Agent, "/customers/ann@home.test")
        .await
        .assert_problem_status(404);
    let ticket = first["ticket_id"].as_str().unwrap();
    api.get(As::Agent, &format!("/tickets/{ticket}"))
        .await
        .assert_problem_status(404);
    assert_eq!(
        api.get(As::Agent, "/customers/bob@other.test/tickets")
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_no_trace(&api).await;

    // Suppressed: her next mail is recorded as ignored, and she is not created again.
    let later = mail
        .deliver(&mail_from("ann@acme.test", "q4@acme.test", "", "hello"))
        .await;
    assert_eq!(later["status"], "ignored");
    assert_eq!(later["reason"], "erased");
    api.get(As::Agent, "/customers/ann@acme.test")
        .await
        .assert_problem_status(404);
}

async fn anonymised_tickets_stay_without_the_person(api: LambdaApi) {
    let (_mail, first) = annabel_and_bob(&api).await;
    let requested = api
        .post(
            As::Admin,
            "/customers/ann@acme.test/erase",
            json!({"tickets": "anonymise"}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let id = requested.body["id"].as_str().unwrap().to_string();
    run_jobs(&api, &id).await;
    let ticket = api
        .get(
            As::Agent,
            &format!("/tickets/{}", first["ticket_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(ticket.status, 200, "{}", ticket.body);
    assert_eq!(ticket.body["subject"], "[erased]");
    assert_eq!(ticket.body["customer_email"], "erased@erased.invalid");
    assert_eq!(ticket.body["message_count"], 1);
    let message = &ticket.body["messages"][0];
    assert_eq!(message["from"]["email"], "erased@erased.invalid");
    assert_eq!(message["text"], "[erased]");
    assert_eq!(message["attachments"], json!([]));
    assert_no_trace(&api).await;
    // Not suppressed: she may write again, and becomes a new customer.
    let mail = Mail::new(api.clone());
    let later = mail
        .deliver(&mail_from("ann@acme.test", "q5@acme.test", "", "hello"))
        .await;
    assert_eq!(later["status"], "ingested", "{later}");
    assert_ne!(later["ticket_id"], first["ticket_id"]);
}

/// An export over 5 MiB (three messages of 2 MB, their bodies in the bucket) is written a
/// piece at a time into the bucket and answered with a link; the document is whole.
async fn a_large_export_is_kept_behind_a_link(api: LambdaApi) {
    api.create(json!({"email": "big@acme.test"})).await;
    let mail = Mail::new(api.clone());
    for i in 0..3 {
        let text = format!("line {i} of a long letter\r\n").repeat(80_000);
        let raw = format!(
            "From: <big@acme.test>\r\nSubject: Long {i}\r\nMessage-ID: <long-{i}@acme.test>\r\n\r\n{text}"
        );
        assert_eq!(mail.deliver(&raw).await["status"], "ingested");
    }
    let reply = api.get(As::Agent, "/customers/big@acme.test/export").await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let size = reply.body["size"].as_u64().unwrap();
    assert!(size > 5 * 1024 * 1024, "{size}");
    let document: Vec<u8> = match &api.place {
        Place::Cloud { .. } => {
            let (status, body) = crate::support::http_get(&reply.headers["location"]);
            assert_eq!(status, 200);
            body
        }
        Place::Local { folder, .. } => {
            let kept: Vec<_> = std::fs::read_dir(folder.join("exports"))
                .unwrap()
                .flatten()
                .collect();
            assert_eq!(kept.len(), 1);
            std::fs::read(kept[0].path()).unwrap()
        }
        Place::Elsewhere => unreachable!(),
    };
    assert_eq!(document.len() as u64, size);
    let export: Value = serde_json::from_slice(&document).expect("the document is whole JSON");
    let tickets = export["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 3);
    for ticket in tickets {
        let text = ticket["messages"][0]["text"].as_str().unwrap();
        assert!(text.len() > 1_900_000, "the body is loaded: {}", text.len());
    }
    assert_eq!(export["customer"]["email"], "big@acme.test");
}

on_both_stores!(
    a_large_export_is_kept_behind_a_link,
    export_holds_everything,
    erasure_leaves_no_trace,
    anonymised_tickets_stay_without_the_person
);
