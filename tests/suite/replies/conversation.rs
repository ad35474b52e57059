//! Replies and notes: one mail per reply, the answer joins the ticket, bad replies refused.

use super::*;

async fn a_reply_goes_out_once_and_the_answer_joins_the_ticket(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, first_id) = desk.first_mail(&ann).await;

    let posted = desk
        .reply(
            &ticket,
            json!({
                "text": "Unplug it.\nThen wait.",
                "html": "<p>Unplug it.</p><script>alert(1)</script>",
                "cc": ["Boss@Acme.test"]
            }),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let reply = posted.body;
    assert_eq!(reply["kind"], "reply");
    assert_eq!(reply["author"], "7d1e2f3a-0b4c-4d5e-8f6a-7b8c9d0e1f2a");
    assert_eq!(reply["delivery"]["status"], "queued");
    assert_eq!(reply["from"]["email"], "support@helpdesk.test");
    assert_eq!(reply["from"]["name"], "Sam Agent (Acme Support)");
    assert_eq!(reply["to"][0]["email"], json!(ann));
    assert_eq!(reply["cc"], json!([{"email": "boss@acme.test"}]));
    assert_eq!(reply["in_reply_to"], json!(first_id));
    assert_eq!(reply["references"], json!([first_id]));
    assert_eq!(reply["thread_reason"], "agent");
    assert_eq!(
        reply["subject"],
        json!(format!("Re: Printer on fire [#{ticket}]"))
    );
    assert_eq!(reply["html"], "<p>Unplug it.</p>", "scripts never stay");
    assert!(
        reply["message_id"]
            .as_str()
            .unwrap()
            .ends_with("@helpdesk.test")
    );
    // The API does not wait on the mail: the ticket is the customer's turn at once.
    let thread = desk.mail.ticket(&json!(ticket)).await;
    assert_eq!(thread["status"], "pending");
    assert_eq!(thread["message_count"], 2);

    // Delivered twice (a redelivered stream record): sent once.
    let outcomes = desk.send(&reply, 2).await;
    assert_eq!(outcomes, vec![json!("sent"), json!("not_due")]);
    let sent = desk.sent_to(&ann);
    assert_eq!(sent.len(), 1, "exactly one mail: {sent:?}");
    let mail = parse(&sent[0]);
    assert_eq!(
        mail.subject(),
        Some(format!("Re: Printer on fire [#{ticket}]").as_str())
    );
    assert_eq!(mail.in_reply_to().as_text(), Some(first_id.as_str()));
    assert_eq!(mail.references().as_text(), Some(first_id.as_str()));
    let from = mail.from().and_then(|f| f.first()).expect("a sender");
    assert_eq!(from.address(), Some("support@helpdesk.test"));
    assert_eq!(from.name(), Some("Sam Agent (Acme Support)"));
    let cc = mail.cc().and_then(|c| c.first()).expect("the Cc");
    assert_eq!(cc.address(), Some("boss@acme.test"));
    assert!(mail.body_text(0).is_some_and(|t| t.contains("Then wait.")));
    assert!(
        mail.body_html(0)
            .is_some_and(|h| h.contains("<p>Unplug it.</p>"))
    );
    assert!(
        mail.header("Auto-Submitted").is_none(),
        "a person wrote it: {}",
        sent[0]
    );
    assert_eq!(mail.message_id(), reply["message_id"].as_str());
    if let Wire::Cloud { .. } = &desk.wire {
        // What moto's SES itself holds: the one raw message, to the customer and the Cc.
        let held: Vec<_> = moto_sent_mail()
            .into_iter()
            .filter(|(to, _)| to.iter().any(|t| t.contains(&ann)))
            .collect();
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(
            held[0].0.iter().any(|t| t.contains("boss@acme.test")),
            "{held:?}"
        );
        assert_eq!(parse(&held[0].1).message_id(), reply["message_id"].as_str());
    }

    let delivered = desk.message(&ticket, &reply["id"]).await;
    assert_eq!(delivered["delivery"]["status"], "sent", "{delivered}");
    assert!(delivered["delivery"]["provider_id"].is_string());

    // The customer answers from their mail client: no token, only In-Reply-To.
    let parent = desk.answered_id(&delivered, &sent[0]);
    let answer = desk
        .mail
        .deliver_now(&plain(
            &format!("Ann Lee <{ann}>"),
            "Re: Printer on fire",
            &format!("<answer-{}@mail.test>", uuid::Uuid::new_v4().simple()),
            &[("In-Reply-To", &format!("<{parent}>"))],
            "Unplugged. It stopped.\n",
        ))
        .await;
    assert_eq!(answer["status"], "ingested", "{answer}");
    assert_eq!(answer["ticket_id"], json!(ticket), "{answer}");
    assert_eq!(answer["thread_reason"], "in_reply_to");
    let thread = desk.mail.ticket(&json!(ticket)).await;
    assert_eq!(thread["status"], "open");
    let kinds: Vec<&str> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["inbound", "reply", "inbound"]);

    // The status followed the conversation, and the history says who moved it, in order.
    let history = desk
        .api()
        .get(As::Agent, &format!("/tickets/{ticket}/history"))
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    let entries = history.body["items"].as_array().unwrap();
    let change = |entry: &Value, field: &str| {
        entry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == field)
            .map(|c| (c["from"].clone(), c["to"].clone()))
    };
    assert_eq!(entries.len(), 3, "{}", history.body);
    assert_eq!(
        change(&entries[0], "status"),
        Some((json!("pending"), json!("open")))
    );
    assert_eq!(entries[0]["by"]["type"], "inbound");
    assert_eq!(
        change(&entries[1], "status"),
        Some((json!("open"), json!("pending")))
    );
    assert_eq!(
        change(&entries[1], "last_agent_message"),
        Some((Value::Null, json!({"id": reply["id"], "kind": "reply"})))
    );
    assert_eq!(entries[1]["by"]["type"], "caller");
    assert_eq!(
        change(&entries[2], "status"),
        Some((Value::Null, json!("open")))
    );
    assert_eq!(entries[2]["by"]["type"], "system");
}

