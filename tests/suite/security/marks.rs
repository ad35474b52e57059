//! Address marks hold on every path (findings 6 and 9): a block and a suppression belong to
//! the address, so deleting or re-creating the customer, editing its emails, a batch and
//! inbound mail lift neither; only an admin lifts one, explicitly.

use crate::inbound::{Mail, plain};
use crate::support::{As, LambdaApi, run_job};
use serde_json::{Value, json};

async fn mail_from(mail: &Mail, from: &str) -> Value {
    let id = format!("<{}@mail.test>", uuid::Uuid::new_v4().simple());
    mail.deliver_now(&plain(from, "Hello", &id, &[], "Hi.\n"))
        .await
}

async fn etag(api: &LambdaApi, email: &str) -> String {
    let current = api.get(As::Admin, &format!("/customers/{email}")).await;
    assert_eq!(current.status, 200, "{}", current.body);
    current.headers["etag"].clone()
}

/// Finding 6: an agent cannot undo an admin's block by deleting the customer, nor by giving
/// the address to a new one; addresses gained while blocked are blocked too.
async fn a_block_outlives_the_customer(api: LambdaApi) {
    api.create(json!({"email": "spam@junk.test", "alternate_emails": ["spam2@junk.test"]}))
        .await;
    let blocked = api
        .post(As::Admin, "/customers/spam@junk.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    let tag = etag(&api, "spam@junk.test").await;
    let gained = api
        .patch(
            As::Agent,
            "/customers/spam@junk.test",
            Some(&tag),
            json!({"alternate_emails": ["spam2@junk.test", "spam3@junk.test"]}),
        )
        .await;
    assert_eq!(gained.status, 200, "{}", gained.body);
    let marks = api.get(As::Admin, "/addresses/spam3@junk.test").await;
    assert_eq!(marks.status, 200, "{}", marks.body);
    assert!(marks.body["blocked"]["by"].is_string(), "{}", marks.body);
    api.get(As::Agent, "/addresses/spam@junk.test")
        .await
        .assert_problem_status(403);

    let deleted = api.delete(As::Agent, "/customers/spam@junk.test").await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let mail = Mail::new(api.clone());
    for address in ["spam@junk.test", "SPAM2@junk.test", "spam3@junk.test"] {
        let record = mail_from(&mail, address).await;
        assert_eq!(record["status"], "ignored", "{address}: {record}");
        assert_eq!(record["reason"], "blocked", "{record}");
    }
    api.get(As::Agent, "/customers/spam@junk.test")
        .await
        .assert_problem_status(404);
    // Re-created by an agent: blocked from the start.
    let again = api
        .post(As::Agent, "/customers", json!({"email": "spam@junk.test"}))
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert!(again.body["blocked"].is_object(), "{}", again.body);
    // Nor may an agent give a blocked address to a customer who is not blocked.
    api.create(json!({"email": "fine@ok.test"})).await;
    let tag = etag(&api, "fine@ok.test").await;
    api.patch(
        As::Agent,
        "/customers/fine@ok.test",
        Some(&tag),
        json!({"alternate_emails": ["spam2@junk.test"]}),
    )
    .await
    .assert_problem(409, "alternate_emails[0]");

    // Only an admin lifts it, explicitly: the customer holding it is unblocked with it.
    api.delete(As::Agent, "/addresses/spam@junk.test/marks/blocked")
        .await
        .assert_problem_status(403);
    let lifted = api
        .delete(As::Admin, "/addresses/spam@junk.test/marks/blocked")
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(lifted.body["blocked"], Value::Null);
    let customer = api.get(As::Agent, "/customers/spam@junk.test").await;
    assert_eq!(customer.body["blocked"], Value::Null, "{}", customer.body);
    assert_eq!(
        mail_from(&mail, "spam@junk.test").await["status"],
        "ingested"
    );
    assert_eq!(
        mail_from(&mail, "spam3@junk.test").await["status"],
        "ignored",
        "each address is lifted on its own"
    );
    api.delete(As::Admin, "/addresses/spam@junk.test/marks/sticky")
        .await
        .assert_problem_status(404);
}

/// Finding 9: after an erasure with suppression, no path makes a customer with the address
/// again or gives it to one: the API, a batch, an edit, inbound mail. An admin lifts it.
async fn a_suppression_holds_on_every_path(api: LambdaApi) {
    api.create(json!({"email": "gone@acme.test", "alternate_emails": ["gone@home.test"]}))
        .await;
    api.create(json!({"email": "bob@acme.test"})).await;
    let requested = api
        .post(
            As::Admin,
            "/customers/gone@acme.test/erase",
            json!({"suppress": true}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let erasure = requested.body["id"].as_str().unwrap().to_string();
    run_job(&api, "erasure", &erasure).await;

    for address in ["gone@acme.test", " GONE@home.test "] {
        api.post(As::Agent, "/customers", json!({"email": address}))
            .await
            .assert_problem(409, "email");
    }
    let batch = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"emails": "gone@acme.test, fresh@acme.test"}),
        )
        .await;
    assert_eq!(
        batch.body["results"][0]["status"], "error",
        "{}",
        batch.body
    );
    assert_eq!(batch.body["results"][0]["errors"][0]["field"], "email");
    assert_eq!(batch.body["results"][1]["status"], "created");
    let tag = etag(&api, "bob@acme.test").await;
    for (change, field) in [
        (
            json!({"alternate_emails": ["gone@home.test"]}),
            "alternate_emails[0]",
        ),
        (json!({"email": "gone@acme.test"}), "email"),
    ] {
        api.patch(As::Agent, "/customers/bob@acme.test", Some(&tag), change)
            .await
            .assert_problem(409, field);
    }
    let mail = Mail::new(api.clone());
    let record = mail_from(&mail, "gone@home.test").await;
    assert_eq!(record["reason"], "erased", "{record}");

    let marks = api.get(As::Admin, "/addresses/gone@acme.test").await;
    assert_eq!(
        marks.body["suppressed"]["by"],
        json!(format!("erasure {erasure}")),
        "{}",
        marks.body
    );
    api.delete(As::Agent, "/addresses/gone@acme.test/marks/suppressed")
        .await
        .assert_problem_status(403);
    let lifted = api
        .delete(As::Admin, "/addresses/gone@acme.test/marks/suppressed")
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    let created = api
        .post(As::Agent, "/customers", json!({"email": "gone@acme.test"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    api.post(As::Agent, "/customers", json!({"email": "gone@home.test"}))
        .await
        .assert_problem(409, "email");
}

on_both_stores!(
    a_block_outlives_the_customer,
    a_suppression_holds_on_every_path
);
