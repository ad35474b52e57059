//! Inbound email: the email-ingest handler fed SES receipt events (as Lambda would, after the S3
//! action stored the raw message), checked through the HTTP API. Every test runs on SQLite with
//! a folder and on DynamoDB with S3 (moto).

use std::sync::atomic::{AtomicU64, Ordering};

use helpdesk_shared::lambda::email_ingest::EmailIngestHandler;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::support::{As, LambdaApi};

pub(crate) struct Mail {
    pub(crate) api: LambdaApi,
    handler: EmailIngestHandler,
    /// Arrival times one second apart, so arrival order is the order of delivery.
    clock: AtomicU64,
}

impl Mail {
    pub(crate) fn new(api: LambdaApi) -> Mail {
        let context = helpdesk_shared::app::inbound(&api.store, api.objects.clone());
        Mail {
            handler: EmailIngestHandler::new(context, None),
            api,
            clock: AtomicU64::new(0),
        }
    }

    /// Delivers `raw` with passing verdicts; answers the inbound record.
    pub(crate) async fn deliver(&self, raw: &str) -> Value {
        let id = format!("ses-{}", uuid::Uuid::new_v4().simple());
        self.deliver_as(&id, raw.as_bytes(), &[]).await
    }

    /// Stores `raw` at `inbound/{ses_id}` and hands the handler its SES event, as Lambda does:
    /// up to three times while the handler fails. Answers the last outcome and the tries.
    async fn deliver_retried(&self, ses_id: &str, raw: &[u8]) -> (Value, usize) {
        self.api
            .objects
            .put(&format!("inbound/{ses_id}"), raw.to_vec(), "message/rfc822")
            .await
            .expect("the S3 action stores the message");
        let mut event: Value =
            serde_json::from_str(include_str!("../fixtures/ses-lambda-event.json")).unwrap();
        let ses = &mut event["Records"][0]["ses"];
        ses["mail"]["messageId"] = json!(ses_id);
        let second = self.clock.fetch_add(1, Ordering::SeqCst);
        ses["mail"]["timestamp"] = json!(format!(
            "2026-11-21T{:02}:{:02}:{:02}.000Z",
            10 + second / 3600,
            (second / 60) % 60,
            second % 60
        ));
        for tries in 1..=3 {
            let mut context = Context::default();
            context.request_id = format!("{ses_id}-request");
            context.deadline = epoch_millis() + 120_000;
            match self
                .handler
                .handle(LambdaEvent::new(event.clone(), context))
                .await
            {
                Ok(answer) => return (answer["messages"][0].clone(), tries),
                Err(error) => eprintln!("{ses_id}: try {tries} failed: {error}"),
            }
        }
        panic!("{ses_id} was not ingested within three tries");
    }

    /// Stores `raw` at `inbound/{ses_id}` and hands the handler the SES event for it, with
    /// `verdicts` (e.g. `("spamVerdict", "FAIL")`) over the fixture's PASS verdicts.
    async fn deliver_as(&self, ses_id: &str, raw: &[u8], verdicts: &[(&str, &str)]) -> Value {
        let second = self.clock.fetch_add(1, Ordering::SeqCst);
        let at = format!(
            "2026-11-21T{:02}:{:02}:{:02}.000Z",
            10 + second / 3600,
            (second / 60) % 60,
            second % 60
        );
        self.deliver_at(ses_id, raw, verdicts, &at).await
    }

    /// Delivers `raw` as arriving now: after what agents wrote during the test.
    pub(crate) async fn deliver_now(&self, raw: &str) -> Value {
        let id = format!("ses-{}", uuid::Uuid::new_v4().simple());
        let at = helpdesk_shared::now().to_string();
        self.deliver_at(&id, raw.as_bytes(), &[], &at).await
    }

    async fn deliver_at(
        &self,
        ses_id: &str,
        raw: &[u8],
        verdicts: &[(&str, &str)],
        at: &str,
    ) -> Value {
        self.api
            .objects
            .put(&format!("inbound/{ses_id}"), raw.to_vec(), "message/rfc822")
            .await
            .expect("the S3 action stores the message");
        let mut event: Value =
            serde_json::from_str(include_str!("../fixtures/ses-lambda-event.json")).unwrap();
        let ses = &mut event["Records"][0]["ses"];
        ses["mail"]["messageId"] = json!(ses_id);
        ses["mail"]["timestamp"] = json!(at);
        for (verdict, status) in verdicts {
            ses["receipt"][verdict]["status"] = json!(status);
        }
        let answer = self
            .handler
            .handle(LambdaEvent::new(event, Context::default()))
            .await
            .expect("the handler accepts the event");
        assert_eq!(answer["messages"][0]["id"], json!(ses_id), "{answer}");
        let record = self.api.get(As::Agent, &format!("/inbound/{ses_id}")).await;
        assert_eq!(record.status, 200, "{}", record.body);
        record.body
    }

