//! What keeps mail from going where it must not (#25): marks that follow the address through
//! edits and re-creation (findings 7, 8), Cc recipients held to the same marks and a per-agent
//! rate limit (12), SES given bare addresses (13), feedback from SES only (14), and erasure
//! reaching delivery errors and the outbox (4, 5).

use super::*;
use crate::privacy::everything_stored;

const BOUNCE: &str = include_str!("../../fixtures/eventbridge-ses-bounce.json");
const COMPLAINT: &str = include_str!("../../fixtures/eventbridge-ses-complaint.json");

async fn etag(desk: &Desk, email: &str) -> String {
    let current = desk
        .api()
        .get(As::Agent, &format!("/customers/{email}"))
        .await;
    assert_eq!(current.status, 200, "{}", current.body);
    current.headers["etag"].clone()
}

async fn customer(desk: &Desk, email: &str) -> Value {
    desk.api()
        .get(As::Agent, &format!("/customers/{email}"))
        .await
        .body
}

/// Findings 7 and 8: a bounce stays on the address when agents change the email away and
/// back; a complaint stays when they delete and re-create the customer with a welcome.
async fn marks_follow_the_address(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk.reply(&ticket, json!({"text": "Hello"})).await.body;
    desk.feedback(BOUNCE, &ann, Some(&reply)).await;
    let elsewhere = address("ann");
    for (from, to) in [(&ann, &elsewhere), (&elsewhere, &ann)] {
        let tag = etag(&desk, from).await;
        let moved = desk
            .api()
            .patch(
                As::Agent,
                &format!("/customers/{from}"),
                Some(&tag),
                json!({"email": to}),
            )
            .await;
        assert_eq!(moved.status, 200, "{}", moved.body);
    }
    assert_eq!(
        customer(&desk, &ann).await["undeliverable"]["email"],
        json!(ann)
    );
    desk.reply(&ticket, json!({"text": "Still there?"}))
        .await
        .assert_problem(422, "ticket");

    let cy = address("cy");
    desk.api().create(json!({"email": cy})).await;
    desk.feedback(COMPLAINT, &cy, None).await;
    let deleted = desk
        .api()
        .delete(As::Agent, &format!("/customers/{cy}"))
        .await;
    assert_eq!(deleted.status, 204);
    let again = desk
        .api()
        .post(
            As::Agent,
            "/customers",
            json!({"email": cy, "send_welcome": true}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(
        again.body["complained"]["email"],
        json!(cy),
        "{}",
        again.body
    );
    let notifier = Notifier {
        customers: desk.api().store.clone(),
        mailer: desk.mailer.clone(),
        template: WelcomeTemplate::with_sender("support@helpdesk.test".into()),
        addresses: helpdesk_shared::services::addresses::AddressBook::new(
            desk.api().store.clone(),
            desk.api().store.clone(),
        ),
    };
    let outcome = notifier.welcome(&Email::stored(cy.as_str())).await.unwrap();
    assert_eq!(outcome, SendOutcome::Failed);
    assert!(
        desk.sent_to(&cy).is_empty(),
        "no welcome to an address that complained"
    );
}

/// Finding 12: every Cc passes the marks the customer's address does (and a complaint bars
/// a Cc, who did not write to support); a mark set after the reply was written stops it at
/// send time.
async fn cc_recipients_pass_the_same_marks(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let blocked = address("blocked");
    desk.api().create(json!({"email": blocked})).await;
    let block = desk
        .api()
        .post(As::Admin, &format!("/customers/{blocked}/block"), json!({}))
        .await;
    assert_eq!(block.status, 200);
    let bounced = address("bounced");
    desk.api().create(json!({"email": bounced})).await;
    desk.feedback(BOUNCE, &bounced, None).await;
    let complained = address("complained");
    desk.feedback(COMPLAINT, &complained, None).await;
    let erased = address("erased");
    desk.api().create(json!({"email": erased})).await;
    let erasure = desk
        .api()
        .post(
            As::Admin,
            &format!("/customers/{erased}/erase"),
            json!({"suppress": true}),
        )
        .await;
    crate::support::run_job(desk.api(), "erasure", erasure.body["id"].as_str().unwrap()).await;

    for barred in [&blocked, &bounced, &complained, &erased] {
        let fine = address("fine");
        desk.reply(
            &ticket,
            json!({"text": "FYI", "cc": [fine, barred.to_uppercase()]}),
        )
        .await
        .assert_problem(422, "cc[1]");
    }
    let thread = desk.mail.ticket(&json!(ticket)).await;
    assert_eq!(thread["message_count"], 1, "nothing was stored");
    assert!(
        !thread.to_string().contains(&erased),
        "the erased address is not stored again"
    );

    let later = address("later");
    let reply = desk
        .reply(&ticket, json!({"text": "FYI", "cc": [later]}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    desk.feedback(COMPLAINT, &later, None).await;
    desk.send(&reply.body, 1).await;
    let sent = desk.message(&ticket, &reply.body["id"]).await;
    assert_eq!(sent["delivery"]["status"], "failed", "{sent}");
    let error = sent["delivery"]["error"].as_str().unwrap();
    assert!(error.contains(&later), "{error}");
    assert!(desk.sent_to(&ann).is_empty());
}

/// Finding 12: one agent sends at most 20 replies a minute (and 200 an hour): a stolen key
/// cannot turn the support address into a relay. Notes are not mail and are not limited.
async fn an_agent_is_rate_limited(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let mut statuses = Vec::new();
    for i in 0..21 {
        let reply = desk
            .reply(&ticket, json!({"text": format!("Reply {i}")}))
            .await;
        statuses.push(reply.status);
        if reply.status == 429 {
            reply.assert_problem_status(429);
            let wait: u64 = reply.headers["retry-after"].parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
        }
    }
    // A minute's window may turn over during the loop (rarely): then one more goes through.
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        statuses[..20].iter().all(|s| *s == 201) || refused == 0,
        "{statuses:?}"
    );
    assert!(statuses[20] == 429 || statuses.iter().filter(|s| **s == 201).count() > 20);
    let note = desk
        .reply(&ticket, json!({"text": "Internal", "internal": true}))
        .await;
    assert_eq!(note.status, 201, "{}", note.body);
}

/// Finding 14: the handler acts on SES's bounce and complaint events only, whatever the
/// rule routes to it.
async fn feedback_comes_from_ses_only(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    desk.api().create(json!({"email": ann})).await;
    let forged = BOUNCE.replace("\"aws.ses\"", "\"my.app\"");
    let answer = desk.feedback(&forged, &ann, None).await;
    assert!(
        answer["ignored"].as_str().unwrap().contains("not from SES"),
        "{answer}"
    );
    let retyped = BOUNCE.replace("\"Email Bounced\"", "\"Email Delivered\"");
    let answer = desk.feedback(&retyped, &ann, None).await;
    assert!(answer["ignored"].is_string(), "{answer}");
    assert_eq!(customer(&desk, &ann).await["undeliverable"], Value::Null);
}

/// Findings 4 and 5: a bounced reply's delivery error names the address, and the outbox
/// (local mode) keeps a copy of the mail sent; erasing the person (tickets anonymised)
/// leaves the address nowhere: every stored item and file is searched.
async fn erasure_reaches_delivery_errors_and_sent_copies(api: LambdaApi) {
    let desk = Desk::new(api).await;
    let ann = address("ann");
    let (ticket, _) = desk.first_mail(&ann).await;
    let reply = desk.reply(&ticket, json!({"text": "Try this."})).await.body;
    assert_eq!(desk.send(&reply, 1).await, vec![json!("sent")]);
    desk.feedback(BOUNCE, &ann.to_uppercase(), Some(&reply))
        .await;
    let failed = desk.message(&ticket, &reply["id"]).await;
    let error = failed["delivery"]["error"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(error.contains(&ann), "the error names the address: {error}");
    let stored = everything_stored(desk.api()).await;
    assert!(stored.iter().any(|s| s.to_ascii_lowercase().contains(&ann)));

    let requested = desk
        .api()
        .post(
            As::Admin,
            &format!("/customers/{ann}/erase"),
            json!({"tickets": "anonymise"}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    desk.erase(requested.body["id"].as_str().unwrap()).await;
    let holders: Vec<String> = everything_stored(desk.api())
        .await
        .into_iter()
        .filter(|s| s.to_ascii_lowercase().contains(&ann))
        .collect();
    assert!(holders.is_empty(), "{ann} is still stored: {holders:#?}");
    let kept = desk.message(&ticket, &reply["id"]).await;
    assert_eq!(
        kept["delivery"]["status"], "failed",
        "the ticket keeps its shape: {kept}"
    );
}

on_both_stores!(
    marks_follow_the_address,
    cc_recipients_pass_the_same_marks,
    an_agent_is_rate_limited,
    feedback_comes_from_ses_only,
    erasure_reaches_delivery_errors_and_sent_copies,
);

/// Finding 13: SES's `Destination` and `FromEmailAddress` take 7-bit ASCII addresses only;
/// the names (here with an umlaut and a comma) travel in the MIME headers, encoded.
#[tokio::test]
async fn ses_is_given_bare_addresses() {
    let desk = Desk::new(LambdaApi::on_dynamodb().await).await;
    let zoe = address("zoe");
    let copy = address("copy");
    let record = desk
        .mail
        .deliver_now(&plain(
            &format!("\"Müller, Zoë\" <{zoe}>"),
            "Hallo",
            &format!("<{}@mail.test>", uuid::Uuid::new_v4().simple()),
            &[],
            "Hi.\n",
        ))
        .await;
    let ticket = record["ticket_id"].as_str().unwrap();
    let reply = desk
        .reply(ticket, json!({"text": "Hallo Zoë", "cc": [copy]}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(desk.send(&reply.body, 1).await, vec![json!("sent")]);
    let held: Vec<Vec<String>> = moto_sent_mail()
        .into_iter()
        .filter(|(to, _)| to.iter().any(|t| t.contains(&zoe)))
        .map(|(to, _)| to)
        .collect();
    // moto lists the Destination first, then what it reads in the MIME headers.
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0][..2], [zoe.clone(), copy.clone()], "{held:?}");
    let raw = &desk.sent_to(&zoe)[0];
    let mail = parse(raw);
    let to = mail.to().and_then(|t| t.first()).unwrap();
    assert_eq!(to.address(), Some(zoe.as_str()));
    assert!(to.name().is_some_and(|n| n.contains("Zoë")), "{raw}");
}
