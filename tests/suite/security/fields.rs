//! Custom field permissions hold whatever the request's shape.

use super::*;

#[tokio::test]
async fn agents_change_only_fields_they_may_edit_whatever_the_patch_shape() {
    let api = LambdaApi::on_sqlite().await;
    fields_with_permissions(&api).await;
    api.create(json!({"email": "c@d.com",
        "custom_fields": {"secret": 3, "tier": "gold", "plan": "pro"}}))
        .await;

    // `custom_fields: null` clears what the agent may edit, and nothing else.
    let wiped = api
        .patch(
            As::Agent,
            "/customers/c@d.com",
            Some("\"1\""),
            json!({"custom_fields": null}),
        )
        .await;
    assert_eq!(wiped.status, 200, "{}", wiped.body);
    assert_eq!(wiped.body["custom_fields"], json!({"tier": "gold"}));
    never_mentions(&wiped.body, "secret");
    let stored = api.get(As::Admin, "/customers/c@d.com").await.body;
    assert_eq!(
        stored["custom_fields"],
        json!({"secret": 3, "tier": "gold"}),
        "the admin-only and read-only fields are untouched"
    );

    // Naming the hidden field with null is a no-op, as for an undefined one.
    let etag = format!("\"{}\"", stored["version"]);
    let named = api
        .patch(
            As::Agent,
            "/customers/c@d.com",
            Some(&etag),
            json!({"custom_fields": {"secret": null, "plan": "free"}}),
        )
        .await;
    assert_eq!(named.status, 200, "{}", named.body);
    let stored = api.get(As::Admin, "/customers/c@d.com").await.body;
    assert_eq!(
        stored["custom_fields"],
        json!({"secret": 3, "tier": "gold", "plan": "free"})
    );

    // A field the agent sees but may not edit is refused by name, whatever the value.
    let etag = format!("\"{}\"", stored["version"]);
    api.patch(
        As::Agent,
        "/customers/c@d.com",
        Some(&etag),
        json!({"custom_fields": {"tier": null}}),
    )
    .await
    .assert_problem(403, "custom_fields.tier");

    // The batch path applies the same rule.
    let batch = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [{"email": "c@d.com", "custom_fields": {"plan": "pro"}}]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);
    assert_eq!(
        batch.body["results"][0]["status"], "updated",
        "{}",
        batch.body
    );
    never_mentions(&batch.body, "secret");
    let stored = api.get(As::Admin, "/customers/c@d.com").await.body;
    assert_eq!(
        stored["custom_fields"],
        json!({"secret": 3, "tier": "gold", "plan": "pro"})
    );
}

#[tokio::test]
async fn required_binds_only_callers_who_may_edit_the_field() {
    let api = LambdaApi::on_sqlite().await;
    fields_with_permissions(&api).await;

    // The agent may not edit `secret`: it does not block their creates, and no reply names it.
    let created = api
        .post(As::Agent, "/customers", json!({"email": "a@d.com"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    never_mentions(&created.body, "secret");
    let invalid = api
        .post(
            As::Agent,
            "/customers",
            json!({"email": "b@d.com", "phones": ["not a phone"]}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    never_mentions(&invalid.body, "secret");
    let batch = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"emails": "b@d.com, e@d.com"}),
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);
    assert!(
        batch.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "created"),
        "{}",
        batch.body
    );

    // Sending it is the same error as sending a field that does not exist.
    let hidden = api
        .post(
            As::Agent,
            "/customers",
            json!({"email": "h@d.com", "custom_fields": {"secret": 1}}),
        )
        .await;
    let undefined = api
        .post(
            As::Agent,
            "/customers",
            json!({"email": "h@d.com", "custom_fields": {"nosuch": 1}}),
        )
        .await;
    hidden.assert_problem(422, "custom_fields.secret");
    undefined.assert_problem(422, "custom_fields.nosuch");
    assert_eq!(
        hidden.body["errors"][0]["message"],
        undefined.body["errors"][0]["message"]
    );
    assert_eq!(
        hidden.body["detail"]
            .as_str()
            .map(|d| d.replace("secret", "nosuch")),
        undefined.body["detail"].as_str().map(str::to_string)
    );

    // Admins may edit it, so it binds them.
    api.post(As::Admin, "/customers", json!({"email": "z@d.com"}))
        .await
        .assert_problem(422, "custom_fields.secret");
}

#[tokio::test]
async fn control_characters_are_refused_in_single_line_fields() {
    let api = LambdaApi::on_sqlite().await;
    for (body, field) in [
        (
            json!({"email": "a@x.test", "first_name": "Ann\r\nBcc: x@evil.test"}),
            "first_name",
        ),
        (
            json!({"email": "a@x.test", "last_name": "Lee\u{0}"}),
            "last_name",
        ),
        (
            json!({"email": "a@x.test", "address": {"city": "Spring\tfield"}}),
            "address.city",
        ),
        (
            json!({"email": "a@x.test", "entitlements": [{"name": "Gold\n"}]}),
            "entitlements[0].name",
        ),
    ] {
        api.post(As::Agent, "/customers", body)
            .await
            .assert_problem(422, field);
    }
    api.post(As::Admin, "/companies", json!({"name": "Acme\u{7}"}))
        .await
        .assert_problem(422, "name");
    api.post(
        As::Admin,
        "/fields",
        json!({"key": "k", "label": "A\nB", "type": "text"}),
    )
    .await
    .assert_problem(422, "label");
    // Notes may hold several lines.
    let created = api
        .post(
            As::Agent,
            "/customers",
            json!({"email": "a@x.test", "first_name": "Ann", "notes": "line one\nline two"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let batch = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [{"email": "b@x.test", "first_name": "B\u{0}b"}]}),
        )
        .await;
    assert_eq!(
        batch.body["results"][0]["status"], "error",
        "{}",
        batch.body
    );
    assert_eq!(batch.body["results"][0]["errors"][0]["field"], "first_name");
}
