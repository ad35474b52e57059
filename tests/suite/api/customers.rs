//! Customers through the API: their life, listings, blocking, batches.

use super::*;

async fn customer_lifecycle(api: LambdaApi) {
    let created = api
        .create(json!({"email": "  Ann.Lee@Example.COM ", "first_name": "Ann", "last_name": "Lee",
                       "alternate_emails": ["ann@home.org"], "phones": ["+1 555 0100"], "tags": ["VIP"]}))
        .await;
    assert_eq!(created["email"], "ann.lee@example.com");
    assert_eq!(
        created["welcome"],
        Value::Null,
        "no welcome email unless asked for"
    );
    let welcomed = api
        .create(json!({"email": "new@example.com", "send_welcome": true}))
        .await;
    assert_eq!(
        welcomed["welcome"]["status"], "pending",
        "send_welcome is recorded for the notifier"
    );
    assert_eq!(created["tags"], json!(["vip"]));
    assert_eq!(created["version"], 1);

    // Case-insensitive, and by alternate email; ETag carries the version.
    let fetched = api.get(As::Agent, "/customers/ANN.LEE@example.com").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.header("etag"), Some("\"1\""));
    assert_eq!(fetched.body["id"], created["id"]);
    let by_alternate = api.get(As::Agent, "/customers/Ann@Home.org").await;
    assert_eq!(by_alternate.body["id"], created["id"]);

    // Duplicate primary or alternate email: 409.
    api.post(As::Agent, "/customers", json!({"email": "ann@home.org"}))
        .await
        .assert_problem(409, "email");
    api.post(
        As::Agent,
        "/customers",
        json!({"email": "x@y.com", "alternate_emails": ["ANN.LEE@example.com"]}),
    )
    .await
    .assert_problem(409, "email");

    // Updates need If-Match: 428 without, 412 when stale.
    let path = "/customers/ann.lee@example.com";
    api.patch(As::Agent, path, None, json!({"first_name": "Anne"}))
        .await
        .assert_problem(428, "If-Match");
    api.patch(
        As::Agent,
        path,
        Some("\"7\""),
        json!({"first_name": "Anne"}),
    )
    .await
    .assert_problem(412, "If-Match");
    let updated = api
        .patch(
            As::Agent,
            path,
            Some("\"1\""),
            json!({"first_name": "Anne", "phones": null, "email": "anne@example.com"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(updated.body["first_name"], "Anne");
    assert_eq!(
        updated.body["last_name"], "Lee",
        "merge patch keeps what it does not name"
    );
    assert_eq!(updated.body["phones"], json!([]), "null removes");
    assert_eq!(
        api.get(As::Agent, path).await.status,
        404,
        "the old primary email is released"
    );
    assert_eq!(
        api.get(As::Agent, "/customers/anne@example.com").await.body["id"],
        created["id"]
    );

    // Notes follow the customer through the email change.
    let note = api
        .post(
            As::Agent,
            "/customers/anne@example.com/notes",
            json!({"text": "Prefers email"}),
        )
        .await;
    assert_eq!(note.status, 201);
    assert_eq!(note.body["author"], "7d1e2f3a-0b4c-4d5e-8f6a-7b8c9d0e1f2a");
    let notes = api.get(As::Agent, "/customers/ann@home.org/notes").await;
    assert_eq!(notes.body["items"][0]["text"], "Prefers email");

    let deleted = api.delete(As::Agent, "/customers/anne@example.com").await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        api.get(As::Agent, "/customers/anne@example.com")
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(As::Agent, "/customers/ann@home.org").await.status,
        404
    );
}

async fn blocking_customers(api: LambdaApi) {
    for email in ["ann@a.com", "bob@b.com", "cat@c.com", "dan@d.com"] {
        api.create(json!({"email": email, "first_name": "X"})).await;
    }
    let blocked = |api: &LambdaApi, path: &'static str| {
        let api = api.clone();
        async move {
            let reply = api.get(As::Agent, path).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            let emails: Vec<String> = reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["email"].as_str().unwrap().to_string())
                .collect();
            (
                emails,
                reply.body["next_cursor"].as_str().map(str::to_string),
            )
        }
    };
    // Only admins block and unblock.
    api.post(As::Agent, "/customers/ann@a.com/block", json!({}))
        .await
        .assert_problem_status(403);
    api.delete(As::Agent, "/customers/ann@a.com/block")
        .await
        .assert_problem_status(403);
    api.post(As::Admin, "/customers/nobody@x.com/block", json!({}))
        .await
        .assert_problem_status(404);

    let reply = api
        .post(As::Admin, "/customers/ANN@a.com/block", json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body["blocked"]["by"]
            .as_str()
            .is_some_and(|by| !by.is_empty())
    );
    assert!(reply.body["blocked"]["at"].as_str().is_some());
    let version = reply.body["version"].clone();
    // Blocking again changes nothing.
    let again = api
        .post(As::Admin, "/customers/ann@a.com/block", json!({}))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["version"], version);
    assert_eq!(again.body["blocked"], reply.body["blocked"]);
    let shown = api.get(As::Agent, "/customers/ann@a.com").await;
    assert_eq!(shown.body["blocked"], reply.body["blocked"]);
    // Editing the record does not unblock: `blocked` is not a writable field.
    let etag = shown.headers["etag"].clone();
    let edited = api
        .patch(
            As::Admin,
            "/customers/ann@a.com",
            Some(&etag),
            json!({"blocked": null, "last_name": "Lee"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.body["blocked"], reply.body["blocked"]);

    for email in ["cat@c.com", "dan@d.com"] {
        let reply = api
            .post(As::Admin, &format!("/customers/{email}/block"), json!({}))
            .await;
        assert_eq!(reply.status, 200);
    }
    let (page, cursor) = blocked(&api, "/customers?blocked=true&limit=2").await;
    assert_eq!(page, ["ann@a.com", "cat@c.com"]);
    let cursor = cursor.expect("a second page");
    let second = api
        .get(
            As::Agent,
            &format!("/customers?blocked=true&limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(second.body["items"][0]["email"], "dan@d.com");
    assert!(second.body["next_cursor"].is_null());
    // The whole listing still has everyone; blocked=false is the same.
    assert_eq!(blocked(&api, "/customers").await.0.len(), 4);
    assert_eq!(blocked(&api, "/customers?blocked=false").await.0.len(), 4);
    // A cursor of the whole listing is not one of the blocked listing.
    let all = api.get(As::Agent, "/customers?limit=1").await;
    let other = all.body["next_cursor"].as_str().unwrap();
    api.get(
        As::Agent,
        &format!("/customers?blocked=true&cursor={other}"),
    )
    .await
    .assert_problem(400, "cursor");
    api.get(As::Agent, "/customers?blocked=true&q=a")
        .await
        .assert_problem(400, "blocked");
    api.get(As::Agent, "/customers?blocked=yes")
        .await
        .assert_problem(400, "blocked");

    // A blocked customer who changes primary email stays blocked, under the new email.
    let cat = api.get(As::Agent, "/customers/cat@c.com").await;
    let etag = cat.headers["etag"].clone();
    let moved = api
        .patch(
            As::Admin,
            "/customers/cat@c.com",
            Some(&etag),
            json!({"email": "cathy@c.com"}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        blocked(&api, "/customers?blocked=true").await.0,
        ["ann@a.com", "cathy@c.com", "dan@d.com"]
    );
    // Deleted or unblocked, a customer leaves the listing.
    assert_eq!(
        api.delete(As::Admin, "/customers/dan@d.com").await.status,
        204
    );
    let unblocked = api.delete(As::Admin, "/customers/ann@a.com/block").await;
    assert_eq!(unblocked.status, 200, "{}", unblocked.body);
    assert!(unblocked.body["blocked"].is_null());
    assert_eq!(
        blocked(&api, "/customers?blocked=true").await.0,
        ["cathy@c.com"]
    );
    // Unblocking an unblocked customer changes nothing.
    let again = api.delete(As::Admin, "/customers/ann@a.com/block").await;
    assert_eq!(again.body["version"], unblocked.body["version"]);
}

#[tokio::test]
async fn batch_creates_updates_and_reports_per_item() {
    let api = LambdaApi::on_sqlite().await;
    api.create(
        json!({"email": "known@x.com", "first_name": "Known", "alternate_emails": ["alias@x.com"]}),
    )
    .await;
    let reply = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [
                {"email": "new@x.com", "first_name": "New"},
                {"email": "ALIAS@x.com", "last_name": "Person"},
                {"email": "not-an-email"},
                {"email": "known@x.com", "first_name": "Known"},
                {"email": "new@x.com", "tags": ["later"]}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let statuses: Vec<&str> = reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["created", "updated", "error", "unchanged", "updated"]
    );
    assert_eq!(reply.body["results"][2]["errors"][0]["field"], "email");
    let known = api.get(As::Agent, "/customers/known@x.com").await.body;
    assert_eq!(
        known["last_name"], "Person",
        "an alternate email updates its customer"
    );
    assert_eq!(known["first_name"], "Known");
    assert_eq!(
        api.get(As::Agent, "/customers/new@x.com").await.body["tags"],
        json!(["later"])
    );

    let pasted = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"emails": "a@p.com, b@p.com,,bad"}),
        )
        .await;
    let statuses: Vec<&str> = pasted.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["created", "created", "error"]);

    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"email": format!("u{i}@x.com")}))
        .collect();
    api.post(
        As::Agent,
        "/customers/batch",
        json!({"customers": too_many}),
    )
    .await
    .assert_problem(422, "customers");
    assert_eq!(
        api.get(As::Agent, "/customers/u0@x.com").await.status,
        404,
        "an oversized batch writes nothing"
    );
    api.post(As::Agent, "/customers/batch", json!({"people": []}))
        .await
        .assert_problem(400, "people");
}

#[tokio::test]
async fn admin_company_id_is_checked() {
    let api = LambdaApi::on_sqlite().await;
    api.post(
        As::Admin,
        "/customers",
        json!({"email": "a@b.com", "company_id": "no-such-company"}),
    )
    .await
    .assert_problem(422, "company_id");
}

on_both_stores!(customer_lifecycle, blocking_customers,);
