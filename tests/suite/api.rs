//! The HTTP API function, fed API Gateway v2 events (with JWT-authorizer claims) as Lambda
//! would. Flows that depend on the store run on both stores; the rest on SQLite.

use serde_json::{Value, json};

use crate::support::{As, LambdaApi};

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

pub(crate) async fn listing_with_cursors_and_search(api: LambdaApi) {
    for (email, first, last) in [
        ("carol@a.com", "Carol", "King"),
        ("dave@b.com", "Dave", "Carter"),
        ("erin@c.com", "Erin", "Moss"),
        ("cara@d.com", "Cara", "Diaz"),
        ("frank@e.com", "Frank", "Stone"),
    ] {
        api.create(json!({"email": email, "first_name": first, "last_name": last}))
            .await;
    }
    let mut emails = Vec::new();
    let mut path = "/customers?limit=2".to_string();
    for _ in 0..10 {
        let page = api.get(As::Agent, &path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        emails.extend(
            items
                .iter()
                .map(|c| c["email"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/customers?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        emails,
        vec![
            "cara@d.com",
            "carol@a.com",
            "dave@b.com",
            "erin@c.com",
            "frank@e.com"
        ]
    );

    // q: case-insensitive prefix of email, first or last name.
    let found = api.get(As::Agent, "/customers?q=CAR").await;
    let mut matched: Vec<&str> = found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    matched.sort();
    assert_eq!(matched, vec!["cara@d.com", "carol@a.com", "dave@b.com"]);

    // A cursor from one query is refused for another.
    let first = api.get(As::Agent, "/customers?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    api.get(
        As::Agent,
        &format!("/customers?limit=1&q=x&cursor={cursor}"),
    )
    .await
    .assert_problem(400, "cursor");
    api.get(As::Agent, "/customers?cursor=not-a-cursor")
        .await
        .assert_problem(400, "cursor");
    api.get(As::Agent, "/customers?limit=1000")
        .await
        .assert_problem(400, "limit");
    api.get(As::Agent, "/customers?sort=name")
        .await
        .assert_problem(400, "sort");
}

async fn companies_domains_and_backfill(api: LambdaApi) {
    // Customers who exist before their company does.
    api.create(json!({"email": "early@acme.com"})).await;
    api.create(json!({"email": "other@elsewhere.com"})).await;

    let acme = api
        .post(
            As::CompanyManager,
            "/companies",
            json!({"name": "Acme", "domains": ["Acme.com"]}),
        )
        .await;
    assert_eq!(acme.status, 201, "{}", acme.body);
    let acme_id = acme.body["id"].as_str().unwrap().to_string();
    api.post(As::CompanyManager, "/companies", json!({"name": "ACME"}))
        .await
        .assert_problem(409, "name");
    api.post(
        As::CompanyManager,
        "/companies",
        json!({"name": "Webmail Inc", "domains": ["gmail.com"]}),
    )
    .await
    .assert_problem(422, "domains[0]");
    api.post(
        As::CompanyManager,
        "/companies",
        json!({"name": "Dup", "domains": ["acme.com"]}),
    )
    .await
    .assert_problem(409, "domains");

    // Domain matching on create; an explicit company wins.
    let matched = api.create(json!({"email": "new@acme.com"})).await;
    assert_eq!(matched["company_id"], json!(acme_id));
    let beta = api
        .post(As::Admin, "/companies", json!({"name": "Beta"}))
        .await
        .body;
    let explicit = api
        .create(json!({"email": "contractor@acme.com", "company_id": beta["id"]}))
        .await;
    assert_eq!(explicit["company_id"], beta["id"]);
    // The customer created before the company is untouched until a back-fill.
    assert_eq!(
        api.get(As::Agent, "/customers/early@acme.com").await.body["company_id"],
        Value::Null
    );

    // Adding a domain with apply_to_existing assigns company-less customers of that domain.
    let beta_id = beta["id"].as_str().unwrap();
    api.create(json!({"email": "x@beta.io"})).await;
    let added = api
        .post(
            As::CompanyManager,
            &format!("/companies/{beta_id}/domains"),
            json!({"domain": "beta.io", "apply_to_existing": true}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["assigned_customers"], 1);
    assert_eq!(
        api.get(As::Agent, "/customers/x@beta.io").await.body["company_id"],
        beta["id"]
    );
    api.post(
        As::CompanyManager,
        &format!("/companies/{beta_id}/domains"),
        json!({"domain": "hotmail.co.uk"}),
    )
    .await
    .assert_problem(422, "domain");

    // Back-fill for the domain acme already had: re-adding it with apply_to_existing picks up `early`.
    let refill = api
        .post(
            As::CompanyManager,
            &format!("/companies/{acme_id}/domains"),
            json!({"domain": "acme.com", "apply_to_existing": true}),
        )
        .await;
    assert_eq!(refill.body["assigned_customers"], 1);
    assert_eq!(
        api.get(As::Agent, "/customers/early@acme.com").await.body["company_id"],
        json!(acme_id)
    );

    let members = api
        .get(As::Agent, &format!("/customers?company_id={acme_id}"))
        .await;
    let emails: Vec<&str> = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["early@acme.com", "new@acme.com"]);

    // Deleting a company keeps its customers, without a company.
    assert_eq!(
        api.delete(As::CompanyManager, &format!("/companies/{acme_id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get(As::Agent, "/customers/new@acme.com").await.body["company_id"],
        Value::Null
    );
    assert_eq!(
        api.get(As::Agent, &format!("/companies/{acme_id}"))
            .await
            .status,
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

on_both_stores!(
    customer_lifecycle,
    blocking_customers,
    listing_with_cursors_and_search,
    companies_domains_and_backfill
);

#[tokio::test]
async fn roles_and_permissions() {
    let api = LambdaApi::on_sqlite().await;
    api.get(As::Anonymous, "/customers")
        .await
        .assert_problem_status(401);
    // Agents without manage_companies may not touch companies or set a customer's company.
    api.post(As::Agent, "/companies", json!({"name": "Nope"}))
        .await
        .assert_problem_status(403);
    let company = api
        .post(As::Admin, "/companies", json!({"name": "Acme"}))
        .await
        .body;
    api.post(
        As::Agent,
        "/customers",
        json!({"email": "a@b.com", "company_id": company["id"]}),
    )
    .await
    .assert_problem(403, "company_id");
    api.create(json!({"email": "a@b.com"})).await;
    api.patch(
        As::Agent,
        "/customers/a@b.com",
        Some("\"1\""),
        json!({"company_id": company["id"]}),
    )
    .await
    .assert_problem(403, "company_id");
    let id = company["id"].as_str().unwrap();
    api.patch(
        As::Agent,
        &format!("/companies/{id}"),
        None,
        json!({"name": "X"}),
    )
    .await
    .assert_problem_status(403);
    assert_eq!(
        api.get(As::Agent, &format!("/companies/{id}")).await.status,
        200,
        "agents may read companies"
    );
    let managed = api
        .patch(
            As::CompanyManager,
            "/customers/a@b.com",
            Some("\"1\""),
            json!({"company_id": company["id"]}),
        )
        .await;
    assert_eq!(managed.status, 200, "{}", managed.body);
    // Field definitions are for admins only.
    api.get(As::Agent, "/fields")
        .await
        .assert_problem_status(403);
    api.post(
        As::CompanyManager,
        "/fields",
        json!({"key": "k", "label": "K", "type": "text"}),
    )
    .await
    .assert_problem_status(403);
}

#[tokio::test]
async fn custom_fields_are_typed_and_permissioned() {
    let api = LambdaApi::on_sqlite().await;
    let plan = api
        .post(
            As::Admin,
            "/fields",
            json!({"key": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]}),
        )
        .await;
    assert_eq!(plan.status, 201, "{}", plan.body);
    api.post(As::Admin, "/fields", json!({"key": "secret_score", "label": "Score", "type": "number", "view_roles": ["admin"], "edit_roles": ["admin"]}))
        .await;
    api.post(
        As::Admin,
        "/fields",
        json!({"key": "renewal", "label": "Renewal", "type": "date"}),
    )
    .await;
    api.post(
        As::Admin,
        "/fields",
        json!({"key": "Bad Key", "label": "x", "type": "text"}),
    )
    .await
    .assert_problem(422, "key");
    api.post(
        As::Admin,
        "/fields",
        json!({"key": "pick", "label": "x", "type": "select"}),
    )
    .await
    .assert_problem(422, "options");
    api.post(
        As::Admin,
        "/fields",
        json!({"key": "plan", "label": "again", "type": "text"}),
    )
    .await
    .assert_problem(409, "key");

    // Values are checked against their definitions.
    let bad = api
        .post(As::Agent, "/customers", json!({"email": "c@d.com", "custom_fields": {"plan": "Gold", "renewal": "2026-02-30", "nope": 1}}))
        .await;
    bad.assert_problem(422, "custom_fields.plan");
    bad.assert_problem(422, "custom_fields.renewal");
    bad.assert_problem(422, "custom_fields.nope");
    assert_eq!(
        api.get(As::Agent, "/customers/c@d.com").await.status,
        404,
        "no partial write"
    );

    // An agent may not write an admin-only field, and never sees it: for them it does not exist.
    let hidden = api
        .post(
            As::Agent,
            "/customers",
            json!({"email": "c@d.com", "custom_fields": {"secret_score": 3}}),
        )
        .await;
    hidden.assert_problem(422, "custom_fields.secret_score");
    assert_eq!(
        hidden.body["errors"][0]["message"], "is not a defined custom field",
        "{}",
        hidden.body
    );
    let created = api.create(json!({"email": "c@d.com", "custom_fields": {"plan": "pro", "secret_score": 3, "renewal": "2027-01-31"}})).await;
    assert_eq!(
        created["custom_fields"]["plan"], "Pro",
        "options are stored as defined"
    );
    let seen_by_agent = api.get(As::Agent, "/customers/c@d.com").await.body;
    assert_eq!(
        seen_by_agent["custom_fields"],
        json!({"plan": "Pro", "renewal": "2027-01-31"})
    );
    let listed = api.get(As::Agent, "/customers").await.body;
    assert!(
        listed["items"][0]["custom_fields"]
            .get("secret_score")
            .is_none()
    );
    assert_eq!(
        api.get(As::Admin, "/customers/c@d.com").await.body["custom_fields"]["secret_score"],
        3
    );

    // Merge patch on custom_fields: key by key, null removes.
    let patched = api
        .patch(
            As::Agent,
            "/customers/c@d.com",
            Some("\"1\""),
            json!({"custom_fields": {"renewal": null}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["custom_fields"], json!({"plan": "Pro"}));
    assert_eq!(
        api.get(As::Admin, "/customers/c@d.com").await.body["custom_fields"]["secret_score"],
        3,
        "hidden field kept"
    );

    // A field made required must be present on new customers.
    let field = api.get(As::Admin, "/fields/renewal").await;
    let etag = field.header("etag").unwrap().to_string();
    let required = api
        .patch(
            As::Admin,
            "/fields/renewal",
            Some(&etag),
            json!({"required": true, "label": "Renewal date"}),
        )
        .await;
    assert_eq!(required.status, 200, "{}", required.body);
    api.patch(As::Admin, "/fields/renewal", None, json!({"type": "text"}))
        .await
        .assert_problem(422, "type");
    api.post(As::Agent, "/customers", json!({"email": "e@f.com"}))
        .await
        .assert_problem(422, "custom_fields.renewal");
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
async fn bad_input_is_a_problem_never_a_500() {
    let api = LambdaApi::on_sqlite().await;
    let raw = |body: &str| api.call(As::Agent, "POST", "/customers", &[], Some(body.to_string()));
    raw("{\"email\": ").await.assert_problem(400, "body");
    raw("").await.assert_problem(400, "body");
    raw("[1,2]").await.assert_problem(400, "body");
    raw("{\"email\": \"a@b.com\", \"favourite_color\": \"red\"}")
        .await
        .assert_problem(400, "favourite_color");
    raw("{\"email\": 42}").await.assert_problem(400, "email");
    raw("{\"email\": \"a@b.com\", \"address\": {\"planet\": \"Mars\"}}")
        .await
        .assert_problem(400, "address.planet");
    raw("{\"email\": \"a@b.com\", \"portal_access\": \"everyone\"}")
        .await
        .assert_problem(400, "portal_access");
    raw("{\"email\": \"a@b.com\", \"id\": \"mine\"}")
        .await
        .assert_problem(400, "id");
    raw("{\"first_name\": \"No email\"}")
        .await
        .assert_problem(422, "email");
    raw("{\"email\": \"not an email\"}")
        .await
        .assert_problem(422, "email");
    raw("{\"email\": \"a@b.com\", \"alternate_emails\": [\"ok@b.com\", \"bad@\"]}")
        .await
        .assert_problem(422, "alternate_emails[1]");
    raw("{\"email\": \"a@b.com\", \"entitlements\": [{\"name\": \"SLA\", \"start\": \"2026-05-01\", \"end\": \"2026-04-01\"}]}")
        .await
        .assert_problem(422, "entitlements[0].end");
    raw("{\"email\": \"a@b.com\", \"social\": {\"twitter\": \"javascript:alert(1)\"}}")
        .await
        .assert_problem(422, "social.twitter");
    let big = format!(
        "{{\"email\": \"a@b.com\", \"notes\": \"{}\"}}",
        "x".repeat(1024 * 1024)
    );
    raw(&big).await.assert_problem(413, "body");
    api.call(
        As::Agent,
        "POST",
        "/customers",
        &[("content-type", "text/csv")],
        Some("email\na@b.com".into()),
    )
    .await
    .assert_problem(400, "Content-Type");
    // None of the refused requests wrote anything.
    assert_eq!(
        api.get(As::Agent, "/customers").await.body["items"],
        json!([])
    );

    api.get(As::Agent, "/nowhere")
        .await
        .assert_problem_status(404);
    api.call(As::Agent, "PUT", "/customers", &[], Some("{}".into()))
        .await
        .assert_problem(405, "method");
    api.patch(As::Agent, "/customers/a@b.com", Some("abc"), json!({}))
        .await
        .assert_problem(400, "If-Match");
    api.get(As::Agent, "/customers/not-an-email")
        .await
        .assert_problem_status(404);
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

#[tokio::test]
async fn openapi_describes_exactly_the_routes_the_router_serves() {
    let api = LambdaApi::on_sqlite().await;
    let reply = api.get(As::Anonymous, "/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let doc = reply.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described = std::collections::BTreeSet::new();
    let mut local_only = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            described.insert((method.clone(), path.clone()));
            if operation["x-local-only"] == true {
                local_only.insert((method.clone(), path.clone()));
            }
        }
    }
    let owned = |routes: &[(&str, &str)]| -> std::collections::BTreeSet<(String, String)> {
        routes
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect()
    };
    let shared = owned(helpdesk_shared::http::ROUTES);
    let local = owned(helpdesk::local::LOCAL_ROUTES);
    let served: std::collections::BTreeSet<_> = shared.union(&local).cloned().collect();
    assert_eq!(described, served, "openapi.json and the routers disagree");
    assert_eq!(
        local_only, local,
        "local-only routes are marked x-local-only"
    );

    // Every schema reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "unresolved $ref {name}"
        );
    }
    // And each described route answers as routed: never the catch-all's 404 or a 405.
    for (method, path) in &shared {
        let concrete = path.replace('{', "x").replace('}', "");
        let reply = api
            .call(As::Admin, &method.to_uppercase(), &concrete, &[], None)
            .await;
        assert_ne!(reply.status, 405, "{method} {path}");
        assert_ne!(reply.body["detail"], "route not found", "{method} {path}");
    }
}
