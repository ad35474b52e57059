//! New senders become customers; messages join tickets only by token or Message-ID, and only their participants'.

use super::*;

async fn new_sender_becomes_a_customer_with_a_ticket(api: LambdaApi) {
    let mail = Mail::new(api);
    let record = mail.deliver(FIRST).await;
    assert_eq!(record["status"], "ingested", "{record}");
    assert_eq!(record["customer_email"], "ann@acme.test");
    assert_eq!(record["customer_created"], true);
    assert_eq!(record["thread_reason"], "new");
    assert_eq!(record["message_id"], "m1@acme.test");

    let customer = mail.api.get(As::Agent, "/customers/ann@acme.test").await;
    assert_eq!(customer.status, 200);
    assert_eq!(customer.body["first_name"], "Ann");
    assert_eq!(customer.body["last_name"], "Lee");
    // The history names the message that created the customer.
    let history = mail
        .api
        .get(As::Agent, "/customers/ann@acme.test/history")
        .await;
    let created = &history.body["items"][0];
    assert_eq!(
        created["by"],
        json!({"type": "inbound", "message": record["id"]})
    );
    assert!(
        created["changes"].to_string().contains("\"Lee\""),
        "{created}"
    );
    // Cc'd people are not customers until they write themselves.
    assert_eq!(
        mail.api
            .get(As::Agent, "/customers/bob@acme.test")
            .await
            .status,
        404
    );

    let ticket = mail.ticket(&record["ticket_id"]).await;
    assert_eq!(ticket["subject"], "Printer on fire");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["customer_email"], "ann@acme.test");
    assert_eq!(ticket["message_count"], 1);
    let message = &ticket["messages"][0];
    assert_eq!(
        message["from"],
        json!({"name": "Ann Lee", "email": "ann@acme.test"})
    );
    assert_eq!(message["to"][0]["email"], "help@helpdesk.test");
    assert_eq!(
        message["reply_to"],
        json!([{"name": "Ann at home", "email": "ann.lee@home.test"}])
    );
    assert_eq!(
        message["cc"],
        json!([{"name": "Bob Stone", "email": "bob@acme.test"}])
    );
    assert_eq!(message["date"], "2026-11-21T09:58:00+01:00");
    assert_eq!(message["text"], "Help, the printer is on fire.");
    assert_eq!(message["reply_text"], "Help, the printer is on fire.");
    assert_eq!(message["thread_reason"], "new");
    assert_eq!(message["unauthenticated"], false);
    let html = message["html"].as_str().unwrap();
    assert!(html.contains("<b>printer</b>"), "{html}");
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );

    let tickets = mail.tickets_of("ann@acme.test").await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["id"], record["ticket_id"]);
}

async fn senders_match_companies_and_alternate_emails(api: LambdaApi) {
    let company = api
        .post(
            As::Admin,
            "/companies",
            json!({"name": "Acme", "domains": ["acme.test"]}),
        )
        .await;
    assert_eq!(company.status, 201, "{}", company.body);
    api.create(json!({
        "email": "carol@home.test", "first_name": "Carol", "last_name": "King",
        "alternate_emails": ["carol@work.test"]
    }))
    .await;
    let mail = Mail::new(api);

    let record = mail
        .deliver(&plain(
            "dan@acme.test",
            "Hello",
            "<d1@acme.test>",
            &[],
            "Hi",
        ))
        .await;
    assert_eq!(record["customer_created"], true);
    let dan = mail.api.get(As::Agent, "/customers/dan@acme.test").await;
    assert_eq!(
        dan.body["company_id"], company.body["id"],
        "domain matching"
    );
    assert_eq!(
        dan.body["first_name"],
        Value::Null,
        "no display name, no name"
    );

    let record = mail
        .deliver(&plain(
            "Carol K <carol@work.test>",
            "Invoice",
            "<c1@work.test>",
            &[],
            "Hi",
        ))
        .await;
    assert_eq!(record["status"], "ingested");
    assert_eq!(record["customer_created"], false);
    assert_eq!(record["customer_email"], "carol@home.test");
    assert_eq!(mail.tickets_of("carol@home.test").await.len(), 1);
    let carol = mail.api.get(As::Agent, "/customers/carol@home.test").await;
    assert_eq!(
        carol.body["first_name"], "Carol",
        "an existing customer keeps their name"
    );
}

