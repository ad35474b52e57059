//! Ticket import (`"kind": "tickets"`): tickets with their messages for customers imported
//! before, on both stores; idempotent, nothing sent, timestamps kept, resumable.

use super::*;

const TICKETS: &str = "\
Ticket ID,Customer Email,Subject,Status,Created,Solved At,Tags,Description,Author,Text,Internal
T-1,ann@acme.test,Printer on fire,solved,2024-03-01,2024-03-02T10:00:00Z,Hardware; urgent,\"It smokes, really\",,,
T-1,,,,2024-03-01T12:00:00+02:00,,,,agent@support.test,Unplug it please,
T-1,,,,2024-03-01T13:00:00Z,,,,ann@home.test,\"Done, thanks\",
T-1,,,,2024-03-01T14:00:00Z,,,,agent@support.test,Customer is VIP,true
T-2,bob@acme.test,Invoice,,2024-04-05,,,,,,
T-3,nobody@acme.test,Lost,,2024-04-06,,,,,,
T-9,,,,2024-04-07,,,,,orphan message,
T-4,ann@acme.test,Bad date,,yesterday,,,,,,
";

async fn customers(rig: &Rig) {
    rig.api
        .create(json!({"email": "ann@acme.test", "alternate_emails": ["ann@home.test"]}))
        .await;
    rig.api.create(json!({"email": "bob@acme.test"})).await;
}

