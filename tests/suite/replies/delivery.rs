//! Sending: once under concurrent deliveries, retries then giving up, the outbox of helpdesk serve.

use super::*;

/// Two deliveries of one stream record at the same time: one mail.
#[tokio::test]
async fn concurrent_deliveries_of_a_reply_send_one_mail() {
    let desk = Desk::new(LambdaApi::on_dynamodb().await).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk.reply(&ticket, json!({"text": "Once"})).await.body;
    let (a, b) = tokio::join!(desk.send(&reply, 1), desk.send(&reply, 1));
    let mut outcomes = [a[0].clone(), b[0].clone()];
    outcomes.sort_by_key(|o| o.to_string());
    assert_eq!(outcomes, [json!("not_due"), json!("sent")]);
    assert_eq!(desk.sent_to(&ann).len(), 1);
}

/// Transient failures are retried and recorded; the reply stays queued until it goes out, or
/// is given up as failed after five failed attempts.
#[tokio::test]
async fn transient_send_failures_are_retried_then_given_up() {
    let api = LambdaApi::on_sqlite().await;
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk.reply(&ticket, json!({"text": "Hi"})).await.body;
    let key = format!(
        "{}#{}",
        reply["received_at"].as_str().unwrap(),
        reply["id"].as_str().unwrap()
    );
    // Three sends per attempt: four failures make one failed attempt, then it goes out.
    let flaky = FlakyMailer::new(4);
    let sender = app::reply_sender(&desk.api().store, flaky.clone());
    assert_eq!(
        sender
            .send(&TicketId::of(ticket.as_str()), &key)
            .await
            .unwrap(),
        SendOutcome::Retrying
    );
    let queued = desk.message(&ticket, &reply["id"]).await;
    assert_eq!(queued["delivery"]["status"], "queued");
    assert_eq!(queued["delivery"]["failed_attempts"], 1);
    assert_eq!(queued["delivery"]["error"], "throttled");
    assert_eq!(
        sender
            .send(&TicketId::of(ticket.as_str()), &key)
            .await
            .unwrap(),
        SendOutcome::Sent
    );
    assert_eq!(flaky.sent.lock().unwrap().len(), 1);

    let second = desk.reply(&ticket, json!({"text": "Again"})).await.body;
    let key = format!(
        "{}#{}",
        second["received_at"].as_str().unwrap(),
        second["id"].as_str().unwrap()
    );
    let down = app::reply_sender(&desk.api().store, FlakyMailer::new(1_000));
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(
            down.send(&TicketId::of(ticket.as_str()), &key)
                .await
                .unwrap(),
        );
    }
    assert_eq!(outcomes[..4], [SendOutcome::Retrying; 4]);
    assert_eq!(outcomes[4], SendOutcome::Failed);
    let failed = desk.message(&ticket, &second["id"]).await;
    assert_eq!(failed["delivery"]["status"], "failed");
    assert_eq!(failed["delivery"]["failed_attempts"], 5);
}

/// `helpdesk serve`: a reply becomes an `.eml` in `DATA_DIR/outbox/`, and the customer's
/// answer to it, dropped into the inbox, joins the ticket by its Message-ID.
#[test]
fn serve_writes_replies_to_the_outbox_and_threads_the_answer() {
    use std::time::Duration;
    let data = crate::support::temp_dir("serve-replies");
    let key = "serve-replies-agent-key:agent=Sam Agent";
    let env = [
        ("SUPPORT_ADDRESS", "support@acme.test"),
        ("SUPPORT_NAME", "Acme Support"),
    ];
    let server = crate::local::Server::start_with_env(&data, Some(key), &env);
    let key = "serve-replies-agent-key";
    let drop_mail = |name: &str, raw: String| {
        std::fs::create_dir_all(data.join("inbox")).unwrap();
        std::fs::write(data.join(format!("{name}.tmp")), raw).unwrap();
        std::fs::rename(
            data.join(format!("{name}.tmp")),
            data.join(format!("inbox/{name}.eml")),
        )
        .unwrap();
    };
    let until = |what: &str, check: &dyn Fn() -> Option<Value>| -> Value {
        for _ in 0..150 {
            if let Some(found) = check() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what} did not happen within 15 s");
    };
    drop_mail(
        "first",
        plain(
            "Ann Lee <ann@acme.test>",
            "Printer on fire",
            "<first@acme.test>",
            &[],
            "It burns.\n",
        ),
    );
    let tickets = until("the first mail's ticket", &|| {
        let (status, _, body) =
            server.request("GET", "/customers/ann@acme.test/tickets", key, &[], None);
        (status == 200 && body["items"].as_array().is_some_and(|i| !i.is_empty())).then_some(body)
    });
    let ticket = tickets["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _, reply) = server.request(
        "POST",
        &format!("/tickets/{ticket}/messages"),
        key,
        &[],
        Some(&json!({"text": "Unplug it."})),
    );
    assert_eq!(status, 201, "{reply}");
    until("the reply's delivery", &|| {
        let (_, _, thread) = server.request("GET", &format!("/tickets/{ticket}"), key, &[], None);
        (thread["messages"][1]["delivery"]["status"] == "sent").then_some(thread)
    });
    let sent: Vec<String> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let mail = parse(&sent[0]);
    assert_eq!(mail.message_id(), reply["message_id"].as_str());
    assert!(
        reply["message_id"]
            .as_str()
            .unwrap()
            .ends_with("@acme.test")
    );
    let from = mail.from().and_then(|f| f.first()).expect("a sender");
    assert_eq!(from.address(), Some("support@acme.test"));
    assert_eq!(from.name(), Some("Sam Agent (Acme Support)"));
    assert_eq!(mail.in_reply_to().as_text(), Some("first@acme.test"));
    assert_eq!(
        mail.subject(),
        Some(format!("Re: Printer on fire [#{ticket}]").as_str())
    );

    drop_mail(
        "answer",
        plain(
            "Ann Lee <ann@acme.test>",
            "Re: Printer on fire",
            "<answer@acme.test>",
            &[(
                "In-Reply-To",
                &format!("<{}>", reply["message_id"].as_str().unwrap()),
            )],
            "Unplugged.\n",
        ),
    );
    let thread = until("the answer joining the ticket", &|| {
        let (_, _, thread) = server.request("GET", &format!("/tickets/{ticket}"), key, &[], None);
        (thread["message_count"] == 3).then_some(thread)
    });
    assert_eq!(thread["status"], "open");
    assert_eq!(thread["messages"][2]["thread_reason"], "in_reply_to");
}