async fn reply_chains_thread_by_token_in_reply_to_and_references(api: LambdaApi) {
    let mail = Mail::new(api);
    let first = mail.deliver(FIRST).await;
    let ticket_id = first["ticket_id"].as_str().unwrap().to_string();

    // Gmail: In-Reply-To and References, history quoted below an attribution line.
    let gmail = plain(
        "Ann Lee <ann@acme.test>",
        "Re: Printer on fire",
        "<m2@acme.test>",
        &[
            ("In-Reply-To", "<m1@acme.test>"),
            ("References", "<m1@acme.test>"),
        ],
        "Still burning.\n\nOn Sat, 21 Nov 2026 at 09:58, Ann Lee <ann@acme.test> wrote:\n> Help, the printer is on fire.\n",
    );
    let second = mail.deliver(&gmail).await;
    assert_eq!(second["ticket_id"], json!(ticket_id));
    assert_eq!(second["thread_reason"], "in_reply_to");

    // Outlook: only References (and its own Thread-Index), history under a header block.
    let outlook = plain(
        "Ann Lee <ann@acme.test>",
        "RE: Printer on fire",
        "<m3@outlook.test>",
        &[
            ("References", "<m1@acme.test>\r\n <m2@acme.test>"),
            ("Thread-Index", "AQHZ5Yg0dGhyZWFkaW5kZXg="),
        ],
        "It is out now.\n\n________________________________\nFrom: Ann Lee <ann@acme.test>\nSent: Saturday, November 21, 2026 10:00\nSubject: Re: Printer on fire\n\nStill burning.\n",
    );
    let third = mail.deliver(&outlook).await;
    assert_eq!(third["ticket_id"], json!(ticket_id));
    assert_eq!(third["thread_reason"], "references");

    // A reply that lost its headers but kept the ticket token.
    let subject = format!("Re: [#{}] Printer on fire", ticket_id.to_lowercase());
    let token = plain("ann@acme.test", &subject, "<m4@acme.test>", &[], "Thanks!");
    let fourth = mail.deliver(&token).await;
    assert_eq!(fourth["ticket_id"], json!(ticket_id));
    assert_eq!(fourth["thread_reason"], "token");

    // Same subject, nothing tying it to the thread: a ticket of its own.
    let unrelated = plain(
        "ann@acme.test",
        "Re: Printer on fire",
        "<m5@acme.test>",
        &[],
        "New printer, new fire.",
    );
    let fifth = mail.deliver(&unrelated).await;
    assert_ne!(fifth["ticket_id"], json!(ticket_id));
    assert_eq!(fifth["thread_reason"], "new");

    let ticket = mail.ticket(&json!(ticket_id)).await;
    assert_eq!(ticket["message_count"], 4);
    let messages = ticket["messages"].as_array().unwrap();
    let reasons: Vec<&str> = messages
        .iter()
        .map(|m| m["thread_reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["new", "in_reply_to", "references", "token"]);
    assert_eq!(messages[1]["reply_text"], "Still burning.");
    assert!(
        messages[1]["text"]
            .as_str()
            .unwrap()
            .contains("> Help, the printer")
    );
    assert_eq!(messages[2]["reply_text"], "It is out now.");

    let tickets = mail.tickets_of("ann@acme.test").await;
    let ids: Vec<&Value> = tickets.iter().map(|t| &t["id"]).collect();
    assert_eq!(
        ids,
        [&fifth["ticket_id"], &json!(ticket_id)],
        "newest first"
    );
}

async fn tokens_only_join_tickets_of_the_customer_or_their_company(api: LambdaApi) {
    api.post(
        As::Admin,
        "/companies",
        json!({"name": "Acme", "domains": ["acme.test"]}),
    )
    .await;
    let mail = Mail::new(api);
    let first = mail.deliver(FIRST).await;
    let ticket_id = first["ticket_id"].as_str().unwrap();
    let subject = format!("Re: [#{ticket_id}] Printer on fire");

    let stranger = plain(
        "eve@other.test",
        &subject,
        "<e1@other.test>",
        &[],
        "Let me in",
    );
    let record = mail.deliver(&stranger).await;
    assert_ne!(record["ticket_id"], json!(ticket_id));
    assert_eq!(record["thread_reason"], "not_participant");

    let colleague = plain(
        "bob@acme.test",
        &subject,
        "<b1@acme.test>",
        &[],
        "I am Ann's colleague",
    );
    let record = mail.deliver(&colleague).await;
    assert_eq!(record["ticket_id"], json!(ticket_id));
    assert_eq!(record["thread_reason"], "token");
}

async fn replies_reopen_solved_tickets_and_follow_up_closed_ones(api: LambdaApi) {
    let mail = Mail::new(api);
    let first = mail.deliver(FIRST).await;
    let id = first["ticket_id"].as_str().unwrap().to_string();
    let path = format!("/tickets/{id}");

    let solved = mail
        .api
        .patch(As::Agent, &path, None, json!({"status": "solved"}))
        .await;
    assert_eq!(solved.status, 200, "{}", solved.body);
    assert_eq!(solved.body["status"], "solved");
    let reply = plain(
        "ann@acme.test",
        "Re: Printer on fire",
        "<r1@acme.test>",
        &[("In-Reply-To", "<m1@acme.test>")],
        "Again!",
    );
    assert_eq!(mail.deliver(&reply).await["ticket_id"], json!(id));
    assert_eq!(
        mail.ticket(&json!(id)).await["status"],
        "open",
        "a reply reopens"
    );

    // Bad input names its field; stale versions are refused.
    mail.api
        .patch(As::Agent, &path, None, json!({"status": "archived"}))
        .await
        .assert_problem(400, "status");
    mail.api
        .patch(As::Agent, &path, None, json!({"priority": "high"}))
        .await
        .assert_problem(400, "priority");
    mail.api
        .patch(
            As::Agent,
            &path,
            Some("\"1\""),
            json!({"status": "pending"}),
        )
        .await
        .assert_problem(412, "If-Match");
    mail.api
        .patch(As::Anonymous, &path, None, json!({"status": "pending"}))
        .await
        .assert_problem_status(401);
    mail.api
        .get(As::Agent, "/tickets/NOSUCHTICKET")
        .await
        .assert_problem_status(404);

    let closed = mail
        .api
        .patch(As::Agent, &path, None, json!({"status": "closed"}))
        .await;
    assert_eq!(closed.body["status"], "closed");
    mail.api
        .patch(As::Agent, &path, None, json!({"status": "open"}))
        .await
        .assert_problem(409, "status");
    let late = plain(
        "ann@acme.test",
        "Re: Printer on fire",
        "<r2@acme.test>",
        &[("In-Reply-To", "<m1@acme.test>")],
        "And again!",
    );
    let record = mail.deliver(&late).await;
    assert_ne!(record["ticket_id"], json!(id));
    assert_eq!(record["thread_reason"], "new");
    let follow_up = mail.ticket(&record["ticket_id"]).await;
    assert_eq!(follow_up["follow_up_of"], json!(id));
    assert_eq!(
        mail.ticket(&json!(id)).await["message_count"],
        2,
        "closed stays closed"
    );
}

async fn strangers_cannot_join_a_ticket_by_its_message_ids(api: LambdaApi) {
    api.post(
        As::Admin,
        "/companies",
        json!({"name": "Acme", "domains": ["acme.test"]}),
    )
    .await;
    let mail = Mail::new(api);
    let first = mail.deliver(FIRST).await;
    let ticket_id = first["ticket_id"].as_str().unwrap();

    // Eve learned the Message-ID of Ann's mail: quoting it gets her a ticket of her own.
    for (id, headers) in [
        ("<e1@other.test>", vec![("In-Reply-To", "<m1@acme.test>")]),
        ("<e2@other.test>", vec![("References", "<m1@acme.test>")]),
    ] {
        let stranger = plain(
            "eve@other.test",
            "Re: Printer on fire",
            id,
            &headers,
            "Let me in",
        );
        let record = mail.deliver(&stranger).await;
        assert_eq!(record["status"], "ingested");
        assert_ne!(record["ticket_id"], json!(ticket_id), "{record}");
        assert_eq!(record["thread_reason"], "not_participant", "{record}");
    }
    assert_eq!(mail.ticket(&json!(ticket_id)).await["message_count"], 1);

    // A colleague (same company) and Ann from an alternate address still join.
    let colleague = plain(
        "bob@acme.test",
        "Re: Printer on fire",
        "<b1@acme.test>",
        &[("In-Reply-To", "<m1@acme.test>")],
        "Same here",
    );
    let record = mail.deliver(&colleague).await;
    assert_eq!(record["ticket_id"], json!(ticket_id));
    assert_eq!(record["thread_reason"], "in_reply_to");
    let ann = mail.api.get(As::Admin, "/customers/ann@acme.test").await;
    let etag = ann.header("etag").unwrap().to_string();
    let patched = mail
        .api
        .patch(
            As::Admin,
            "/customers/ann@acme.test",
            Some(&etag),
            json!({"alternate_emails": ["ann@home.test"]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let from_home = plain(
        "ann@home.test",
        "Re: Printer on fire",
        "<h1@home.test>",
        &[("References", "<zzz@nowhere.test> <m1@acme.test>")],
        "From home",
    );
    let record = mail.deliver(&from_home).await;
    assert_eq!(record["ticket_id"], json!(ticket_id));
    assert_eq!(record["thread_reason"], "references");
    assert_eq!(mail.ticket(&json!(ticket_id)).await["message_count"], 3);
}

/// The customers a verified mail was copied to join its ticket's Cc (and so see it in the
/// portal), and their answers by mail join the ticket; people in Cc who are not customers are
/// not made customers by the copy, but their answer joins the ticket (they become customers as
/// any sender does), as does the answer of someone an agent copied; a forged mail copies
/// nobody in.
async fn people_a_mail_was_copied_to_take_part_in_its_ticket(api: LambdaApi) {
    let carl = api.create(json!({"email": "carl@partner.test"})).await;
    let eve = api.create(json!({"email": "eve@other.test"})).await;
    let mail = Mail::new(api);
    let first = plain(
        "Ann Lee <ann@acme.test>",
        "Printer on fire",
        "<c1@acme.test>",
        &[(
            "Cc",
            "Carl <CARL@partner.test>, Dave <dave@nowhere.test>, ann@acme.test",
        )],
        "Help, the printer is on fire.",
    );
    let record = mail.deliver(&first).await;
    assert_eq!(record["status"], "ingested", "{record}");
    let ticket_id = record["ticket_id"].clone();
    let ticket = mail.ticket(&ticket_id).await;
    assert_eq!(ticket["cc_customers"], json!([carl["id"]]), "{ticket}");
    mail.api
        .get(As::Agent, "/customers/dave@nowhere.test")
        .await
        .assert_problem_status(404);

    // Carl answers by mail: it joins Ann's ticket (he is no colleague of hers).
    let answer = plain(
        "carl@partner.test",
        "Re: Printer on fire",
        "<c2@partner.test>",
        &[("In-Reply-To", "<c1@acme.test>")],
        "Ours too.",
    );
    let record = mail.deliver(&answer).await;
    assert_eq!(record["ticket_id"], ticket_id, "{record}");
    assert_eq!(record["thread_reason"], "in_reply_to");
    assert_eq!(mail.ticket(&ticket_id).await["message_count"], 2);

    // Dave, copied but no customer, answers: he becomes a customer, as any new sender, and
    // since the mail he answers was addressed to him, joins the ticket and its Cc.
    let answer = plain(
        "dave@nowhere.test",
        "Re: Printer on fire",
        "<d1@nowhere.test>",
        &[("In-Reply-To", "<c1@acme.test>")],
        "Mine works.",
    );
    let record = mail.deliver(&answer).await;
    assert_eq!(record["ticket_id"], ticket_id, "{record}");
    assert_eq!(record["thread_reason"], "in_reply_to");
    assert_eq!(record["customer_created"], true);
    let dave = mail
        .api
        .get(As::Agent, "/customers/dave@nowhere.test")
        .await;
    let ticket = mail.ticket(&ticket_id).await;
    assert_eq!(
        ticket["cc_customers"],
        json!([carl["id"], dave.body["id"]]),
        "{ticket}"
    );

    // An agent copies Frank (no customer) on a reply; his answer, by the ticket's token, joins.
    let path = format!("/tickets/{}/messages", ticket_id.as_str().unwrap());
    let reply = mail
        .api
        .post(
            As::Agent,
            &path,
            json!({"text": "Unplug it.", "cc": ["frank@vendor.test"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let subject = format!("Re: [#{}] Printer on fire", ticket_id.as_str().unwrap());
    let answer = plain(
        "frank@vendor.test",
        &subject,
        "<f9@vendor.test>",
        &[],
        "Replacement on its way.",
    );
    let record = mail.deliver(&answer).await;
    assert_eq!(record["ticket_id"], ticket_id, "{record}");
    assert_eq!(record["thread_reason"], "token");

    // A forged mail (SPF, DKIM and DMARC failing) copies nobody in.
    let forged = plain(
        "ann@acme.test",
        "Another printer",
        "<f1@acme.test>",
        &[("Cc", "eve@other.test")],
        "Look at this",
    );
    let record = mail
        .deliver_as("ses-forged-cc", forged.as_bytes(), &FORGED)
        .await;
    assert_eq!(record["status"], "ingested", "{record}");
    let forged_ticket = mail.ticket(&record["ticket_id"]).await;
    assert_eq!(forged_ticket["cc_customers"], json!([]), "{forged_ticket}");
    // Eve, never copied, is still a stranger to Ann's first ticket.
    let stranger = plain(
        "eve@other.test",
        "Re: Printer on fire",
        "<e9@other.test>",
        &[("In-Reply-To", "<c1@acme.test>")],
        "Let me in",
    );
    let record = mail.deliver(&stranger).await;
    assert_ne!(record["ticket_id"], ticket_id);
    assert_eq!(record["thread_reason"], "not_participant");
    assert!(eve["id"].is_string());
}

on_both_stores!(
    new_sender_becomes_a_customer_with_a_ticket,
    senders_match_companies_and_alternate_emails,
    reply_chains_thread_by_token_in_reply_to_and_references,
    tokens_only_join_tickets_of_the_customer_or_their_company,
    replies_reopen_solved_tickets_and_follow_up_closed_ones,
    strangers_cannot_join_a_ticket_by_its_message_ids,
    people_a_mail_was_copied_to_take_part_in_its_ticket,
);