async fn notes_stay_inside_and_bad_replies_are_refused(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;

    let note = desk
        .reply(
            &ticket,
            json!({"text": "VIP: handle with care", "internal": true}),
        )
        .await;
    assert_eq!(note.status, 201, "{}", note.body);
    assert_eq!(note.body["kind"], "note");
    assert_eq!(note.body["delivery"], Value::Null);
    assert_eq!(note.body["to"], json!([]));
    assert_eq!(desk.send(&note.body, 1).await, vec![json!("not_due")]);
    assert!(desk.sent_to(&ann).is_empty(), "a note is never sent");
    let thread = desk.mail.ticket(&json!(ticket)).await;
    assert_eq!(thread["status"], "open", "a note leaves the status alone");
    assert_eq!(thread["message_count"], 2);
    let history = desk
        .api()
        .get(As::Agent, &format!("/tickets/{ticket}/history"))
        .await
        .body;
    assert_eq!(
        history["items"][0]["changes"],
        json!([{"field": "last_agent_message", "from": null, "to": {"id": note.body["id"], "kind": "note"}}]),
        "the note is in the ticket's history, the status unchanged"
    );

    let path = format!("/tickets/{ticket}/messages");
    let cases = [
        (json!({"text": "  "}), 422, "text"),
        (json!({"text": "x", "cc": ["not an address"]}), 422, "cc"),
        (
            json!({"text": "x", "internal": true, "cc": ["a@b.test"]}),
            422,
            "cc",
        ),
        (json!({"text": "x".repeat(70_000)}), 422, "text"),
        (json!({"text": "x", "bcc": ["a@b.test"]}), 400, "bcc"),
        (json!({"html": "<p>x</p>"}), 400, "text"),
    ];
    for (body, status, field) in cases {
        desk.api()
            .post(As::Agent, &path, body)
            .await
            .assert_problem(status, field);
    }
    desk.api()
        .post(As::Anonymous, &path, json!({"text": "x"}))
        .await
        .assert_problem_status(401);
    desk.reply("NOSUCHTICKET", json!({"text": "x"}))
        .await
        .assert_problem_status(404);

    // A blocked customer gets no reply (a note is fine).
    let blocked = desk
        .api()
        .post(As::Admin, &format!("/customers/{ann}/block"), json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    desk.reply(&ticket, json!({"text": "x"}))
        .await
        .assert_problem(422, "ticket");
    let note = desk
        .reply(&ticket, json!({"text": "blocked them", "internal": true}))
        .await;
    assert_eq!(note.status, 201, "{}", note.body);

    // A closed ticket takes nothing more: the customer's next mail opens a follow-up.
    let closed = desk
        .api()
        .patch(
            As::Agent,
            &format!("/tickets/{ticket}"),
            None,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    desk.reply(&ticket, json!({"text": "x"}))
        .await
        .assert_problem(409, "status");
    assert!(desk.sent_to(&ann).is_empty());
}

on_both_stores!(
    a_reply_goes_out_once_and_the_answer_joins_the_ticket,
    notes_stay_inside_and_bad_replies_are_refused,
);
