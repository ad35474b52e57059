//! Bounded cost per message, and a failing DynamoDB.

use super::*;

/// 40,000 references, a thousand subject tokens and a quote 100,000 lines long cost the store
/// exactly as many requests as an ordinary reply, and the body is read in linear time.
#[tokio::test]
async fn pathological_messages_cost_a_constant_number_of_requests() {
    let (metered, _, api) =
        crate::support::metered_api(std::time::Duration::ZERO, 0.0, "pathological").await;
    let mail = Mail::new(api);
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
    let before = metered.stats().requests;
    let record = mail.deliver(&ordinary).await;
    let baseline = metered.stats().requests - before;
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
    let before = metered.stats().requests;
    let record = mail.deliver(&pathological).await;
    let cost = metered.stats().requests - before;
    assert_eq!(record["ticket_id"], first["ticket_id"], "{record}");
    assert_eq!(record["thread_reason"], "in_reply_to");
    assert_eq!(
        cost, baseline,
        "the pathological message cost {cost} requests, an ordinary reply {baseline}"
    );
}

/// 100 messages (50 first messages and 50 replies) through a DynamoDB that fails one call in 7
/// and loses the answer of one write in 5: each is ingested once, within three tries, and
/// threaded as without faults.
#[tokio::test]
async fn inbound_mail_survives_a_failing_dynamodb() {
    use crate::fault_proxy::FaultProxy;
    use std::sync::atomic::Ordering as Relaxed;
    let table = crate::support::dynoxide_table().await;
    let proxy = FaultProxy::start(&crate::support::dynamo_endpoint(), 7, 5, 7).await;
    let mail = Mail::new(crate::support::api_on_table(
        &proxy.endpoint(),
        &table,
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
