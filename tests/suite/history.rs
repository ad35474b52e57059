//! Change history through the API, on both stores: who changed which fields from what to what,
//! newest first, ending with the creation; hidden fields show that they changed, not how.

use serde_json::{Value, json};

use crate::support::{As, LambdaApi};

const SUB: &str = "7d1e2f3a-0b4c-4d5e-8f6a-7b8c9d0e1f2a";

/// Every entry of the history, following cursors `limit` at a time.
async fn whole_history(api: &LambdaApi, who: As, email: &str, limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let path = match &cursor {
            Some(c) => format!("/customers/{email}/history?limit={limit}&cursor={c}"),
            None => format!("/customers/{email}/history?limit={limit}"),
        };
        let reply = api.get(who, &path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let items = reply.body["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit);
        entries.extend(items);
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return entries,
        }
    }
    panic!("history of {email} did not end");
}

fn change<'a>(entry: &'a Value, field: &str) -> &'a Value {
    entry["changes"]
        .as_array()
        .and_then(|changes| changes.iter().find(|c| c["field"] == field))
        .unwrap_or_else(|| panic!("no change of {field} in {entry}"))
}

async fn history_records_every_change(api: LambdaApi) {
    api.post(
        As::Admin,
        "/fields",
        json!({"key": "score", "label": "Score", "type": "number",
               "view_roles": ["admin"], "edit_roles": ["admin"]}),
    )
    .await;
    api.create(
        json!({"email": "ann@a.com", "first_name": "Ann", "tags": ["vip"],
                      "custom_fields": {"score": 3}}),
    )
    .await;
    let edited = api
        .patch(
            As::Admin,
            "/customers/ann@a.com",
            Some("\"1\""),
            json!({"first_name": "Anne", "last_name": "Lee", "custom_fields": {"score": 5}}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    // A change that changes nothing records nothing.
    let same = api
        .patch(
            As::Admin,
            "/customers/ann@a.com",
            Some("\"2\""),
            json!({"first_name": "Anne"}),
        )
        .await;
    assert_eq!(same.body["version"], 2);
    // A change of primary email keeps the history (it hangs off the customer's id).
    let moved = api
        .patch(
            As::Admin,
            "/customers/ann@a.com",
            Some("\"2\""),
            json!({"email": "anne@a.com", "tags": []}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let blocked = api
        .post(As::Admin, "/customers/anne@a.com/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200);

    let history = whole_history(&api, As::Admin, "anne@a.com", 50).await;
    let versions: Vec<u64> = history
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [4, 3, 2, 1], "{history:?}");
    for entry in &history {
        assert_eq!(entry["by"], json!({"type": "caller", "id": SUB}));
        assert!(entry["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    }
    assert_eq!(history[0]["changes"].as_array().unwrap().len(), 1);
    assert_eq!(change(&history[0], "blocked")["from"], Value::Null);
    assert_eq!(change(&history[0], "blocked")["to"]["by"], SUB);
    assert_eq!(change(&history[1], "email")["from"], "ann@a.com");
    assert_eq!(change(&history[1], "email")["to"], "anne@a.com");
    assert_eq!(change(&history[1], "tags")["from"], json!(["vip"]));
    assert_eq!(change(&history[1], "tags")["to"], Value::Null);
    assert_eq!(change(&history[2], "first_name")["from"], "Ann");
    assert_eq!(change(&history[2], "first_name")["to"], "Anne");
    assert_eq!(change(&history[2], "last_name")["from"], Value::Null);
    assert_eq!(change(&history[2], "custom_fields.score")["from"], 3);
    assert_eq!(change(&history[2], "custom_fields.score")["to"], 5);
    // The creation holds the first values, though every one of them changed since.
    let created = &history[3];
    assert_eq!(change(created, "email")["to"], "ann@a.com");
    assert_eq!(change(created, "first_name")["to"], "Ann");
    assert_eq!(change(created, "tags")["to"], json!(["vip"]));
    assert_eq!(change(created, "custom_fields.score")["to"], 3);
    assert!(
        created["changes"].as_array().unwrap().iter().all(|c| {
            c["from"].is_null() && c["field"] != "last_name" && c["field"] != "blocked"
        })
    );

    // Pages of one give the same entries in the same order.
    assert_eq!(
        whole_history(&api, As::Admin, "anne@a.com", 1).await,
        history
    );
    assert_eq!(
        whole_history(&api, As::Admin, "anne@a.com", 3).await,
        history
    );

    // An agent sees that the hidden field changed, never its values.
    let seen = whole_history(&api, As::Agent, "anne@a.com", 50).await;
    let score = change(&seen[2], "custom_fields.score");
    assert_eq!(score["hidden"], true);
    assert!(score.get("from").is_none() && score.get("to").is_none());
    assert_eq!(change(&seen[2], "first_name")["to"], "Anne");

    // Errors: an unknown customer, a forged cursor, anonymous callers.
    api.get(As::Admin, "/customers/nobody@x.com/history")
        .await
        .assert_problem_status(404);
    let notes = api
        .get(As::Admin, "/customers/anne@a.com/history?cursor=bm90ZXM")
        .await;
    notes.assert_problem(400, "cursor");
    api.get(As::Anonymous, "/customers/anne@a.com/history")
        .await
        .assert_problem_status(401);

    // Deleting the customer removes the history: a new customer of that email starts afresh.
    let deleted = api.delete(As::Admin, "/customers/anne@a.com").await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    api.create(json!({"email": "anne@a.com"})).await;
    let fresh = whole_history(&api, As::Admin, "anne@a.com", 50).await;
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0]["version"], 1);
}

/// Imports and inbound mail name themselves as the author of what they change.
async fn imports_and_batches_are_recorded(api: LambdaApi) {
    let reply = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [{"email": "bob@b.com", "first_name": "Bob"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [{"email": "bob@b.com", "phones": ["+14155550100"]}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let history = whole_history(&api, As::Agent, "bob@b.com", 50).await;
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(change(&history[0], "phones")["to"], json!(["+14155550100"]));
    assert_eq!(change(&history[1], "first_name")["to"], "Bob");
    assert!(
        history[1]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["field"] != "phones")
    );
}

/// Companies keep their history too, and a domain back-fill is filed on each customer it moves.
async fn company_changes_are_recorded(api: LambdaApi) {
    api.create(json!({"email": "cy@acme.com"})).await;
    let created = api
        .post(
            As::Admin,
            "/companies",
            json!({"name": "Acme", "notes": "Key account"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let renamed = api
        .patch(
            As::CompanyManager,
            &format!("/companies/{id}"),
            Some("\"1\""),
            json!({"name": "Acme Corp", "notes": null}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let added = api
        .post(
            As::Admin,
            &format!("/companies/{id}/domains"),
            json!({"domain": "acme.com", "apply_to_existing": true}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);

    let history = api
        .get(As::Agent, &format!("/companies/{id}/history"))
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    let entries = history.body["items"].as_array().unwrap();
    let versions: Vec<u64> = entries
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1], "{}", history.body);
    assert_eq!(change(&entries[0], "domains")["to"], json!(["acme.com"]));
    assert_eq!(change(&entries[1], "name")["from"], "Acme");
    assert_eq!(change(&entries[1], "name")["to"], "Acme Corp");
    assert_eq!(change(&entries[1], "notes")["to"], Value::Null);
    assert_eq!(change(&entries[2], "name")["to"], "Acme");
    assert_eq!(change(&entries[2], "notes")["to"], "Key account");
    for entry in entries {
        assert_eq!(entry["by"]["type"], "caller");
    }
    api.get(As::Agent, "/companies/nope/history")
        .await
        .assert_problem_status(404);

    let customer = api.get(As::Agent, "/customers/cy@acme.com/history").await;
    let moved = &customer.body["items"][0];
    assert_eq!(moved["version"], 2, "{}", customer.body);
    assert_eq!(change(moved, "company_id")["from"], Value::Null);
    assert_eq!(change(moved, "company_id")["to"], id.as_str());
}

on_both_stores!(
    history_records_every_change,
    imports_and_batches_are_recorded,
    company_changes_are_recorded
);
