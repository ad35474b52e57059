//! Merging customers through the API, on both stores: the preview, the merge with its moves
//! (run by the jobs function's handler), and the undo that puts everything back.

use serde_json::{Value, json};

use crate::inbound::Mail;
use crate::support::{As, LambdaApi, run_job};

async fn history_of(api: &LambdaApi, email: &str) -> Vec<Value> {
    let reply = api
        .get(As::Admin, &format!("/customers/{email}/history?limit=200"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

async fn items(api: &LambdaApi, path: &str) -> Vec<Value> {
    let reply = api.get(As::Agent, path).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

fn field<'a>(preview: &'a Value, name: &str) -> &'a Value {
    preview["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["field"] == name))
        .unwrap_or_else(|| panic!("no {name} in {preview}"))
}

/// Ann (the target) and Annie, who is Ann writing from home: a ticket, a note, a change.
async fn ann_and_annie(api: &LambdaApi) -> (Value, Value, Value) {
    let ann = api
        .create(
            json!({"email": "ann@acme.test", "first_name": "Ann", "phones": ["+14155550100"],
                       "tags": ["vip"]}),
        )
        .await;
    let annie = api
        .create(
            json!({"email": "annie@home.test", "first_name": "Annie", "last_name": "Lee",
                       "alternate_emails": ["a.lee@home.test"], "phones": ["+14155550199"],
                       "tags": ["beta"], "entitlements": [{"name": "Gold"}]}),
        )
        .await;
    let edited = api
        .patch(
            As::Agent,
            "/customers/annie@home.test",
            Some("\"1\""),
            json!({"notes": "prefers mail"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    let note = api
        .post(
            As::Agent,
            "/customers/annie@home.test/notes",
            json!({"text": "called about the printer"}),
        )
        .await;
    assert_eq!(note.status, 201);
    let mail = Mail::new(api.clone());
    let record = mail
        .deliver("From: Annie Lee <annie@home.test>\r\nSubject: Printer\r\nMessage-ID: <p1@home.test>\r\n\r\nIt is on fire.\r\n")
        .await;
    assert_eq!(record["status"], "ingested", "{record}");
    (ann, annie, record)
}

async fn merge_preview_merge_and_undo(api: LambdaApi) {
    let (ann, annie, record) = ann_and_annie(&api).await;
    let ticket = record["ticket_id"].as_str().unwrap().to_string();
    let before_ann = api.get(As::Agent, "/customers/ann@acme.test").await.body;
    let before_annie = api.get(As::Agent, "/customers/annie@home.test").await.body;

    // The preview says what would happen, field by field, and does nothing.
    let preview = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["A.LEE@home.test"], "dry_run": true}),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let p = &preview.body;
    assert_eq!(p["dry_run"], true);
    assert_eq!(field(p, "first_name")["value"], "Ann");
    assert_eq!(field(p, "first_name")["from"], json!(["target"]));
    assert_eq!(field(p, "last_name")["value"], "Lee");
    assert_eq!(field(p, "last_name")["from"], json!(["annie@home.test"]));
    assert_eq!(
        field(p, "phones")["value"],
        json!(["+14155550100", "+14155550199"])
    );
    assert_eq!(
        field(p, "tags")["from"],
        json!(["target", "annie@home.test"])
    );
    assert_eq!(
        p["new_alternate_emails"],
        json!(["annie@home.test", "a.lee@home.test"])
    );
    assert_eq!(
        p["moves"],
        json!({"tickets": 1, "notes": 1, "entitlements": 1, "history": 2})
    );
    assert_eq!(p["conflicts"], json!([]));
    assert_eq!(
        api.get(As::Agent, "/customers/annie@home.test").await.body,
        before_annie
    );

    // Conflicts are named; without dry_run they refuse the merge.
    api.create(json!({"email": "spam@junk.test"})).await;
    let blocked = api
        .post(As::Admin, "/customers/spam@junk.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200);
    let refused = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["spam@junk.test"], "dry_run": true}),
        )
        .await;
    assert!(
        refused.body["conflicts"].to_string().contains("is blocked"),
        "{}",
        refused.body
    );
    let own = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["ann@acme.test"], "dry_run": true}),
        )
        .await;
    assert_eq!(own.body["conflicts"][0]["field"], "from[0]", "{}", own.body);
    api.post(
        As::Agent,
        "/customers/ann@acme.test/merge",
        json!({"from": ["nobody@x.test"]}),
    )
    .await
    .assert_problem(409, "from[0]");
    api.post(
        As::Agent,
        "/customers/ann@acme.test/merge",
        json!({"from": ["annie@home.test"], "keep": {"company_id": "annie@home.test"}}),
    )
    .await
    .assert_problem(409, "keep.company_id");
    api.post(
        As::Agent,
        "/customers/ann@acme.test/merge",
        json!({"from": []}),
    )
    .await
    .assert_problem(422, "from");
    api.post(
        As::Agent,
        "/customers/ann@acme.test/merge",
        json!({"from": ["annie@home.test"], "force": true}),
    )
    .await
    .assert_problem(400, "force");

    // The merge: Annie's first name is kept, her emails now find Ann.
    let merged = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["annie@home.test"], "keep": {"first_name": "annie@home.test"}}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let id = merged.body["merge_id"].as_str().unwrap().to_string();
    assert_eq!(merged.headers["location"], format!("/merges/{id}"));
    assert_eq!(merged.body["status"], "running");
    let found = api.get(As::Agent, "/customers/annie@home.test").await;
    assert_eq!(found.body["id"], ann["id"]);
    assert_eq!(found.body["first_name"], "Annie");
    assert_eq!(found.body["last_name"], "Lee");
    assert_eq!(
        found.body["alternate_emails"],
        json!(["annie@home.test", "a.lee@home.test"])
    );
    assert_eq!(
        found.body["entitlements"],
        json!([{"name": "Gold", "start": null, "end": null}])
    );

    run_job(&api, "merge", &id).await;
    let done = api.get(As::Agent, &format!("/merges/{id}")).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    assert_eq!(
        done.body["moved"],
        json!({"tickets": 1, "notes": 1, "history": 2})
    );
    assert!(done.body["undo_until"].as_str().is_some());
    let tickets = items(&api, "/customers/ann@acme.test/tickets").await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["id"], ticket.as_str());
    let notes = items(&api, "/customers/ann@acme.test/notes").await;
    assert_eq!(notes[0]["text"], "called about the printer");
    let history = history_of(&api, "ann@acme.test").await;
    let from_annie = history
        .iter()
        .filter(|e| e["changes"].to_string().contains("prefers mail"))
        .count();
    assert_eq!(from_annie, 2, "Annie's change and creation: {history:#?}");
    assert_eq!(history[0]["by"], json!({"type": "merge", "id": id}));
    let creations = history.iter().filter(|e| e["version"] == 1).count();
    assert_eq!(creations, 2, "both creations: {history:#?}");

    // Mail from her other address now lands on Ann.
    let mail = Mail::new(api.clone());
    let later = mail
        .deliver("From: Annie <a.lee@home.test>\r\nSubject: New\r\nMessage-ID: <p2@home.test>\r\n\r\nHello.\r\n")
        .await;
    assert_eq!(later["customer_email"], "ann@acme.test", "{later}");
    assert_eq!(later["customer_created"], false);

    // Undo: the customers as they were, everything moved back.
    let undo = api
        .post(As::Agent, &format!("/merges/{id}/undo"), json!({}))
        .await;
    assert_eq!(undo.status, 202, "{}", undo.body);
    assert_eq!(undo.body["status"], "undoing");
    run_job(&api, "merge", &id).await;
    let undone = api.get(As::Agent, &format!("/merges/{id}")).await;
    assert_eq!(undone.body["status"], "undone", "{}", undone.body);
    assert_eq!(
        api.get(As::Agent, "/customers/annie@home.test").await.body,
        before_annie
    );
    let ann_now = api.get(As::Agent, "/customers/ann@acme.test").await.body;
    for key in [
        "first_name",
        "last_name",
        "phones",
        "tags",
        "alternate_emails",
        "entitlements",
    ] {
        assert_eq!(ann_now[key], before_ann[key], "{key}");
    }
    let annie_tickets = items(&api, "/customers/annie@home.test/tickets").await;
    assert_eq!(annie_tickets.len(), 1);
    assert_eq!(annie_tickets[0]["id"], ticket.as_str());
    assert_eq!(
        items(&api, "/customers/annie@home.test/notes").await.len(),
        1
    );
    assert!(
        items(&api, "/customers/ann@acme.test/notes")
            .await
            .is_empty()
    );
    let annie_history = history_of(&api, "annie@home.test").await;
    assert!(
        annie_history
            .iter()
            .any(|e| e["changes"].to_string().contains("prefers mail"))
    );
    let ann_history = history_of(&api, "ann@acme.test").await;
    let creations = ann_history.iter().filter(|e| e["version"] == 1).count();
    assert_eq!(
        creations, 1,
        "Annie's creation went back to her: {ann_history:#?}"
    );
    // The merge and its undo are both in Ann's history (her notes came from Annie and went).
    assert_eq!(ann_history[0]["by"], json!({"type": "merge", "id": id}));
    assert_eq!(ann_history.len(), 3, "{ann_history:#?}");
    assert_eq!(
        annie["id"],
        api.get(As::Agent, "/customers/a.lee@home.test").await.body["id"]
    );
    // Undoing again changes nothing.
    let again = api
        .post(As::Agent, &format!("/merges/{id}/undo"), json!({}))
        .await;
    assert_eq!(again.body["status"], "undone");
}

