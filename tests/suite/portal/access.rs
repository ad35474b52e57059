//! Who sees which ticket: every way to reach a ticket one may not see answers 404 (by id,
//! attachment, reply, solve), company access shows colleagues' tickets, a company change shows
//! at once in open sessions, and company access is a company permission.

use super::*;

/// North has Ann (own), Bob (company), Cy (company_read); Dan is elsewhere; Eve has company
/// access and no company. Ann's mailed ticket carries an attachment.
async fn north(desk: &Desk) -> (String, String) {
    let company = desk
        .api
        .post(As::Admin, "/companies", json!({"name": "North"}))
        .await;
    let north = company.body["id"].as_str().unwrap().to_string();
    for (email, access, company) in [
        ("ann@north.test", "own", Some(&north)),
        ("bob@north.test", "company", Some(&north)),
        ("cy@north.test", "company_read", Some(&north)),
        ("dan@south.test", "own", None),
        ("eve@solo.test", "company", None),
    ] {
        let body = json!({"email": email, "portal_access": access, "company_id": company});
        desk.api.create(body).await;
    }
    let mail = crate::inbound::Mail::new(desk.api.clone());
    let raw = "From: Ann <ann@north.test>\r\nSubject: Broken printer\r\nMessage-ID: <p1@north.test>\r\n\
               MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
               Content-Type: text/plain\r\n\r\nIt is broken.\r\n--b\r\nContent-Type: text/plain; name=\"log.txt\"\r\n\
               Content-Disposition: attachment; filename=\"log.txt\"\r\n\r\nerror 42\r\n--b--\r\n";
    let record = mail.deliver_now(raw).await;
    assert_eq!(record["status"], "ingested", "{record}");
    (north, record["ticket_id"].as_str().unwrap().to_string())
}

