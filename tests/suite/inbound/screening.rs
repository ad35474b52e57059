//! What never makes a ticket: automated, spam, virus, forged, malformed, duplicate and oversized mail, and mail from blocked customers.

use super::*;

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
    let record = mail
        .deliver_as("ses-forged", forged.as_bytes(), &FORGED)
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
    mail_from_a_blocked_customer_is_ignored,
    automated_mail_is_recorded_and_left_alone,
    spam_virus_and_forged_mail_are_contained,
    malformed_mail_fails_with_a_reason,
    redelivered_and_duplicate_mail_is_stored_once,
);
