//! The HTTP API function, fed API Gateway v2 events (with JWT-authorizer claims) as Lambda
//! would. Flows that depend on the store run on both stores; the rest on SQLite.

use crate::support::{As, LambdaApi};
use serde_json::{Value, json};

pub(crate) async fn listing_with_cursors_and_search(api: LambdaApi) {
    for (email, first, last) in [
        ("carol@a.com", "Carol", "King"),
        ("dave@b.com", "Dave", "Carter"),
        ("erin@c.com", "Erin", "Moss"),
        ("cara@d.com", "Cara", "Diaz"),
        ("frank@e.com", "Frank", "Stone"),
    ] {
        api.create(json!({"email": email, "first_name": first, "last_name": last}))
            .await;
    }
    let mut emails = Vec::new();
    let mut path = "/customers?limit=2".to_string();
    for _ in 0..10 {
        let page = api.get(As::Agent, &path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        emails.extend(
            items
                .iter()
                .map(|c| c["email"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/customers?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        emails,
        vec![
            "cara@d.com",
            "carol@a.com",
            "dave@b.com",
            "erin@c.com",
            "frank@e.com"
        ]
    );

    // q: case-insensitive prefix of email, first or last name.
    let found = api.get(As::Agent, "/customers?q=CAR").await;
    let mut matched: Vec<&str> = found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    matched.sort();
    assert_eq!(matched, vec!["cara@d.com", "carol@a.com", "dave@b.com"]);

    // A cursor from one query is refused for another.
    let first = api.get(As::Agent, "/customers?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    api.get(
        As::Agent,
        &format!("/customers?limit=1&q=x&cursor={cursor}"),
    )
    .await
    .assert_problem(400, "cursor");
    api.get(As::Agent, "/customers?cursor=not-a-cursor")
        .await
        .assert_problem(400, "cursor");
    api.get(As::Agent, "/customers?limit=1000")
        .await
        .assert_problem(400, "limit");
    api.get(As::Agent, "/customers?sort=name")
        .await
        .assert_problem(400, "sort");
}

on_both_stores!(listing_with_cursors_and_search,);

pub(crate) mod avatars;
mod companies_fields;
mod contract;
mod customers;