async fn each_customer_sees_what_their_access_says(api: LambdaApi) {
    let desk = Desk::new(api);
    let (north, ticket) = north(&desk).await;
    let ann = desk.sign_in("ann@north.test").await;
    let bob = desk.sign_in("bob@north.test").await;
    let cy = desk.sign_in("cy@north.test").await;
    let dan = desk.sign_in("dan@south.test").await;
    let eve = desk.sign_in("eve@solo.test").await;
    let path = format!("/portal/tickets/{ticket}");

    // An agent's internal note and public reply: the portal shows the reply only, by name.
    let note = desk
        .api
        .post(
            As::Agent,
            &format!("/tickets/{ticket}/messages"),
            json!({"text": "VIP, internal", "internal": true}),
        )
        .await;
    assert_eq!(note.status, 201);
    let reply = desk
        .api
        .post(
            As::Agent,
            &format!("/tickets/{ticket}/messages"),
            json!({"text": "We are on it."}),
        )
        .await;
    assert_eq!(reply.status, 201);

    let own = desk.portal(&ann, "GET", "/portal/tickets", None).await;
    assert_eq!(ids(&own.body), vec![ticket.clone()]);
    let shown = desk.portal(&ann, "GET", &path, None).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let text = shown.body.to_string();
    assert!(!text.contains("VIP, internal"), "no internal note: {text}");
    assert!(
        !text.contains("helpdesk.test"),
        "no agent or support address: {text}"
    );
    assert!(!text.contains("delivery"), "no delivery state: {text}");
    let messages = shown.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["text"], "We are on it.");
    assert_eq!(messages[1]["from_support"], true);
    assert_eq!(shown.body["status_text"], "waiting for you");
    let link = messages[0]["attachments"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(desk.portal(&ann, "GET", &link, None).await.status, 303);

    // Dan (another company) and Eve (no company) reach it no way: 404 as for no ticket.
    for token in [&dan, &eve] {
        desk.portal(token, "GET", &path, None)
            .await
            .assert_problem_status(404);
        desk.portal(token, "GET", &link, None)
            .await
            .assert_problem_status(404);
        desk.portal(
            token,
            "POST",
            &format!("{path}/messages"),
            Some(json!({"text": "me too"})),
        )
        .await
        .assert_problem_status(404);
        desk.portal(token, "POST", &format!("{path}/solve"), None)
            .await
            .assert_problem_status(404);
        assert!(
            ids(&desk
                .portal(token, "GET", "/portal/tickets", None)
                .await
                .body)
            .is_empty()
        );
    }
    desk.portal(&eve, "GET", "/portal/tickets?scope=company", None)
        .await
        .assert_problem(403, "scope");
    desk.portal(&dan, "GET", "/portal/tickets?scope=company", None)
        .await
        .assert_problem(403, "scope");
    desk.portal(&ann, "GET", "/portal/tickets/NOSUCHTICK", None)
        .await
        .assert_problem_status(404);

    // Cy reads the company's tickets and may not answer or solve them.
    let company = desk
        .portal(&cy, "GET", "/portal/tickets?scope=company", None)
        .await;
    assert_eq!(ids(&company.body), vec![ticket.clone()]);
    assert_eq!(company.body["items"][0]["can_reply"], false);
    desk.portal(
        &cy,
        "POST",
        &format!("{path}/messages"),
        Some(json!({"text": "ok"})),
    )
    .await
    .assert_problem(403, "ticket");
    desk.portal(&cy, "POST", &format!("{path}/solve"), None)
        .await
        .assert_problem(403, "ticket");
    assert!(ids(&desk.portal(&cy, "GET", "/portal/tickets", None).await.body).is_empty());

    // Bob answers a colleague's ticket: it is his own (Cc) from then on.
    let answered = desk
        .portal(
            &bob,
            "POST",
            &format!("{path}/messages"),
            Some(json!({"text": "Same here"})),
        )
        .await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    assert_eq!(
        ids(&desk.portal(&bob, "GET", "/portal/tickets", None).await.body),
        vec![ticket.clone()]
    );
    desk.portal(&bob, "POST", &format!("{path}/solve"), None)
        .await
        .assert_problem(403, "ticket");
    let agents = desk.api.get(As::Agent, &path.replace("/portal", "")).await;
    assert_eq!(
        agents.body["status"], "open",
        "the customer's answer makes it support's turn"
    );

    // Dan joins North (with company_read): his open session shows its tickets at once.
    desk.set(
        "dan@south.test",
        json!({"company_id": north, "portal_access": "company_read"}),
    )
    .await;
    let now = desk
        .portal(&dan, "GET", "/portal/tickets?scope=company", None)
        .await;
    assert_eq!(ids(&now.body), vec![ticket.clone()]);
    assert_eq!(desk.portal(&dan, "GET", &path, None).await.status, 200);
    // Ann blocked: her session ends.
    let blocked = desk
        .api
        .post(As::Admin, "/customers/ann@north.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200);
    desk.portal(&ann, "GET", &path, None)
        .await
        .assert_problem_status(401);
}

/// Only admins and agents who may manage companies grant company access, on a customer or as
/// a company's default; a customer joining a company takes its default unless theirs was set.
async fn company_access_is_a_company_permission(api: LambdaApi) {
    let desk = Desk::new(api);
    let api = &desk.api;
    api.post(
        As::Agent,
        "/customers",
        json!({"email": "a@north.test", "portal_access": "company"}),
    )
    .await
    .assert_problem(403, "portal_access");
    api.create(json!({"email": "b@north.test"})).await;
    let etag = desk.etag("b@north.test").await;
    api.patch(
        As::Agent,
        "/customers/b@north.test",
        Some(&etag),
        json!({"portal_access": "company_read"}),
    )
    .await
    .assert_problem(403, "portal_access");
    let none = api
        .patch(
            As::Agent,
            "/customers/b@north.test",
            Some(&etag),
            json!({"portal_access": "none"}),
        )
        .await;
    assert_eq!(
        none.status, 200,
        "any agent may close the portal to a customer"
    );
    let granted = api
        .patch(
            As::CompanyManager,
            "/customers/b@north.test",
            Some(&desk.etag("b@north.test").await),
            json!({"portal_access": "company"}),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.body);

    let company = api
        .post(As::Admin, "/companies", json!({"name": "North", "domains": ["north.test"], "portal_default_access": "company_read"}))
        .await;
    assert_eq!(company.status, 201, "{}", company.body);
    assert_eq!(company.body["portal_default_access"], "company_read");
    let joined = api
        .post(As::Agent, "/customers", json!({"email": "c@north.test"}))
        .await;
    assert_eq!(joined.body["company_id"], company.body["id"]);
    assert_eq!(
        joined.body["portal_access"], "company_read",
        "the company's default"
    );
    let chose = api
        .post(
            As::Agent,
            "/customers",
            json!({"email": "d@north.test", "portal_access": "own"}),
        )
        .await;
    assert_eq!(chose.body["portal_access"], "own", "set explicitly: kept");
    let batch = api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [{"email": "e@north.test", "portal_access": "company"}]}),
        )
        .await;
    assert_eq!(
        batch.body["results"][0]["status"], "error",
        "{}",
        batch.body
    );
}

on_both_stores!(
    each_customer_sees_what_their_access_says,
    company_access_is_a_company_permission,
);
