//! Signing in: one answer for known and unknown addresses, codes that work once and die after
//! five wrong tries, links a mail scanner cannot use up, limits, and no code for a customer
//! who may not sign in.

use super::*;

async fn codes_work_once_and_answers_do_not_tell(api: LambdaApi) {
    let desk = Desk::new(api);
    desk.api.create(json!({"email": "ann@acme.test"})).await;
    let known = desk.request_code("ann@acme.test").await;
    let unknown = desk.request_code("nobody@acme.test").await;
    assert_eq!((known.status, unknown.status), (202, 202));
    assert_eq!(
        known.body, unknown.body,
        "the answer says nothing about the address"
    );
    desk.deliver_sign_ins().await;
    assert!(desk.mail_to("nobody@acme.test").is_empty());
    let (code, token) = desk.code_for("ann@acme.test");
    assert_eq!(code.len(), 8);

    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    desk.open(json!({"email": "ann@acme.test", "code": wrong}))
        .await
        .assert_problem_status(401);
    let opened = desk
        .open(json!({"email": "ANN@acme.test", "code": code}))
        .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let cookie = &opened.headers["set-cookie"];
    for part in [
        "hd_portal=hdp_",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/portal",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(opened.body.get("token").is_none(), "only when asked for");
    desk.open(json!({"email": "ann@acme.test", "code": code}))
        .await
        .assert_problem_status(401);
    // The link's token was the same code's: used up with it.
    desk.open(json!({"token": token}))
        .await
        .assert_problem_status(401);

    // Five wrong tries use a code up, even the right one after them.
    assert_eq!(desk.request_code("ann@acme.test").await.status, 202);
    desk.deliver_sign_ins().await;
    let (code, token) = desk.code_for("ann@acme.test");
    for _ in 0..5 {
        desk.open(json!({"email": "ann@acme.test", "code": wrong}))
            .await
            .assert_problem_status(401);
    }
    desk.open(json!({"email": "ann@acme.test", "code": code}))
        .await
        .assert_problem_status(401);
    desk.open(json!({"token": token}))
        .await
        .assert_problem_status(401);

    // The link: a fetch of the page uses up nothing; posting its token signs in, once.
    assert_eq!(desk.request_code("ann@acme.test").await.status, 202);
    desk.deliver_sign_ins().await;
    let (_, token) = desk.code_for("ann@acme.test");
    let page = desk
        .api
        .get(As::Anonymous, &format!("/portal/link?token={token}"))
        .await;
    assert_eq!(page.status, 200);
    let signed = desk
        .open(json!({"token": token, "return_token": true}))
        .await;
    assert_eq!(signed.status, 201, "{}", signed.body);
    let session = signed.body["token"].as_str().unwrap().to_string();
    let me = desk.portal(&session, "GET", "/portal/me", None).await;
    assert_eq!(me.body["email"], "ann@acme.test", "{}", me.body);
    desk.open(json!({"token": token}))
        .await
        .assert_problem_status(401);

    // Signing out ends the session.
    assert_eq!(
        desk.portal(&session, "DELETE", "/portal/sessions/current", None)
            .await
            .status,
        204
    );
    desk.portal(&session, "GET", "/portal/me", None)
        .await
        .assert_problem_status(401);
}

async fn sign_in_is_limited_and_refused_where_it_must_be(api: LambdaApi) {
    let desk = Desk::new(api);
    // Five codes an hour per address (known or not); the sixth request is refused.
    for _ in 0..5 {
        assert_eq!(desk.request_code("busy@acme.test").await.status, 202);
    }
    let refused = desk.request_code("busy@acme.test").await;
    refused.assert_problem_status(429);
    assert!(refused.headers.contains_key("retry-after"));
    desk.request_code("not an address")
        .await
        .assert_problem(422, "email");

    // No code for: access `none`, blocked, erased (suppressed), complained.
    for email in [
        "none@acme.test",
        "blocked@acme.test",
        "erased@acme.test",
        "fine@acme.test",
    ] {
        desk.api.create(json!({"email": email})).await;
    }
    desk.set("none@acme.test", json!({"portal_access": "none"}))
        .await;
    let blocked = desk
        .api
        .post(As::Admin, "/customers/blocked@acme.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200);
    let erasure = desk
        .api
        .post(
            As::Admin,
            "/customers/erased@acme.test/erase",
            json!({"suppress": true}),
        )
        .await;
    crate::support::run_job(&desk.api, "erasure", erasure.body["id"].as_str().unwrap()).await;
    for email in [
        "none@acme.test",
        "blocked@acme.test",
        "erased@acme.test",
        "fine@acme.test",
    ] {
        assert_eq!(desk.request_code(email).await.status, 202, "{email}");
    }
    desk.deliver_sign_ins().await;
    for email in ["none@acme.test", "blocked@acme.test", "erased@acme.test"] {
        assert!(desk.mail_to(email).is_empty(), "a code went to {email}");
    }
    assert_eq!(desk.mail_to("fine@acme.test").len(), 1);

    // A session ends when its customer may no longer sign in.
    let token = desk.sign_in("fine@acme.test").await;
    desk.set("fine@acme.test", json!({"portal_access": "none"}))
        .await;
    desk.portal(&token, "GET", "/portal/me", None)
        .await
        .assert_problem_status(401);
    desk.set("fine@acme.test", json!({"portal_access": "own"}))
        .await;
    let token = desk.sign_in("fine@acme.test").await;
    desk.set("fine@acme.test", json!({"email": "fine2@acme.test"}))
        .await;
    desk.portal(&token, "GET", "/portal/me", None)
        .await
        .assert_problem_status(401);
    let token = desk.sign_in("fine2@acme.test").await;
    desk.api
        .delete(As::Agent, "/customers/fine2@acme.test/portal-sessions")
        .await
        .assert_problem_status(403);
    let revoked = desk
        .api
        .delete(As::Admin, "/customers/fine2@acme.test/portal-sessions")
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    desk.portal(&token, "GET", "/portal/me", None)
        .await
        .assert_problem_status(401);
}

/// Portal sessions and agents' credentials open nothing of each other, and cookie writes
/// must come from the portal's own pages.
async fn sessions_and_agents_are_apart(api: LambdaApi) {
    let desk = Desk::new(api);
    desk.api.create(json!({"email": "ann@acme.test"})).await;
    let token = desk.sign_in("ann@acme.test").await;
    desk.api
        .get(As::Agent, "/portal/me")
        .await
        .assert_problem_status(401);
    let bearer = format!("Bearer {token}");
    let agent_route = desk
        .api
        .call(
            As::Anonymous,
            "GET",
            "/customers",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    agent_route.assert_problem_status(401);

    let cookie = format!("hd_portal={token}");
    let body = Some(json!({"subject": "Hello", "text": "Hi"}).to_string());
    let read = desk
        .api
        .call(
            As::Anonymous,
            "GET",
            "/portal/me",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(read.status, 200, "a read needs no Origin");
    for origin in [None, Some("https://evil.example")] {
        let mut headers = vec![("cookie", cookie.as_str())];
        if let Some(origin) = origin {
            headers.push(("origin", origin));
        }
        let refused = desk
            .api
            .call(
                As::Anonymous,
                "POST",
                "/portal/tickets",
                &headers,
                body.clone(),
            )
            .await;
        refused.assert_problem(403, "Origin");
    }
    let headers = [("cookie", cookie.as_str()), ("origin", OWN_ORIGIN)];
    let opened = desk
        .api
        .call(As::Anonymous, "POST", "/portal/tickets", &headers, body)
        .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
}

on_both_stores!(
    codes_work_once_and_answers_do_not_tell,
    sign_in_is_limited_and_refused_where_it_must_be,
    sessions_and_agents_are_apart,
);
