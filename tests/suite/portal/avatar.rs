//! A customer's own avatar in the portal: set, shown, removed; and nobody else's.

use super::*;
use crate::api::avatars::{phone_photo, transparent_png};

async fn customers_set_their_own_avatar(api: LambdaApi) {
    let desk = Desk::new(api);
    desk.api.create(json!({"email": "ann@north.test"})).await;
    desk.api.create(json!({"email": "bob@north.test"})).await;
    let token = desk.sign_in("ann@north.test").await;
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];

    let put = desk
        .api
        .call_raw(
            As::Anonymous,
            "PUT",
            "/portal/me/avatar",
            &auth,
            Some(phone_photo()),
        )
        .await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let me: Value = serde_json::from_slice(&put.body).unwrap();
    let url = me["avatar_image"]["url"].as_str().unwrap().to_string();
    // Agents see the same picture, and the history says the customer set it.
    let agent_view = desk.api.get(As::Agent, "/customers/ann@north.test").await;
    assert_eq!(agent_view.body["avatar_image"]["url"], url.as_str());
    let history = desk
        .api
        .get(As::Agent, "/customers/ann@north.test/history")
        .await;
    let entry = &history.body["items"][0];
    assert_eq!(entry["by"]["type"], "portal", "{}", history.body);
    // Bob's record is untouched.
    let bob = desk.api.get(As::Agent, "/customers/bob@north.test").await;
    assert_eq!(bob.body["avatar_image"], Value::Null);

    // A refused image answers as the agents' route does.
    let svg = desk
        .api
        .call_raw(
            As::Anonymous,
            "PUT",
            "/portal/me/avatar",
            &auth,
            Some(b"<svg/>".to_vec()),
        )
        .await;
    assert_eq!(svg.status, 415);
    // Without a session: 401.
    let anonymous = desk
        .api
        .call_raw(
            As::Anonymous,
            "PUT",
            "/portal/me/avatar",
            &[],
            Some(transparent_png()),
        )
        .await;
    assert_eq!(anonymous.status, 401);

    let removed = desk
        .portal(&token, "DELETE", "/portal/me/avatar", None)
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["avatar_image"], Value::Null);
    let gone = desk
        .api
        .call_raw(As::Anonymous, "GET", &url, &[], None)
        .await;
    assert_eq!(gone.status, 404);
}

on_both_stores!(customers_set_their_own_avatar);