async fn tickets_of(rig: &Rig, email: &str) -> Vec<Value> {
    let page = rig
        .api
        .get(As::Agent, &format!("/customers/{email}/tickets"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["items"].as_array().unwrap().clone()
}

async fn report(rig: &Rig, job: &Value) -> String {
    let key = job["error_report"].as_str().expect("an error report");
    String::from_utf8(rig.api.objects.get(key).await.unwrap()).unwrap()
}

async fn tickets_import_with_their_messages(api: LambdaApi) {
    let rig = Rig::new(api);
    customers(&rig).await;
    let job = rig
        .import(json!({"kind": "tickets"}), TICKETS.as_bytes())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["options"]["kind"], "tickets");
    // rows, created (a ticket, three messages, a ticket), updated, unchanged, failed, duplicates
    assert_eq!(counts(&job), [8, 5, 0, 0, 3, 0], "{job}");
    let failed = report(&rig, &job).await;
    assert!(failed.starts_with("row,external_id,reason,"), "{failed}");
    assert!(
        failed.contains(
            "7,T-3,\"no customer has the address nobody@acme.test: import customers first"
        ),
        "{failed}"
    );
    assert!(
        failed.contains("8,T-9,no ticket has external_id T-9 yet"),
        "{failed}"
    );
    assert!(
        failed.contains("9,T-4,created_at: 'yesterday' is neither a date"),
        "{failed}"
    );

    let ann = tickets_of(&rig, "ann@acme.test").await;
    assert_eq!(ann.len(), 1);
    let ticket = &ann[0];
    assert_eq!(ticket["external_id"], "T-1");
    assert_eq!(ticket["status"], "solved");
    assert_eq!(ticket["tags"], json!(["hardware", "urgent"]));
    assert_eq!(ticket["created_at"], "2024-03-01T00:00:00.000Z");
    assert_eq!(ticket["updated_at"], "2024-03-02T10:00:00.000Z");
    assert_eq!(ticket["message_count"], 4);
    let id = ticket["id"].as_str().unwrap().to_string();
    let full = rig.api.get(As::Agent, &format!("/tickets/{id}")).await.body;
    let messages = full["messages"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap(),
                m["received_at"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("inbound", "2024-03-01T00:00:00.000Z", "It smokes, really"),
            ("reply", "2024-03-01T10:00:00.000Z", "Unplug it please"),
            ("inbound", "2024-03-01T13:00:00.000Z", "Done, thanks"),
            ("note", "2024-03-01T14:00:00.000Z", "Customer is VIP"),
        ]
    );
    // Nothing is sent: the imported reply has no delivery at all.
    assert!(messages.iter().all(|m| m["delivery"].is_null()), "{full}");
    assert_eq!(messages[1]["author"], "agent@support.test");
    assert!(messages.iter().all(|m| m["thread_reason"] == "imported"));
    // The history says the ticket was imported, by which job and row.
    let history = rig
        .api
        .get(As::Agent, &format!("/tickets/{id}/history?limit=50"))
        .await
        .body;
    let items = history["items"].as_array().unwrap();
    let creation = items.last().unwrap();
    assert_eq!(
        creation["by"],
        json!({"type": "import", "job": job["id"], "row": 2}),
        "{history}"
    );

    // Mail naming the imported ticket's [#ID] threads into it, as into any ticket.
    let mail = crate::inbound::Mail::new(rig.api.clone());
    let answer = mail
        .deliver(&format!(
            "From: Ann <ann@acme.test>\r\nTo: help@helpdesk.test\r\nSubject: Re: Printer on \
             fire [#{id}]\r\nMessage-ID: <later@acme.test>\r\n\r\nIt happened again.\r\n"
        ))
        .await;
    assert_eq!(answer["ticket_id"], id.as_str(), "{answer}");
    assert_eq!(
        tickets_of(&rig, "ann@acme.test").await[0]["message_count"],
        5
    );

    // The same file again: nothing new, nothing twice; the ticket's later life (Ann's mail
    // opened it again) is not undone by the older file.
    let again = rig
        .import(json!({"kind": "tickets"}), TICKETS.as_bytes())
        .await;
    assert_eq!(counts(&again), [8, 0, 0, 5, 3, 0], "{again}");
    let after = &tickets_of(&rig, "ann@acme.test").await[0];
    assert_eq!(after["message_count"], 5);
    assert_eq!(after["status"], "open");

    // A changed row updates its ticket.
    let changed = "external_id,customer_email,subject,status,created_at\n\
                   T-2,bob@acme.test,Invoice (paid),closed,2024-04-05\n";
    let updated = rig
        .import(json!({"kind": "tickets"}), changed.as_bytes())
        .await;
    assert_eq!(counts(&updated), [1, 0, 1, 0, 0, 0], "{updated}");
    let bob = tickets_of(&rig, "bob@acme.test").await;
    assert_eq!(
        (bob[0]["subject"].as_str(), bob[0]["status"].as_str()),
        (Some("Invoice (paid)"), Some("closed"))
    );
}

async fn missing_customers_are_created_only_when_asked(api: LambdaApi) {
    let rig = Rig::new(api);
    customers(&rig).await;
    let file = "external_id,customer_email,subject,created_at,description\n\
                N-1,new.person@elsewhere.test,Hello,2025-01-02,First words\n";
    let preview = rig
        .import(
            json!({"kind": "tickets", "dry_run": true, "create_missing_customers": true}),
            file.as_bytes(),
        )
        .await;
    assert_eq!(preview["counts"]["created"], 1, "{preview}");
    let absent = rig
        .api
        .get(As::Agent, "/customers/new.person@elsewhere.test")
        .await;
    assert_eq!(absent.status, 404, "a dry run writes nothing");

    let job = rig
        .import(
            json!({"kind": "tickets", "create_missing_customers": true}),
            file.as_bytes(),
        )
        .await;
    assert_eq!(job["counts"]["created"], 1, "{job}");
    let created = rig.customer("new.person@elsewhere.test").await;
    assert_eq!(created["welcome"], Value::Null, "no welcome email for them");
    assert_eq!(tickets_of(&rig, "new.person@elsewhere.test").await.len(), 1);

    // Options only customer imports have are refused for tickets, and the other way round.
    rig.api
        .post(
            As::Agent,
            "/imports",
            json!({"kind": "tickets", "send_welcome": true}),
        )
        .await
        .assert_problem(422, "send_welcome");
    rig.api
        .post(
            As::Agent,
            "/imports",
            json!({"kind": "tickets", "mapping": {"Ref": "colour"}}),
        )
        .await
        .assert_problem(422, "mapping.Ref");
    rig.api
        .post(
            As::Agent,
            "/imports",
            json!({"create_missing_customers": true}),
        )
        .await
        .assert_problem(422, "create_missing_customers");
    // A file without the columns tickets need fails whole, saying which.
    let job = rig
        .import(
            json!({"kind": "tickets"}),
            b"customer_email,subject\nann@acme.test,Hi\n",
        )
        .await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("no external_id column"),
        "{job}"
    );
    // A file dropped under imports/tickets/ is a ticket import.
    let dropped = rig
        .drop_file(
            "imports/tickets/legacy.csv",
            b"Key,Email,Title,Date\nL-1,bob@acme.test,Old one,2020-01-01\n",
        )
        .await;
    let id = dropped["handled"][0]["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = rig.job(&id).await;
    assert_eq!(job["options"]["kind"], "tickets", "{job}");
    assert_eq!(job["counts"]["created"], 1, "{job}");
}

on_both_stores!(
    tickets_import_with_their_messages,
    missing_customers_are_created_only_when_asked,
);

#[tokio::test]
async fn a_paused_ticket_import_continues_with_exact_counts() {
    // A margin longer than the time left: the run stops after its first batch.
    let rig = Rig::with_margin(LambdaApi::on_sqlite().await, Duration::from_secs(600));
    customers(&rig).await;
    let mut file = String::from("external_id,customer_email,subject,created_at,text\n");
    for i in 0..1_500 {
        file.push_str(&format!("P-{i},ann@acme.test,Ticket {i},2024-01-01,\n"));
        file.push_str(&format!("P-{i},,,2024-01-02,Follow-up {i}\n"));
    }
    let first = rig
        .drop_file("imports/tickets/big.csv", file.as_bytes())
        .await;
    assert_eq!(first["handled"][0]["outcome"], "continued");
    let id = first["handled"][0]["job_id"].as_str().unwrap().to_string();
    for _ in 0..20 {
        let scheduled = rig.continuations.0.lock().unwrap().pop();
        let Some(job_id) = scheduled else { break };
        rig.invoke(json!({"continue_import": job_id}), Duration::from_secs(601))
            .await;
    }
    let job = rig.job(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [3_000, 3_000, 0, 0, 0, 0]);
    let page = rig
        .api
        .get(As::Agent, "/customers/ann@acme.test/tickets?limit=200")
        .await;
    assert_eq!(page.body["items"][0]["message_count"], 2, "{}", page.body);
}
