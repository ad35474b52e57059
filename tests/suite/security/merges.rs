//! Merges respect field and company permissions (findings 10 and 11): `keep` is checked per
//! field whatever its form, the preview shows nothing of hidden fields, and an undo is held to
//! the permissions of the writes it makes.

use super::*;
use crate::support::run_job;

/// Target and source, each with values in all three fields.
async fn two_customers(api: &LambdaApi) {
    fields_with_permissions(api).await;
    api.create(json!({"email": "t@acme.test",
        "custom_fields": {"secret": 1, "tier": "gold", "plan": "pro"}}))
        .await;
    api.create(json!({"email": "s@acme.test",
        "custom_fields": {"secret": 2, "tier": "silver", "plan": "free"}}))
        .await;
}

async fn merge(api: &LambdaApi, who: As, body: Value) -> crate::support::Reply {
    api.post(who, "/customers/t@acme.test/merge", body).await
}

/// Finding 10: an agent's `keep` cannot take the whole custom-field map, nor a field they may
/// not edit; what they may edit is taken field by field, and the admin-only fields stay the
/// target's. The preview never says that hidden fields exist, on either side.
async fn keep_is_checked_per_field(api: LambdaApi) {
    two_customers(&api).await;
    let whole = json!({"from": ["s@acme.test"], "keep": {"custom_fields": "s@acme.test"}});
    merge(&api, As::Agent, whole.clone())
        .await
        .assert_problem(409, "keep.custom_fields");
    for field in ["custom_fields.secret", "custom_fields.tier"] {
        let body = json!({"from": ["s@acme.test"], "keep": {field: "s@acme.test"}});
        let refused = merge(&api, As::Agent, body).await;
        refused.assert_problem(409, &format!("keep.{field}"));
        never_mentions(&refused.body, "secret\":");
    }
    let mut preview_body = whole.clone();
    preview_body["dry_run"] = json!(true);
    preview_body["keep"] = json!({"custom_fields.plan": "s@acme.test"});
    let preview = merge(&api, As::Agent, preview_body).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    never_mentions(&preview.body, "secret");
    // A source whose only custom value is hidden is not named as giving any.
    api.create(json!({"email": "w@acme.test", "custom_fields": {"secret": 7}}))
        .await;
    let preview = merge(
        &api,
        As::Agent,
        json!({"from": ["w@acme.test"], "dry_run": true}),
    )
    .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    never_mentions(&preview.body, "secret");
    let custom = preview.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "custom_fields")
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        !custom.to_string().contains("w@acme.test"),
        "the preview says w holds custom values: {custom}"
    );

    let merged = merge(
        &api,
        As::Agent,
        json!({"from": ["s@acme.test"], "keep": {"custom_fields.plan": "s@acme.test"}}),
    )
    .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    never_mentions(&merged.body, "secret");
    let target = api.get(As::Admin, "/customers/t@acme.test").await.body;
    assert_eq!(
        target["custom_fields"],
        json!({"secret": 1, "tier": "gold", "plan": "free"}),
        "only the field the agent may edit came from the source"
    );
    // An admin may take the whole map.
    api.create(json!({"email": "u@acme.test", "custom_fields": {"secret": 9}}))
        .await;
    let admin = api
        .post(
            As::Admin,
            "/customers/t@acme.test/merge",
            json!({"from": ["u@acme.test"], "keep": {"custom_fields": "u@acme.test"}}),
        )
        .await;
    assert_eq!(admin.status, 202, "{}", admin.body);
    let target = api.get(As::Admin, "/customers/t@acme.test").await.body;
    assert_eq!(target["custom_fields"]["secret"], 9);
}

/// Finding 11: undoing an admin's merge that changed the company needs the permission to
/// manage companies, and one that changed an admin-only field needs an admin: an undo makes
/// the writes it undoes.
async fn an_undo_needs_the_rights_of_its_writes(api: LambdaApi) {
    two_customers(&api).await;
    let company = |name: &str| json!({"name": name});
    let north = api
        .post(As::Admin, "/companies", company("North"))
        .await
        .body;
    let south = api
        .post(As::Admin, "/companies", company("South"))
        .await
        .body;
    for (email, company) in [("t@acme.test", &north), ("s@acme.test", &south)] {
        let current = api.get(As::Admin, &format!("/customers/{email}")).await;
        let moved = api
            .patch(
                As::Admin,
                &format!("/customers/{email}"),
                Some(&current.headers["etag"]),
                json!({"company_id": company["id"]}),
            )
            .await;
        assert_eq!(moved.status, 200, "{}", moved.body);
    }
    let merged = merge(
        &api,
        As::Admin,
        json!({"from": ["s@acme.test"], "keep": {"company_id": "s@acme.test"}}),
    )
    .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let id = merged.body["merge_id"].as_str().unwrap().to_string();
    run_job(&api, "merge", &id).await;
    let target = api.get(As::Agent, "/customers/t@acme.test").await.body;
    assert_eq!(target["company_id"], south["id"]);

    let undo = format!("/merges/{id}/undo");
    api.post(As::Agent, &undo, json!({}))
        .await
        .assert_problem(403, "company_id");
    assert_eq!(
        api.get(As::Agent, &format!("/merges/{id}")).await.body["status"],
        "succeeded",
        "nothing was undone"
    );
    let undone = api.post(As::CompanyManager, &undo, json!({})).await;
    assert_eq!(undone.status, 202, "{}", undone.body);
    run_job(&api, "merge", &id).await;
    let target = api.get(As::Agent, "/customers/t@acme.test").await.body;
    assert_eq!(target["company_id"], north["id"]);

    // A merge by an admin that took an admin-only field: only an admin undoes it.
    api.create(json!({"email": "v@acme.test", "custom_fields": {"secret": 5, "tier": "bronze"}}))
        .await;
    let merged = merge(
        &api,
        As::Admin,
        json!({"from": ["v@acme.test"], "keep": {"custom_fields": "v@acme.test"}}),
    )
    .await;
    let id = merged.body["merge_id"].as_str().unwrap().to_string();
    run_job(&api, "merge", &id).await;
    let refused = api
        .post(As::CompanyManager, &format!("/merges/{id}/undo"), json!({}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    never_mentions(&refused.body, "secret");
    let undone = api
        .post(As::Admin, &format!("/merges/{id}/undo"), json!({}))
        .await;
    assert_eq!(undone.status, 202, "{}", undone.body);
}

on_both_stores!(
    keep_is_checked_per_field,
    an_undo_needs_the_rights_of_its_writes
);
