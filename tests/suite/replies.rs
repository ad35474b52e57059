//! Agents' replies and notes: written through the API, sent as the cloud sends them (the
//! notifier handler fed the table's stream records, SES on moto) or as `helpdesk serve` does
//! (into an outbox folder), answered by the customer through inbound mail, and settled by SES's
//! bounce and complaint events (EventBridge fixtures) through the delivery-feedback handler.
//! Every loop runs on both stores.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use helpdesk_shared::app;
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::domain::ids::TicketId;
use helpdesk_shared::lambda::delivery_feedback::DeliveryFeedbackHandler;
use helpdesk_shared::lambda::due_work::DueWorkHandler;
use helpdesk_shared::mail::{OutboxMailer, SesMailer};
use helpdesk_shared::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use helpdesk_shared::services::notifications::{Notifier, SendOutcome, WelcomeTemplate};
use helpdesk_shared::services::replies::sender::ReplySender;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::inbound::{Mail, plain};
use crate::notifications::FlakyMailer;
use crate::support::{As, LambdaApi, Place, dynamo_client, moto_sent_mail, ses_client};

/// How replies leave: the notifier fed stream records (cloud), or the reply sender writing
/// `.eml` files (local).
enum Wire {
    Cloud {
        recorder: Arc<Recorder>,
        handler: Box<DueWorkHandler>,
        reader: aws_sdk_dynamodb::Client,
        table: String,
        sequence: AtomicUsize,
    },
    Local {
        sender: ReplySender,
        outbox: PathBuf,
    },
}

/// Hands mail to the real mailer (moto's SES) and keeps what SES accepted: moto's own record
/// of sent mail (`/moto-api/data.json`) holds every test's tables too, so it is read once, in
/// the round-trip test, rather than by every test.
struct Recorder {
    inner: Arc<dyn Mailer>,
    accepted: Mutex<Vec<OutgoingMail>>,
}

#[async_trait::async_trait]
impl Mailer for Recorder {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        let sent = self.inner.send(mail).await?;
        self.accepted.lock().unwrap().push(mail.clone());
        Ok(sent)
    }
}

/// A helpdesk with its mail wired both ways.
struct Desk {
    mail: Mail,
    wire: Wire,
    mailer: Arc<dyn Mailer>,
    feedback: DeliveryFeedbackHandler,
}

impl Desk {
    async fn new(api: LambdaApi) -> Desk {
        let feedback = DeliveryFeedbackHandler::new(app::feedback(&api.store));
        let (wire, mailer): (Wire, Arc<dyn Mailer>) = match &api.place {
            Place::Cloud { table, .. } => {
                // moto's SES sends from any address once it knows one identity.
                let _ = ses_client()
                    .create_email_identity()
                    .email_identity("helpdesk.test")
                    .send()
                    .await;
                // As the notifier sends: through the stack's configuration set.
                let set = format!("helpdesk-mail-{}", uuid::Uuid::new_v4().simple());
                ses_client()
                    .create_configuration_set()
                    .configuration_set_name(&set)
                    .send()
                    .await
                    .expect("moto accepts CreateConfigurationSet");
                let ses = SesMailer::new(ses_client()).with_configuration_set(Some(set));
                let recorder = Arc::new(Recorder {
                    inner: Arc::new(ses),
                    accepted: Mutex::new(Vec::new()),
                });
                let mailer: Arc<dyn Mailer> = recorder.clone();
                let template = WelcomeTemplate::with_sender("support@helpdesk.test".into());
                let handler = Box::new(app::notifier(&api.store, mailer.clone(), template));
                let wire = Wire::Cloud {
                    recorder,
                    handler,
                    reader: dynamo_client(),
                    table: table.clone(),
                    sequence: AtomicUsize::new(1),
                };
                (wire, mailer)
            }
            Place::Local { folder, .. } => {
                let outbox = folder.join("outbox");
                let mailer: Arc<dyn Mailer> = Arc::new(OutboxMailer::new(&outbox));
                let sender = app::reply_sender(&api.store, mailer.clone());
                (Wire::Local { sender, outbox }, mailer)
            }
            Place::Elsewhere => panic!("a desk needs a known place"),
        };
        Desk {
            mail: Mail::new(api),
            wire,
            mailer,
            feedback,
        }
    }

    fn api(&self) -> &LambdaApi {
        &self.mail.api
    }

