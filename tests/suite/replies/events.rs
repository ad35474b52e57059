//! Every kind of ticket and customer event, from the flows that make them, in the change feed
//! on both stores.

use super::*;
use crate::changes::{Log, read_all, types};
use crate::support::run_job;

async fn every_ticket_and_customer_event_reaches_the_feed(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let mut log = Log::attach(desk.api()).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk.reply(&ticket, json!({"text": "Hello"})).await.body;
    assert_eq!(desk.send(&reply, 1).await, vec![json!("sent")]);
    let note = desk
        .reply(&ticket, json!({"text": "Called her.", "internal": true}))
        .await;
    assert_eq!(note.status, 201, "{}", note.body);
    let solved = desk
        .api()
        .patch(
            As::Agent,
            &format!("/tickets/{ticket}"),
            Some("*"),
            json!({"status": "solved"}),
        )
        .await;
    assert_eq!(solved.status, 200, "{}", solved.body);
    let second = desk.reply(&ticket, json!({"text": "One more"})).await.body;
    desk.send(&second, 1).await;
    let bounce = include_str!("../../fixtures/eventbridge-ses-bounce.json");
    desk.feedback(bounce, &ann, Some(&second)).await;
    let bob = address("bob");
    desk.api().create(json!({"email": bob})).await;
    let complaint = include_str!("../../fixtures/eventbridge-ses-complaint.json");
    desk.feedback(complaint, &bob, None).await;

    let company = desk
        .api()
        .post(As::Admin, "/companies", json!({"name": "Gone Inc"}))
        .await;
    let path = format!("/companies/{}", company.body["id"].as_str().unwrap());
    let deleted = desk.api().delete(As::Admin, &path).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    let (kim, kim_home) = (address("kim"), address("kimhome"));
    desk.api().create(json!({"email": kim})).await;
    desk.api().create(json!({"email": kim_home})).await;
    let merged = desk
        .api()
        .post(
            As::Agent,
            &format!("/customers/{kim}/merge"),
            json!({"from": [kim_home]}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let merge = merged.body["merge_id"].as_str().unwrap().to_string();
    run_job(desk.api(), "merge", &merge).await;
    let undo = desk
        .api()
        .post(As::Agent, &format!("/merges/{merge}/undo"), json!({}))
        .await;
    assert_eq!(undo.status, 202, "{}", undo.body);
    run_job(desk.api(), "merge", &merge).await;
    log.catch_up().await;

    let (events, _) = read_all(desk.api(), As::Admin, "/changes").await;
    let all = types(&events);
    for wanted in [
        "customer.created",
        "ticket.created",
        "ticket.message.received",
        "ticket.message.sent",
        "ticket.note.created",
        "ticket.status_changed",
        "ticket.message.failed",
        "customer.undeliverable",
        "customer.complained",
        "company.created",
        "company.deleted",
        "customer.merged",
        "customer.unmerged",
    ] {
        assert!(all.contains(&wanted), "{wanted} in {all:?}");
    }
    let of = |kind: &str| events.iter().find(|e| e["type"] == kind).unwrap();
    let statuses: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "ticket.status_changed")
        .map(|e| &e["changes"][0]["to"])
        .collect();
    // A reply leaves the ticket pending, the agent solves it, the next reply reopens it.
    assert_eq!(
        statuses,
        [&json!("pending"), &json!("solved"), &json!("pending")]
    );
    assert_eq!(
        of("ticket.message.sent")["entity"]["ticket_id"],
        json!(ticket)
    );
    assert_eq!(of("customer.undeliverable")["entity"]["email"], json!(ann));
    assert_eq!(of("customer.merged")["entity"]["email"], json!(kim));
    assert_eq!(
        of("customer.merged")["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["field"] == "merged_customers")
            .count(),
        1
    );
    // The merged-in customer's removal is the merge's event, not a deletion.
    assert!(!all.contains(&"customer.deleted"), "{all:?}");
}

on_both_stores!(every_ticket_and_customer_event_reaches_the_feed);
