//! Bounces and complaints, and erasure of replies.

use super::*;
use helpdesk_shared::services::addresses::AddressBook;

async fn bounces_and_complaints_mark_replies_and_customers(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk.reply(&ticket, json!({"text": "Hello"})).await.body;
    assert_eq!(desk.send(&reply, 1).await, vec![json!("sent")]);
    let before = desk
        .api()
        .get(As::Agent, &format!("/customers/{ann}"))
        .await
        .body;

    let bounce = include_str!("../../fixtures/eventbridge-ses-bounce.json");
    let applied = desk.feedback(bounce, &ann, Some(&reply)).await;
    assert_eq!(
        applied["applied"],
        json!({"customers_marked": 1, "replies_failed": 1})
    );
    let failed = desk.message(&ticket, &reply["id"]).await;
    assert_eq!(failed["delivery"]["status"], "failed");
    let error = failed["delivery"]["error"].as_str().unwrap();
    assert!(error.contains("550 5.1.1 user unknown"), "{error}");
    let marked = desk
        .api()
        .get(As::Agent, &format!("/customers/{ann}"))
        .await
        .body;
    assert_eq!(marked["undeliverable"]["email"], json!(ann));
    assert_eq!(marked["version"], before["version"].as_u64().unwrap() + 1);

    // A redelivered event changes nothing.
    let again = desk.feedback(bounce, &ann, Some(&reply)).await;
    assert_eq!(
        again["applied"],
        json!({"customers_marked": 0, "replies_failed": 0})
    );
    let after = desk
        .api()
        .get(As::Agent, &format!("/customers/{ann}"))
        .await
        .body;
    assert_eq!(after["version"], marked["version"]);

    // No reply goes to an address that bounced, until an admin clears the mark.
    desk.reply(&ticket, json!({"text": "Still there?"}))
        .await
        .assert_problem(422, "ticket");
    let path = format!("/customers/{ann}/undeliverable");
    desk.api()
        .delete(As::Agent, &path)
        .await
        .assert_problem_status(403);
    let cleared = desk.api().delete(As::Admin, &path).await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.body["undeliverable"], Value::Null);
    let history = desk
        .api()
        .get(As::Agent, &format!("/customers/{ann}/history"))
        .await
        .body;
    let by: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["by"])
        .collect();
    assert_eq!(by[1]["name"], "delivery-feedback", "{history}");
    let retried = desk.reply(&ticket, json!({"text": "Still there?"})).await;
    assert_eq!(retried.status, 201, "{}", retried.body);

    // A bounce of other mail (a welcome email) marks the address too; a new email clears it.
    let bob = address("bob");
    desk.api().create(json!({"email": bob})).await;
    desk.feedback(bounce, &bob, None).await;
    let marked = desk
        .api()
        .get(As::Agent, &format!("/customers/{bob}"))
        .await
        .body;
    assert!(marked["undeliverable"].is_object(), "{marked}");
    let bob2 = address("bob");
    let version = format!("\"{}\"", marked["version"]);
    let moved = desk
        .api()
        .patch(
            As::Agent,
            &format!("/customers/{bob}"),
            Some(&version),
            json!({"email": bob2}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["undeliverable"], Value::Null);

    // A complaint: no more automated mail, such as a welcome email still pending.
    let cy = address("cy");
    let created = desk
        .api()
        .create(json!({"email": cy, "send_welcome": true}))
        .await;
    assert_eq!(created["welcome"]["status"], "pending");
    let complaint = include_str!("../../fixtures/eventbridge-ses-complaint.json");
    let applied = desk.feedback(complaint, &cy, None).await;
    assert_eq!(applied["applied"]["customers_marked"], 1);
    let notifier = Notifier {
        customers: desk.api().store.clone(),
        mailer: desk.mailer.clone(),
        template: WelcomeTemplate::with_sender("support@helpdesk.test".into()),
        addresses: AddressBook::new(desk.api().store.clone(), desk.api().store.clone()),
    };
    assert_eq!(
        notifier.welcome(&Email::stored(cy.as_str())).await.unwrap(),
        SendOutcome::Failed
    );
    let cy_now = desk
        .api()
        .get(As::Agent, &format!("/customers/{cy}"))
        .await
        .body;
    assert_eq!(cy_now["complained"]["email"], json!(cy));
    assert_eq!(cy_now["welcome"]["status"], "failed");
    assert!(
        cy_now["welcome"]["error"]
            .as_str()
            .unwrap()
            .contains("spam")
    );
    assert!(desk.sent_to(&cy).is_empty());
}

/// Erasing a customer who was answered (tickets anonymised): the replies lose the person too,
/// and the Message-ID their mail went out with no longer threads.
async fn erasure_anonymises_replies_and_releases_their_message_ids(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk
        .reply(&ticket, json!({"text": "Dear Ann Lee, try this."}))
        .await
        .body;
    assert_eq!(desk.send(&reply, 1).await, vec![json!("sent")]);
    let delivered = desk.message(&ticket, &reply["id"]).await;
    let sent = desk.sent_to(&ann);
    let answered = desk.answered_id(&delivered, &sent[0]);
    let unsent = desk.reply(&ticket, json!({"text": "And this."})).await.body;

    let requested = desk
        .api()
        .post(
            As::Admin,
            &format!("/customers/{ann}/erase"),
            json!({"tickets": "anonymise"}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    crate::support::run_job(
        desk.api(),
        "erasure",
        requested.body["id"].as_str().unwrap(),
    )
    .await;
    let erased = desk.message(&ticket, &reply["id"]).await;
    assert_eq!(erased["to"][0]["email"], "erased@erased.invalid");
    assert_eq!(erased["text"], "[erased]");
    assert_eq!(erased["in_reply_to"], Value::Null);
    assert_eq!(erased["references"], json!([]));
    // A reply still queued is not sent to anyone any more.
    let unsent = desk.message(&ticket, &unsent["id"]).await;
    assert_eq!(unsent["delivery"]["status"], "failed", "{unsent}");
    assert_eq!(desk.send(&unsent, 1).await, vec![json!("not_due")]);
    assert_eq!(desk.sent_to(&ann).len(), 1);

    // Someone answering the old mail starts a ticket of their own.
    let stranger = address("eve");
    let record = desk
        .mail
        .deliver_now(&plain(
            &stranger,
            "Re: something",
            &format!("<late-{}@mail.test>", uuid::Uuid::new_v4().simple()),
            &[("In-Reply-To", &format!("<{answered}>"))],
            "Hello?\n",
        ))
        .await;
    assert_eq!(record["thread_reason"], "new", "{record}");
}

on_both_stores!(
    bounces_and_complaints_mark_replies_and_customers,
    erasure_anonymises_replies_and_releases_their_message_ids,
);