async fn undo_refuses_what_changed_since(api: LambdaApi) {
    let (_ann, _annie, _record) = ann_and_annie(&api).await;
    let merged = api
        .post(
            As::Agent,
            "/customers/ann@acme.test/merge",
            json!({"from": ["annie@home.test"]}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let id = merged.body["merge_id"].as_str().unwrap().to_string();
    // Still moving: no undo yet.
    api.post(As::Agent, &format!("/merges/{id}/undo"), json!({}))
        .await
        .assert_problem(409, "status");
    // Two runs at once (a redelivered stream record): each step is done once.
    tokio::join!(run_job(&api, "merge", &id), run_job(&api, "merge", &id));
    let done = api.get(As::Agent, &format!("/merges/{id}")).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    assert_eq!(
        done.body["moved"],
        json!({"tickets": 1, "notes": 1, "history": 2})
    );
    assert_eq!(items(&api, "/customers/ann@acme.test/notes").await.len(), 1);
    let current = api.get(As::Agent, "/customers/ann@acme.test").await;
    let etag = current.headers["etag"].clone();
    let edited = api
        .patch(
            As::Agent,
            "/customers/ann@acme.test",
            Some(&etag),
            json!({"last_name": "Lee-Smith"}),
        )
        .await;
    assert_eq!(edited.status, 200);
    api.post(As::Agent, &format!("/merges/{id}/undo"), json!({}))
        .await
        .assert_problem(409, "customers[ann@acme.test]");
    // Nothing was undone.
    let still = api.get(As::Agent, "/customers/annie@home.test").await;
    assert_eq!(still.body["email"], "ann@acme.test");
    assert_eq!(
        api.get(As::Agent, &format!("/merges/{id}")).await.body["status"],
        "succeeded"
    );
    api.get(As::Agent, "/merges/nope")
        .await
        .assert_problem_status(404);
    api.get(As::Anonymous, &format!("/merges/{id}"))
        .await
        .assert_problem_status(401);
}

on_both_stores!(
    merge_preview_merge_and_undo,
    undo_refuses_what_changed_since
);
