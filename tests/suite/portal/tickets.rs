//! What a customer does in the portal: open a ticket (with a file), answer, solve, change
//! their name; bad input named; the portal off; an erasure taking their sessions and codes.

use super::*;
use base64::Engine;

async fn customers_open_answer_and_solve(api: LambdaApi) {
    let desk = Desk::new(api);
    desk.api
        .create(json!({"email": "ann@acme.test", "first_name": "Ann"}))
        .await;
    let ann = desk.sign_in("ann@acme.test").await;
    let file = base64::engine::general_purpose::STANDARD.encode(b"screenshot bytes");
    let body = json!({"subject": "Cannot log in", "text": "It says <script>alert(1)</script>",
                      "attachments": [{"filename": "shot.png", "content_type": "image/png", "content_base64": file}]});
    let opened = desk
        .portal(&ann, "POST", "/portal/tickets", Some(body))
        .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let id = opened.body["id"].as_str().unwrap().to_string();
    assert_eq!(opened.body["yours"], true);
    assert_eq!(opened.body["can_solve"], true);

    // Agents see it as they see mailed tickets.
    let agents = desk.api.get(As::Agent, &format!("/tickets/{id}")).await;
    assert_eq!(agents.status, 200, "{}", agents.body);
    assert_eq!(agents.body["customer_email"], "ann@acme.test");
    assert_eq!(agents.body["messages"][0]["thread_reason"], "portal");
    assert_eq!(
        agents.body["messages"][0]["attachments"][0]["filename"],
        "shot.png"
    );
    let listed = desk
        .api
        .get(As::Agent, "/customers/ann@acme.test/tickets")
        .await;
    assert_eq!(listed.body["items"][0]["id"], id.as_str());

    let shown = desk
        .portal(&ann, "GET", &format!("/portal/tickets/{id}"), None)
        .await;
    assert_eq!(
        shown.body["messages"][0]["text"], "It says <script>alert(1)</script>",
        "kept as text"
    );
    assert_eq!(shown.body["messages"][0]["yours"], true);
    let reply = desk
        .api
        .post(
            As::Agent,
            &format!("/tickets/{id}/messages"),
            json!({"text": "Try again now."}),
        )
        .await;
    assert_eq!(reply.status, 201);
    let answered = desk
        .portal(
            &ann,
            "POST",
            &format!("/portal/tickets/{id}/messages"),
            Some(json!({"text": "Works, thanks"})),
        )
        .await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    let solved = desk
        .portal(&ann, "POST", &format!("/portal/tickets/{id}/solve"), None)
        .await;
    assert_eq!(solved.status, 200, "{}", solved.body);
    assert_eq!(solved.body["status"], "solved");
    let history = desk
        .api
        .get(As::Agent, &format!("/tickets/{id}/history"))
        .await;
    assert_eq!(
        history.body["items"][0]["by"]["type"], "portal",
        "{}",
        history.body
    );

    // Bad input is named; a closed ticket takes no answer.
    for (body, status, field) in [
        (json!({"subject": " ", "text": "x"}), 422, "subject"),
        (json!({"subject": "x", "text": ""}), 422, "text"),
        (
            json!({"subject": "x", "text": "y", "priority": 1}),
            400,
            "priority",
        ),
        (
            json!({"subject": "x", "text": "y", "attachments": [{"filename": "a", "content_base64": "%%%"}]}),
            422,
            "attachments[0].content_base64",
        ),
    ] {
        desk.portal(&ann, "POST", "/portal/tickets", Some(body))
            .await
            .assert_problem(status, field);
    }
    let etag = desk
        .api
        .get(As::Agent, &format!("/tickets/{id}"))
        .await
        .headers["etag"]
        .clone();
    let closed = desk
        .api
        .patch(
            As::Agent,
            &format!("/tickets/{id}"),
            Some(&etag),
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    desk.portal(
        &ann,
        "POST",
        &format!("/portal/tickets/{id}/messages"),
        Some(json!({"text": "again"})),
    )
    .await
    .assert_problem(409, "status");

    // Their own name and phones, nothing else.
    let me = desk
        .portal(
            &ann,
            "PATCH",
            "/portal/me",
            Some(json!({"last_name": "Lee", "phones": ["+14155550100"]})),
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["last_name"], "Lee");
    desk.portal(
        &ann,
        "PATCH",
        "/portal/me",
        Some(json!({"email": "x@y.test"})),
    )
    .await
    .assert_problem(403, "email");
    desk.portal(
        &ann,
        "PATCH",
        "/portal/me",
        Some(json!({"portal_access": "company"})),
    )
    .await
    .assert_problem(403, "portal_access");
    desk.portal(
        &ann,
        "PATCH",
        "/portal/me",
        Some(json!({"phones": ["not a phone"]})),
    )
    .await
    .assert_problem_status(422);
    assert_eq!(
        desk.api
            .get(As::Agent, "/customers/ann@acme.test")
            .await
            .body["last_name"],
        "Lee"
    );
}

/// Turned off, every portal route answers 404.
async fn the_portal_can_be_off(api: LambdaApi) {
    let mut state = api.services();
    state.portal.enabled = false;
    let router = helpdesk_shared::http::router(state);
    let off = LambdaApi {
        router,
        ..api.clone()
    };
    off.call(
        As::Anonymous,
        "POST",
        "/portal/sign-in",
        &[],
        Some(json!({"email": "a@b.test"}).to_string()),
    )
    .await
    .assert_problem_status(404);
    assert_eq!(off.get(As::Anonymous, "/portal").await.status, 404);
    off.get(As::Anonymous, "/portal/me")
        .await
        .assert_problem_status(404);
}

/// An erasure takes the person's sign-in codes and sessions with it.
async fn erasure_ends_sessions_and_codes(api: LambdaApi) {
    let desk = Desk::new(api);
    desk.api.create(json!({"email": "gone@acme.test"})).await;
    desk.api.create(json!({"email": "stays@acme.test"})).await;
    let token = desk.sign_in("gone@acme.test").await;
    assert_eq!(desk.request_code("gone@acme.test").await.status, 202);
    desk.deliver_sign_ins().await;
    desk.sign_in("stays@acme.test").await;
    let erasure = desk
        .api
        .post(As::Admin, "/customers/gone@acme.test/erase", json!({}))
        .await;
    crate::support::run_job(&desk.api, "erasure", erasure.body["id"].as_str().unwrap()).await;
    desk.portal(&token, "GET", "/portal/me", None)
        .await
        .assert_problem_status(401);
    let stored = crate::privacy::everything_stored(&desk.api).await;
    let holders: Vec<&String> = stored
        .iter()
        .filter(|s| s.contains("gone@acme.test"))
        .collect();
    assert!(holders.is_empty(), "still stored: {holders:#?}");
    assert!(stored.iter().any(|s| s.contains("stays@acme.test")));
}

/// Tickets written in DynamoDB before the portal have no listing entries: the
/// `portal-2026-12` migration writes them, once each.
#[tokio::test]
async fn the_portal_migration_lists_tickets_written_before_the_portal() {
    use helpdesk_shared::domain::migration::PORTAL_2026_12;
    let desk = Desk::new(LambdaApi::on_dynamodb().await);
    let Place::Cloud { table, .. } = &desk.api.place else {
        unreachable!("on_dynamodb keeps a dynoxide table")
    };
    let table = table.clone();
    desk.api.create(json!({"email": "ann@acme.test"})).await;
    let ann = desk.sign_in("ann@acme.test").await;
    for subject in ["First", "Second"] {
        let opened = desk
            .portal(
                &ann,
                "POST",
                "/portal/tickets",
                Some(json!({"subject": subject, "text": "Help"})),
            )
            .await;
        assert_eq!(opened.status, 201, "{}", opened.body);
    }
    // As before the portal: no entries.
    let client = crate::support::dynamo_client();
    let scan = client.scan().table_name(&table).send().await.unwrap();
    for item in scan.items() {
        let pk = item["pk"].as_s().unwrap();
        if pk.starts_with("PORTAL#") {
            client
                .delete_item()
                .table_name(&table)
                .key("pk", item["pk"].clone())
                .key("sk", item["sk"].clone())
                .send()
                .await
                .unwrap();
        }
    }
    let listed = desk.portal(&ann, "GET", "/portal/tickets", None).await;
    assert_eq!(ids(&listed.body).len(), 0, "{}", listed.body);

    let path = format!("/migrations/{PORTAL_2026_12}");
    let started = desk.api.post(As::Admin, &path, json!({})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let service = desk.api.services().migrations.with_page(1);
    crate::support::run_migration_in_steps(&service, PORTAL_2026_12).await;
    let done = desk.api.get(As::Admin, &path).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    assert_eq!(done.body["counts"]["rewritten"], 2, "{}", done.body);
    let listed = desk.portal(&ann, "GET", "/portal/tickets", None).await;
    assert_eq!(ids(&listed.body).len(), 2, "{}", listed.body);
    // Run again: the same entries, nothing listed twice.
    desk.api.post(As::Admin, &path, json!({})).await;
    crate::support::run_migration_in_steps(&service, PORTAL_2026_12).await;
    let listed = desk.portal(&ann, "GET", "/portal/tickets", None).await;
    assert_eq!(ids(&listed.body).len(), 2, "{}", listed.body);
}

on_both_stores!(
    customers_open_answer_and_solve,
    the_portal_can_be_off,
    erasure_ends_sessions_and_codes,
);