    /// Hands the reply (a message view) to the sender `times` times, as a redelivered stream
    /// record would (locally: as repeated scans would). Answers each outcome.
    async fn send(&self, reply: &Value, times: usize) -> Vec<Value> {
        let ticket = reply["ticket_id"].as_str().unwrap();
        let key = format!(
            "{}#{}",
            reply["received_at"].as_str().unwrap(),
            reply["id"].as_str().unwrap()
        );
        let mut outcomes = Vec::new();
        for _ in 0..times {
            let outcome = match &self.wire {
                Wire::Cloud {
                    handler,
                    reader,
                    table,
                    sequence,
                    ..
                } => {
                    let n = sequence.fetch_add(1, Ordering::SeqCst);
                    let record = crate::support::stream_record(
                        reader,
                        table,
                        &format!("TICKET#{ticket}"),
                        &format!("MSG#{key}"),
                        n,
                    )
                    .await;
                    let answer = handler
                        .handle(LambdaEvent::new(
                            json!({ "Records": [record] }),
                            Context::default(),
                        ))
                        .await
                        .expect("the notifier accepts the event");
                    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
                    answer["outcomes"][0].clone()
                }
                Wire::Local { sender, .. } => {
                    let outcome = sender
                        .send(&TicketId::of(ticket), &key)
                        .await
                        .expect("store available");
                    serde_json::to_value(outcome).unwrap()
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// The raw mail sent to `address` so far.
    fn sent_to(&self, address: &str) -> Vec<String> {
        match &self.wire {
            Wire::Cloud { recorder, .. } => recorder
                .accepted
                .lock()
                .unwrap()
                .iter()
                .filter(|mail| mail.to.contains(address))
                .map(|mail| {
                    let id = mail.message_id.clone().unwrap_or_default();
                    String::from_utf8(mail.to_mime(&id).unwrap()).unwrap()
                })
                .collect(),
            Wire::Local { outbox, .. } => {
                let Ok(entries) = std::fs::read_dir(outbox) else {
                    return Vec::new();
                };
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|raw| {
                        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes());
                        parsed.is_some_and(|m| {
                            m.to().and_then(|t| t.first()).and_then(|a| a.address())
                                == Some(address)
                        })
                    })
                    .collect()
            }
        }
    }

    /// The Message-ID the customer's mail client answers: SES replaces the one it is given
    /// by `<SES message id>@email.amazonses.com` (us-east-1); the outbox keeps it.
    fn answered_id(&self, delivered: &Value, raw: &str) -> String {
        match &self.wire {
            Wire::Cloud { .. } => format!(
                "{}@email.amazonses.com",
                delivered["delivery"]["provider_id"].as_str().unwrap()
            ),
            Wire::Local { .. } => mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .and_then(|m| m.message_id().map(str::to_string))
                .expect("a Message-ID"),
        }
    }

    /// Hands the delivery-feedback handler an EventBridge fixture about `recipient`, naming
    /// the reply `reply` (a message view) in its tags when given.
    async fn feedback(&self, fixture: &str, recipient: &str, reply: Option<&Value>) -> Value {
        let mut event: Value = serde_json::from_str(fixture).unwrap();
        let detail = &mut event["detail"];
        for list in ["bounce", "complaint"] {
            let field = if list == "bounce" {
                "bouncedRecipients"
            } else {
                "complainedRecipients"
            };
            let recipients = detail
                .get_mut(list)
                .and_then(|section| section.get_mut(field))
                .and_then(Value::as_array_mut);
            if let Some(recipients) = recipients {
                recipients[0]["emailAddress"] = json!(recipient);
            }
        }
        detail["mail"]["destination"] = json!([recipient]);
        let tags = &mut detail["mail"]["tags"];
        match reply {
            Some(reply) => {
                tags["kind"] = json!(["reply"]);
                tags["ticket"] = json!([reply["ticket_id"]]);
                tags["message"] = json!([reply["id"]]);
            }
            None => {
                tags["kind"] = json!(["welcome"]);
                tags.as_object_mut().unwrap().remove("ticket");
                tags.as_object_mut().unwrap().remove("message");
            }
        }
        self.feedback
            .handle(LambdaEvent::new(event, Context::default()))
            .await
            .expect("the handler accepts the event")
    }

    /// A customer's first mail, which opens a ticket; answers the ticket id and the mail's
    /// Message-ID.
    async fn first_mail(&self, from: &str) -> (String, String) {
        let message_id = format!("first-{}@mail.test", uuid::Uuid::new_v4().simple());
        let record = self
            .mail
            .deliver_now(&plain(
                &format!("Ann Lee <{from}>"),
                "Printer on fire",
                &format!("<{message_id}>"),
                &[],
                "It burns.\n",
            ))
            .await;
        assert_eq!(record["status"], "ingested", "{record}");
        (
            record["ticket_id"].as_str().unwrap().to_string(),
            message_id,
        )
    }

    async fn reply(&self, ticket: &str, body: Value) -> crate::support::Reply {
        self.api()
            .post(As::Agent, &format!("/tickets/{ticket}/messages"), body)
            .await
    }

    /// The ticket's message with this id, as `GET /tickets/{id}` shows it.
    async fn message(&self, ticket: &str, id: &Value) -> Value {
        let thread = self.mail.ticket(&json!(ticket)).await;
        thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == *id)
            .cloned()
            .expect("the message is in the thread")
    }
}

/// A fresh address: moto's SES outbox is shared by every test.
fn address(name: &str) -> String {
    format!("{name}@{}.test", uuid::Uuid::new_v4().simple())
}

fn parse(raw: &str) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("the sent mail parses")
}

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

    let bounce = include_str!("../fixtures/eventbridge-ses-bounce.json");
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
    let complaint = include_str!("../fixtures/eventbridge-ses-complaint.json");
    let applied = desk.feedback(complaint, &cy, None).await;
    assert_eq!(applied["applied"]["customers_marked"], 1);
    let notifier = Notifier {
        customers: desk.api().store.clone(),
        mailer: desk.mailer.clone(),
        template: WelcomeTemplate::with_sender("support@helpdesk.test".into()),
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
    a_reply_goes_out_once_and_the_answer_joins_the_ticket,
    notes_stay_inside_and_bad_replies_are_refused,
    bounces_and_complaints_mark_replies_and_customers,
    erasure_anonymises_replies_and_releases_their_message_ids,
);

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
