//! Single sign-on for a host application: HS256 JWTs signed with the operator's secret open a
//! portal session once each, only while fresh, only for customers who may sign in; unknown
//! addresses get a customer only when the operator allows it.

use super::*;
use helpdesk_shared::services::portal::PortalSso;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SECRET: &[u8] = b"a-host-application-secret-of-32-bytes-or-more";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A token as a host application signs it: `email`, `iat` `age` seconds ago, `jti`.
fn token(secret: &[u8], email: &str, age: i64, jti: &str) -> String {
    let claims = json!({"email": email, "iat": unix_now() - age, "jti": jti,
                        "first_name": "Nia", "last_name": "Host"});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .expect("a token")
}

fn fresh(email: &str) -> String {
    token(SECRET, email, 0, &uuid::Uuid::new_v4().to_string())
}

impl Desk {
    async fn sso(&self, jwt: &str) -> Reply {
        self.open(json!({"jwt": jwt, "return_token": true})).await
    }
}

async fn host_tokens_open_sessions_once_while_fresh(api: LambdaApi) {
    let off = Desk::new(api.clone());
    off.api.create(json!({"email": "ann@acme.test"})).await;
    // Not configured: the field is refused, by name.
    off.sso(&fresh("ann@acme.test"))
        .await
        .assert_problem(422, "jwt");

    let desk = Desk::new(api.with_portal_sso(PortalSso::new(SECRET, false).unwrap()));
    let jwt = fresh("ANN@acme.test");
    let opened = desk.sso(&jwt).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let session = opened.body["token"].as_str().unwrap().to_string();
    let me = desk.portal(&session, "GET", "/portal/me", None).await;
    assert_eq!(me.body["email"], "ann@acme.test", "{}", me.body);
    // The same token again: used.
    desk.sso(&jwt).await.assert_problem_status(401);

    // Too old, from the future, signed with another secret, not HS256, without a jti, or not
    // a token at all: refused alike.
    let other = b"another-secret-that-is-long-enough-too";
    let no_jti = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"email": "ann@acme.test", "iat": unix_now()}),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &json!({"email": "ann@acme.test", "iat": unix_now(), "jti": "hs512"}),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    for refused in [
        token(SECRET, "ann@acme.test", 181, "old"),
        token(SECRET, "ann@acme.test", -120, "future"),
        token(other, "ann@acme.test", 0, "forged"),
        hs512,
        no_jti,
        "not.a.token".into(),
    ] {
        desk.sso(&refused).await.assert_problem_status(401);
    }
    // A token among other credentials is a bad request.
    desk.open(json!({"jwt": fresh("ann@acme.test"), "token": "x.y"}))
        .await
        .assert_problem(400, "body");

    // Unknown addresses get no customer here; customers who may not sign in get no session.
    desk.sso(&fresh("nobody@acme.test"))
        .await
        .assert_problem_status(401);
    assert_eq!(
        desk.api
            .get(As::Admin, "/customers/nobody@acme.test")
            .await
            .status,
        404
    );
    desk.api
        .create(json!({"email": "bob@acme.test", "portal_access": "none"}))
        .await;
    desk.sso(&fresh("bob@acme.test"))
        .await
        .assert_problem_status(401);
    let blocked = desk
        .api
        .post(As::Admin, "/customers/ann@acme.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    desk.sso(&fresh("ann@acme.test"))
        .await
        .assert_problem_status(401);
}

async fn host_tokens_create_customers_when_allowed(api: LambdaApi) {
    let desk = Desk::new(api.with_portal_sso(PortalSso::new(SECRET, true).unwrap()));
    let opened = desk.sso(&fresh("new@host.test")).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let created = desk.api.get(As::Admin, "/customers/new@host.test").await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["first_name"], "Nia");
    assert_eq!(created.body["portal_access"], "own");

    // Never for an address erased with suppression (as mail from it is ignored).
    desk.api.create(json!({"email": "gone@host.test"})).await;
    let erased = desk
        .api
        .post(
            As::Admin,
            "/customers/gone@host.test/erase",
            json!({"suppress": true}),
        )
        .await;
    assert_eq!(erased.status, 202, "{}", erased.body);
    crate::support::run_job(&desk.api, "erasure", erased.body["id"].as_str().unwrap()).await;
    desk.sso(&fresh("gone@host.test"))
        .await
        .assert_problem_status(401);
    assert_eq!(
        desk.api
            .get(As::Admin, "/customers/gone@host.test")
            .await
            .status,
        404
    );
}

#[test]
fn short_secrets_are_refused() {
    assert!(PortalSso::new(b"too-short", false).is_err());
}

on_both_stores!(
    host_tokens_open_sessions_once_while_fresh,
    host_tokens_create_customers_when_allowed,
);