    pub(crate) async fn ticket(&self, id: &Value) -> Value {
        let id = id.as_str().expect("a ticket id");
        let reply = self.api.get(As::Agent, &format!("/tickets/{id}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    async fn tickets_of(&self, email: &str) -> Vec<Value> {
        let reply = self
            .api
            .get(As::Agent, &format!("/customers/{email}/tickets"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["items"].as_array().unwrap().clone()
    }

    async fn inbound(&self, status: &str) -> Vec<Value> {
        let reply = self
            .api
            .get(As::Agent, &format!("/inbound?status={status}"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["items"].as_array().unwrap().clone()
    }
}

fn epoch_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A message with CRLF line ends: `headers` then `body`.
fn eml(headers: &[(&str, &str)], body: &str) -> String {
    let mut raw = String::new();
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(&body.replace("\r\n", "\n").replace('\n', "\r\n"));
    raw
}

pub(crate) fn plain(
    from: &str,
    subject: &str,
    message_id: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> String {
    let mut headers = vec![
        ("From", from),
        ("To", "Support <help@helpdesk.test>"),
        ("Subject", subject),
        ("Date", "Sat, 21 Nov 2026 10:00:00 +0000"),
        ("Message-ID", message_id),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ];
    headers.extend_from_slice(extra);
    eml(&headers, body)
}

const FIRST: &str = "From: Ann Lee <ann@acme.test>\r
Reply-To: Ann at home <ann.lee@home.test>\r
To: Support <help@helpdesk.test>\r
Cc: Bob Stone <bob@acme.test>\r
Subject: Printer on fire\r
Date: Sat, 21 Nov 2026 09:58:00 +0100\r
Message-ID: <m1@acme.test>\r
MIME-Version: 1.0\r
Content-Type: multipart/alternative; boundary=\"b1\"\r
\r
--b1\r
Content-Type: text/plain; charset=utf-8\r
\r
Help, the printer is on fire.\r
--b1\r
Content-Type: text/html; charset=utf-8\r
\r
<p onclick=\"steal()\">Help, the <b>printer</b> is on fire.<script>alert(1)</script></p>\r
--b1--\r
";

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

async fn automated_mail_is_recorded_and_left_alone(api: LambdaApi) {
    let mail = Mail::new(api);
    let cases: Vec<(String, &str)> = vec![
        (
            plain(
                "ooo@robot.test",
                "Out of office",
                "<a1@robot.test>",
                &[("Auto-Submitted", "auto-replied")],
                "I am away",
            ),
            "Auto-Submitted",
        ),
        (
            plain(
                "news@robot.test",
                "Newsletter",
                "<a2@robot.test>",
                &[("Precedence", "bulk")],
                "Buy",
            ),
            "Precedence",
        ),
        (
            plain(
                "ooo2@robot.test",
                "Away",
                "<a3@robot.test>",
                &[("X-Autoreply", "yes")],
                "Away",
            ),
            "X-Autoreply",
        ),
        (
            plain(
                "ooo3@robot.test",
                "Away",
                "<a4@robot.test>",
                &[("X-Autorespond", "yes")],
                "Away",
            ),
            "X-Autorespond",
        ),
        (
            plain(
                "ex@robot.test",
                "Away",
                "<a5@robot.test>",
                &[("X-Auto-Response-Suppress", "All")],
                "Away",
            ),
            "X-Auto-Response-Suppress",
        ),
        (
            plain(
                "list@robot.test",
                "[list] hi",
                "<a6@robot.test>",
                &[("List-Id", "<dev.lists.test>")],
                "Hi all",
            ),
            "mailing list",
        ),
        (
            plain(
                "promo@robot.test",
                "Deals",
                "<a7@robot.test>",
                &[("List-Unsubscribe", "<mailto:u@robot.test>")],
                "Deals",
            ),
            "mailing list",
        ),
        (
            plain(
                "MAILER-DAEMON@mx.robot.test",
                "Undeliverable",
                "<a8@robot.test>",
                &[],
                "Failed",
            ),
            "mailer-daemon",
        ),
        (
            plain(
                "postmaster@robot.test",
                "Notice",
                "<a9@robot.test>",
                &[],
                "Notice",
            ),
            "postmaster",
        ),
        (
            plain(
                "bounce@robot.test",
                "Notice",
                "<a10@robot.test>",
                &[("Return-Path", "<>")],
                "Bounce",
            ),
            "Return-Path",
        ),
        (
            eml(
                &[
                    ("From", "Mail Delivery System <bounces@robot.test>"),
                    ("To", "help@helpdesk.test"),
                    ("Subject", "Delivery Status Notification (Failure)"),
                    ("Message-ID", "<a11@robot.test>"),
                    ("MIME-Version", "1.0"),
                    (
                        "Content-Type",
                        "multipart/report; report-type=delivery-status; boundary=\"r\"",
                    ),
                ],
                "--r\nContent-Type: text/plain\n\nYour message could not be delivered.\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.robot.test\nFinal-Recipient: rfc822; x@y.test\nAction: failed\nStatus: 5.1.1\n--r--\n",
            ),
            "delivery status",
        ),
    ];
    for (raw, expected) in &cases {
        let record = mail.deliver(raw).await;
        assert_eq!(record["status"], "ignored", "{expected}: {record}");
        let reason = record["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{expected}: {reason}");
        assert_eq!(record["ticket_id"], Value::Null);
        let sender = record["from"].as_str().unwrap();
        assert_eq!(
            mail.api
                .get(As::Agent, &format!("/customers/{sender}"))
                .await
                .status,
            404,
            "{expected}: no customer for automated mail"
        );
    }
    assert_eq!(mail.inbound("ignored").await.len(), cases.len());
    assert!(mail.inbound("ingested").await.is_empty());

    // A person's mail that says it is not automated is ingested.
    let human = plain(
        "fay@people.test",
        "Question",
        "<h1@people.test>",
        &[("Auto-Submitted", "no")],
        "Hi",
    );
    assert_eq!(mail.deliver(&human).await["status"], "ingested");
}

async fn spam_virus_and_forged_mail_are_contained(api: LambdaApi) {
    let mail = Mail::new(api);
    let first = mail.deliver(FIRST).await;
    for (verdict, id) in [("spamVerdict", "ses-spam"), ("virusVerdict", "ses-virus")] {
        let raw = plain(
            "ann@acme.test",
            "Re: Printer on fire",
            &format!("<{id}@acme.test>"),
            &[("In-Reply-To", "<m1@acme.test>")],
            "Click here",
        );
        let record = mail
            .deliver_as(id, raw.as_bytes(), &[(verdict, "FAIL")])
            .await;
        assert_eq!(record["status"], "ignored");
        assert!(
            record["reason"].as_str().unwrap().contains("verdict FAIL"),
            "{record}"
        );
        assert_eq!(record["raw_key"], format!("inbound/{id}"));
        let kept = mail.api.objects.get(&format!("inbound/{id}")).await;
        assert_eq!(
            kept.unwrap(),
            raw.as_bytes(),
            "the raw mail stays in the bucket"
        );
    }

    // SPF, DKIM and DMARC all fail: the sender may be forged, so it never joins Ann's ticket,
    // whatever its headers claim.
    let forged = plain(
        "Ann Lee <ann@acme.test>",
        &format!(
            "Re: [#{}] Printer on fire",
            first["ticket_id"].as_str().unwrap()
        ),
        "<forged@evil.test>",
        &[("In-Reply-To", "<m1@acme.test>")],
        "Please wire the money",
    );
    let fails = [
        ("spfVerdict", "FAIL"),
        ("dkimVerdict", "FAIL"),
        ("dmarcVerdict", "FAIL"),
    ];
    let record = mail
        .deliver_as("ses-forged", forged.as_bytes(), &fails)
        .await;
    assert_eq!(record["status"], "ingested");
    assert_ne!(record["ticket_id"], first["ticket_id"]);
    assert_eq!(record["thread_reason"], "unverified");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    assert_eq!(ticket["messages"][0]["unauthenticated"], true);
    assert_eq!(mail.ticket(&first["ticket_id"]).await["message_count"], 1);

    // One failing check alone is not enough to distrust a message.
    let one_fail = plain(
        "ann@acme.test",
        "Re: Printer on fire",
        "<ok@acme.test>",
        &[("In-Reply-To", "<m1@acme.test>")],
        "Fine",
    );
    let record = mail
        .deliver_as("ses-spf", one_fail.as_bytes(), &[("spfVerdict", "FAIL")])
        .await;
    assert_eq!(record["ticket_id"], first["ticket_id"]);

    // A reply joins only when SPF or DKIM passed: DMARC alone, or GRAY verdicts (a domain
    // without SPF, DKIM or DMARC records), do not vouch for the sender.
    for (id, verdicts) in [
        (
            "ses-gray",
            [
                ("spfVerdict", "GRAY"),
                ("dkimVerdict", "GRAY"),
                ("dmarcVerdict", "GRAY"),
            ],
        ),
        (
            "ses-dmarc-only",
            [
                ("spfVerdict", "FAIL"),
                ("dkimVerdict", "FAIL"),
                ("dmarcVerdict", "PASS"),
            ],
        ),
        (
            "ses-processing",
            [
                ("spfVerdict", "PROCESSING_FAILED"),
                ("dkimVerdict", "GRAY"),
                ("dmarcVerdict", "GRAY"),
            ],
        ),
    ] {
        let raw = plain(
            "ann@acme.test",
            "Re: Printer on fire",
            &format!("<{id}@acme.test>"),
            &[("In-Reply-To", "<m1@acme.test>")],
            "Is this me?",
        );
        let record = mail.deliver_as(id, raw.as_bytes(), &verdicts).await;
        assert_ne!(record["ticket_id"], first["ticket_id"], "{id}");
        assert_eq!(record["thread_reason"], "unverified", "{id}");
        let ticket = mail.ticket(&record["ticket_id"]).await;
        assert_eq!(ticket["messages"][0]["unauthenticated"], true, "{id}");
    }
    let record = mail
        .deliver_as(
            "ses-dkim",
            plain(
                "ann@acme.test",
                "Re: Printer on fire",
                "<dkim@acme.test>",
                &[("In-Reply-To", "<m1@acme.test>")],
                "Signed",
            )
            .as_bytes(),
            &[
                ("spfVerdict", "GRAY"),
                ("dkimVerdict", "PASS"),
                ("dmarcVerdict", "GRAY"),
            ],
        )
        .await;
    assert_eq!(
        record["ticket_id"], first["ticket_id"],
        "DKIM alone vouches"
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

async fn malformed_mail_fails_with_a_reason(api: LambdaApi) {
    let mail = Mail::new(api);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "malformed"),
        (vec![0xff, 0xfe, 0x00, 0x01, 0x80, 0x81, 0x00], "malformed"),
        (b"Subject: nobody sent this\r\n\r\nbody".to_vec(), "no From"),
        (plain("Ann <ann@bad_domain>", "Hi", "<x1@x.test>", &[], "Hi").into_bytes(), "sender address"),
        (
            b"From: ann@acme.test\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=\"never\"\r\nContent-Transfer-Encoding: base64\r\n\r\n--never\r\nContent-Type: text/plain\r\n\r\n%%%% not base64 \xff\xfe".to_vec(),
            "",
        ),
    ];
    for (i, (raw, expected)) in cases.iter().enumerate() {
        let record = mail.deliver_as(&format!("ses-bad-{i}"), raw, &[]).await;
        if expected.is_empty() {
            // Broken parts inside a readable message: kept as well as can be, never a panic.
            assert_eq!(record["status"], "ingested", "{record}");
            continue;
        }
        assert_eq!(record["status"], "failed", "case {i}: {record}");
        let reason = record["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "case {i}: {reason}");
    }
    let failed = mail.inbound("failed").await;
    assert_eq!(failed.len(), 4);
    // The whole listing pages, newest first.
    let page = mail.api.get(As::Agent, "/inbound?limit=2").await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["items"][0]["id"], "ses-bad-4");
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = mail
        .api
        .get(As::Agent, &format!("/inbound?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(next.body["items"][0]["id"], "ses-bad-2");
    mail.api
        .get(As::Agent, "/inbound?status=lost")
        .await
        .assert_problem(400, "status");
    mail.api
        .get(
            As::Agent,
            &format!("/inbound?status=failed&cursor={cursor}"),
        )
        .await
        .assert_problem(400, "cursor");
}

async fn redelivered_and_duplicate_mail_is_stored_once(api: LambdaApi) {
    let mail = Mail::new(api);
    let first = mail.deliver_as("ses-once", FIRST.as_bytes(), &[]).await;
    let again = mail.deliver_as("ses-once", FIRST.as_bytes(), &[]).await;
    assert_eq!(
        again, first,
        "a redelivered event answers the first outcome"
    );
    // The same message through another SES delivery (sent to two support addresses).
    let copy = mail.deliver_as("ses-copy", FIRST.as_bytes(), &[]).await;
    assert_eq!(copy["status"], "ignored");
    assert!(
        copy["reason"].as_str().unwrap().contains("duplicate"),
        "{copy}"
    );
    assert_eq!(copy["ticket_id"], first["ticket_id"]);
    let ticket = mail.ticket(&first["ticket_id"]).await;
    assert_eq!(ticket["message_count"], 1);
    assert_eq!(ticket["messages"].as_array().unwrap().len(), 1);
    assert_eq!(mail.tickets_of("ann@acme.test").await.len(), 1);
}

async fn charsets_and_encoded_words_become_utf8(api: LambdaApi) {
    let mail = Mail::new(api);
    let raw = eml(
        &[
            ("From", "=?UTF-8?B?Wm/DqyBNw7xsbGVy?= <zoe@example.de>"),
            ("To", "help@helpdesk.test"),
            (
                "Subject",
                "=?ISO-8859-1?Q?Caf=E9_cr=E8me?= =?UTF-8?Q?_=E2=82=AC?=",
            ),
            ("Message-ID", "<cs1@example.de>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=windows-1252"),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ],
        "Pr=E9sentation =80 100\n",
    );
    let record = mail.deliver(&raw).await;
    assert_eq!(record["subject"], "Café crème €");
    let zoe = mail.api.get(As::Agent, "/customers/zoe@example.de").await;
    assert_eq!(zoe.body["first_name"], "Zoë");
    assert_eq!(zoe.body["last_name"], "Müller");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    assert_eq!(ticket["messages"][0]["text"], "Présentation € 100\n");

    let japanese = eml(
        &[
            ("From", "taro@example.jp"),
            ("Subject", "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="),
            ("Message-ID", "<cs2@example.jp>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "multipart/mixed; boundary=\"j\""),
        ],
        "--j\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n\ngrGC8YLJgr+CzYFBkKKKRQ==\n--j\nContent-Type: text/plain; charset=KOI8-R\nContent-Transfer-Encoding: base64\n\n8NLJ18XU\n--j--\n",
    );
    let record = mail.deliver(&japanese).await;
    assert_eq!(record["subject"], "こんにちは");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    let text = ticket["messages"][0]["text"].as_str().unwrap();
    assert!(text.contains("こんにちは、世界"), "{text}");
    assert!(text.contains("Привет"), "{text}");
}

async fn attachments_and_large_bodies_are_kept_in_the_bucket(api: LambdaApi) {
    let mail = Mail::new(api);
    let pdf: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let long_text = "All work and no play makes Jack a dull boy.\n".repeat(3_000);
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let raw = eml(
        &[
            ("From", "Ann Lee <ann@acme.test>"),
            ("Subject", "Invoice and logs"),
            ("Message-ID", "<att1@acme.test>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "multipart/mixed; boundary=\"m\""),
        ],
        &format!(
            "--m\nContent-Type: text/plain; charset=utf-8\n\n{long_text}\n--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"=?UTF-8?Q?Rechnung_M=C3=A4rz.pdf?=\"\nContent-Transfer-Encoding: base64\n\n{}\n--m\nContent-Type: image/png\nContent-Disposition: inline\nContent-ID: <logo@acme.test>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--m--\n",
            wrapped.join("\n")
        ),
    );
    let record = mail.deliver(&raw).await;
    assert_eq!(record["status"], "ingested", "{record}");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    let message = &ticket["messages"][0];
    assert!(
        message["text"].as_str().unwrap().len() > 100_000,
        "the full body comes back"
    );
    assert_eq!(
        message.get("body_key"),
        Some(&json!(format!(
            "bodies/{}.json",
            record["id"].as_str().unwrap()
        )))
    );
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{message}");
    assert_eq!(attachments[0]["filename"], "Rechnung März.pdf");
    assert_eq!(attachments[0]["content_type"], "application/pdf");
    assert_eq!(attachments[0]["size"], pdf.len());
    assert_eq!(attachments[0]["inline"], false);
    assert_eq!(attachments[1]["inline"], true);
    assert_eq!(attachments[1]["content_id"], "logo@acme.test");
    let key = attachments[0]["key"].as_str().unwrap();
    assert_eq!(mail.api.objects.get(key).await.unwrap(), pdf);

    let ticket_id = ticket["id"].as_str().unwrap();
    let attachment_id = attachments[0]["id"].as_str().unwrap();
    let download = mail
        .api
        .get(
            As::Agent,
            &format!("/tickets/{ticket_id}/attachments/{attachment_id}"),
        )
        .await;
    assert_eq!(download.status, 303, "{}", download.body);
    let url = download.body["url"].as_str().unwrap();
    assert_eq!(download.header("location"), Some(url));
    assert_eq!(download.body["filename"], "Rechnung März.pdf");
    assert!(download.body["expires_in"].as_u64().unwrap() <= 900);
    if url.contains("X-Amz-Signature") {
        // S3: the presigned URL works without other credentials.
        let (status, bytes) = crate::support::http_get(url);
        assert_eq!(status, 200);
        assert_eq!(bytes, pdf);
    } else {
        assert!(url.contains("/downloads/"), "{url}");
    }
    mail.api
        .get(
            As::Agent,
            &format!("/tickets/{ticket_id}/attachments/{attachment_id}9"),
        )
        .await
        .assert_problem_status(404);
    mail.api
        .get(
            As::Anonymous,
            &format!("/tickets/{ticket_id}/attachments/{attachment_id}"),
        )
        .await
        .assert_problem_status(401);
}

/// SES refuses messages over 40 MB, so anything larger did not come from it: recorded as
/// failed, not parsed. (SQLite and a folder only: 41 MB through moto adds nothing.)
#[tokio::test]
async fn messages_over_the_ses_limit_fail_unparsed() {
    let mail = Mail::new(LambdaApi::on_sqlite().await);
    let mut raw = plain("big@acme.test", "Huge", "<huge@acme.test>", &[], "x").into_bytes();
    raw.resize(40 * 1024 * 1024 + 1, b'x');
    let record = mail.deliver_as("ses-huge", &raw, &[]).await;
    assert_eq!(record["status"], "failed");
    assert!(
        record["reason"].as_str().unwrap().contains("40 MB"),
        "{record}"
    );
    assert_eq!(
        mail.api
            .get(As::Agent, "/customers/big@acme.test")
            .await
            .status,
        404
    );
}

async fn mail_from_a_blocked_customer_is_ignored(api: LambdaApi) {
    let mail = Mail::new(api);
    let first = mail.deliver(FIRST).await;
    assert_eq!(first["status"], "ingested", "{first}");
    let blocked = mail
        .api
        .post(As::Admin, "/customers/ann@acme.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    let again = "From: Ann Lee <ann@acme.test>\r\nTo: help@helpdesk.test\r\nSubject: Re: Printer on fire\r\nMessage-ID: <m2@acme.test>\r\nIn-Reply-To: <m1@acme.test>\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nStill on fire.\r\n--x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"fire.pdf\"\r\n\r\n%PDF-1.4\r\n--x--\r\n";
    let record = mail.deliver(again).await;
    assert_eq!(record["status"], "ignored", "{record}");
    assert_eq!(record["reason"], "blocked");
    assert!(record["ticket_id"].is_null(), "{record}");
    // Recorded for agents to see, and nothing added to the ticket.
    let ignored = mail.inbound("ignored").await;
    assert!(
        ignored.iter().any(|r| r["id"] == record["id"]),
        "{ignored:?}"
    );
    let ticket = mail.ticket(&first["ticket_id"]).await;
    assert_eq!(ticket["messages"].as_array().unwrap().len(), 1, "{ticket}");
    assert_eq!(mail.tickets_of("ann@acme.test").await.len(), 1);

    // Unblocked, the customer's mail comes in again.
    let unblocked = mail
        .api
        .delete(As::Admin, "/customers/ann@acme.test/block")
        .await;
    assert_eq!(unblocked.status, 200);
    let later = again.replace("<m2@acme.test>", "<m3@acme.test>");
    let record = mail.deliver(&later).await;
    assert_eq!(record["status"], "ingested", "{record}");
    assert_eq!(record["ticket_id"], first["ticket_id"]);
}

on_both_stores!(
    new_sender_becomes_a_customer_with_a_ticket,
    mail_from_a_blocked_customer_is_ignored,
    senders_match_companies_and_alternate_emails,
    reply_chains_thread_by_token_in_reply_to_and_references,
    tokens_only_join_tickets_of_the_customer_or_their_company,
    replies_reopen_solved_tickets_and_follow_up_closed_ones,
    automated_mail_is_recorded_and_left_alone,
    spam_virus_and_forged_mail_are_contained,
    strangers_cannot_join_a_ticket_by_its_message_ids,
    html_mail_loads_no_remote_images_and_attachments_never_render,
    malformed_mail_fails_with_a_reason,
    redelivered_and_duplicate_mail_is_stored_once,
    charsets_and_encoded_words_become_utf8,
    attachments_and_large_bodies_are_kept_in_the_bucket,
);

/// 40,000 references, a thousand subject tokens and a quote 100,000 lines long cost the store
/// exactly as many requests as an ordinary reply, and the body is read in linear time.
#[tokio::test]
async fn pathological_messages_cost_a_constant_number_of_requests() {
    use crate::fake_dynamodb::FakeDynamo;
    use std::time::Duration;
    let fake = FakeDynamo::start(Duration::ZERO, 1e9).await;
    let mail = Mail::new(crate::support::api_on_endpoint(
        &fake.endpoint(),
        "pathological",
    ));
    let first = mail.deliver(FIRST).await;

    let ordinary = plain(
        "ann@acme.test",
        "Re: Printer on fire",
        "<r1@acme.test>",
        &[
            ("In-Reply-To", "<m1@acme.test>"),
            ("References", "<m1@acme.test>"),
        ],
        "Still burning.",
    );
    let before = fake.stats().requests;
    let record = mail.deliver(&ordinary).await;
    let baseline = fake.stats().requests - before;
    assert_eq!(record["ticket_id"], first["ticket_id"]);

    let references: String = (0..40_000)
        .map(|i| format!("<ref{i}@elsewhere.test>"))
        .collect::<Vec<_>>()
        .join("\r\n ");
    let tokens: String = (0..1_000).map(|i| format!("[#NOPE{i}] ")).collect();
    let subject = format!("Re: {tokens}Printer on fire");
    // Quoted lines with the answer last: checking each quote line against every line after
    // it would take minutes here.
    let body = format!(
        "{}The answer is at the end.\n",
        "> quoted\n".repeat(100_000)
    );
    let pathological = plain(
        "ann@acme.test",
        &subject,
        "<r2@acme.test>",
        &[
            ("In-Reply-To", "<m1@acme.test>"),
            ("References", &references),
        ],
        &body,
    );
    let before = fake.stats().requests;
    let record = mail.deliver(&pathological).await;
    let cost = fake.stats().requests - before;
    assert_eq!(record["ticket_id"], first["ticket_id"], "{record}");
    assert_eq!(record["thread_reason"], "in_reply_to");
    assert_eq!(
        cost, baseline,
        "the pathological message cost {cost} requests, an ordinary reply {baseline}"
    );
}

/// A message with a tracking pixel, an inline image and active attachments.
const ACTIVE_CONTENT: &str = "From: Ann Lee <ann@acme.test>\r\nSubject: Look\r\nMessage-ID: <act@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hi<img src=\"https://track.example/p.gif?u=ann\" width=\"1\"><img src=\"cid:logo@acme\"></p>\r\n--b\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(document.cookie)</script>\r\n--b\r\nContent-Type: image/svg+xml; name=\"pic.svg\"\r\nContent-Disposition: attachment; filename=\"pic.svg\"\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\r\n--b\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\nplain notes\r\n--b--\r\n";

async fn html_mail_loads_no_remote_images_and_attachments_never_render(api: LambdaApi) {
    let mail = Mail::new(api);
    let record = mail.deliver(ACTIVE_CONTENT).await;
    assert_eq!(record["status"], "ingested", "{record}");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    let message = &ticket["messages"][0];
    let html = message["html"].as_str().expect("an HTML body");
    assert!(
        html.contains("data-remote-src=\"https://track.example/p.gif?u=ann\""),
        "{html}"
    );
    assert!(
        !html.contains(" src=\"https:"),
        "the pixel would load: {html}"
    );
    assert!(html.contains("src=\"cid:logo@acme\""), "{html}");

    // The attachment records keep what the sender declared; downloads are inert.
    let attachments = message["attachments"].as_array().unwrap();
    let served: Vec<(String, String)> = {
        let mut served = Vec::new();
        for attachment in attachments {
            let path = format!(
                "/tickets/{}/attachments/{}",
                ticket["id"].as_str().unwrap(),
                attachment["id"].as_str().unwrap()
            );
            let reply = mail.api.get(As::Agent, &path).await;
            assert_eq!(reply.status, 303, "{}", reply.body);
            served.push((
                attachment["filename"].as_str().unwrap().to_string(),
                reply.body["url"].as_str().unwrap().to_string(),
            ));
        }
        served
    };
    assert_eq!(served.len(), 3);
    assert_eq!(attachments[0]["content_type"], "text/html");
    for (filename, url) in served {
        if url.contains("/downloads/") {
            // Local folders: the download route of `helpdesk serve`, tested with the server.
            continue;
        }
        let (status, head, _) = crate::support::http_get_with_head(&url);
        assert_eq!(status, 200, "{head}");
        assert!(
            head.contains(&format!(
                "content-disposition: attachment; filename=\"{filename}\""
            )),
            "{filename}: {head}"
        );
        let expected = if filename == "notes.txt" {
            "content-type: text/plain"
        } else {
            "content-type: application/octet-stream"
        };
        assert!(head.contains(expected), "{filename}: {head}");
    }
}

/// 100 messages (50 first messages and 50 replies) through a DynamoDB that fails one call in 7
/// and loses the answer of one write in 5: each is ingested once, within three tries, and
/// threaded as without faults.
#[tokio::test]
async fn inbound_mail_survives_a_failing_dynamodb() {
    use crate::fake_dynamodb::FakeDynamo;
    use crate::fault_proxy::FaultProxy;
    use std::sync::atomic::Ordering as Relaxed;
    let fake = FakeDynamo::start(std::time::Duration::ZERO, 0.0).await;
    let proxy = FaultProxy::start(&fake.endpoint(), 7, 5, 7).await;
    let mail = Mail::new(crate::support::api_on_endpoint(
        &proxy.endpoint(),
        "mail-faults",
    ));
    let mut tickets = Vec::new();
    for i in 0..50 {
        let first = plain(
            &format!("Person {i} <p{i}@faults.test>"),
            &format!("Problem {i}"),
            &format!("<first{i}@faults.test>"),
            &[],
            "It broke.",
        );
        let (record, _) = mail
            .deliver_retried(&format!("ses-first-{i}"), first.as_bytes())
            .await;
        assert_eq!(record["status"], "ingested", "{record}");
        assert_eq!(record["thread_reason"], "new", "{record}");
        tickets.push(record["ticket_id"].clone());
    }
    for (i, ticket) in tickets.iter().enumerate() {
        let reply = plain(
            &format!("p{i}@faults.test"),
            &format!("Re: Problem {i}"),
            &format!("<reply{i}@faults.test>"),
            &[("In-Reply-To", &format!("<first{i}@faults.test>"))],
            "Still broken.",
        );
        let (record, _) = mail
            .deliver_retried(&format!("ses-reply-{i}"), reply.as_bytes())
            .await;
        assert_eq!(&record["ticket_id"], ticket, "{record}");
        assert_eq!(record["thread_reason"], "in_reply_to", "{record}");
    }
    // One ticket per person, each with its two messages once.
    let distinct: std::collections::HashSet<String> =
        tickets.iter().map(|t| t.to_string()).collect();
    assert_eq!(distinct.len(), 50);
    for ticket in &tickets {
        let ticket = mail.ticket(ticket).await;
        assert_eq!(ticket["message_count"], 2, "{ticket}");
        assert_eq!(ticket["messages"].as_array().unwrap().len(), 2, "{ticket}");
    }
    let faults = &proxy.counts;
    assert!(
        faults.failed_before.load(Relaxed::Relaxed) > 20,
        "{faults:?}"
    );
    assert!(faults.answers_lost.load(Relaxed::Relaxed) > 5, "{faults:?}");
}
