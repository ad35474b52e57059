//! Companies with their domains, custom fields, roles.

use super::*;

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

on_both_stores!(companies_domains_and_backfill,);
