//! The API's contract: problems, never a 500, and an OpenAPI description of exactly its routes.

use super::*;

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
