//! Agents' replies and notes: written through the API, sent as the cloud sends them (the
//! notifier handler fed the table's stream records, SES on moto) or as `helpdesk serve` does
//! (into an outbox folder), answered by the customer through inbound mail, and settled by SES's
//! bounce and complaint events (EventBridge fixtures) through the delivery-feedback handler.
//! Every loop runs on both stores.

use crate::inbound::{Mail, plain};
use crate::notifications::FlakyMailer;
use crate::support::{As, LambdaApi, Place, dynamo_client, moto_sent_mail, ses_client};
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
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
                let handler = Box::new(app::notifier(&api.store, mailer.clone(), template, None));
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

    /// Runs erasure `id` as this mode does: the jobs function fed its stream record (cloud),
    /// or local mode's watcher, whose erasures also delete the outbox's copies.
    async fn erase(&self, id: &str) {
        match &self.wire {
            Wire::Cloud { .. } => {
                crate::support::run_job(self.api(), "erasure", id).await;
            }
            Wire::Local { .. } => {
                let api = self.api();
                let template = WelcomeTemplate::with_sender("support@helpdesk.test".into());
                let runner = app::local_runner(
                    &api.store,
                    api.objects.clone(),
                    self.mailer.clone(),
                    template,
                );
                let erasures = runner.erasures.expect("local mode runs erasures");
                let id = helpdesk_shared::domain::ids::JobId::of(id);
                let done = erasures
                    .run_erasure(&id, std::time::Duration::from_secs(60))
                    .await
                    .expect("store available");
                assert_eq!(
                    done.status,
                    helpdesk_shared::domain::erasure::ErasureStatus::Succeeded
                );
            }
        }
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

mod conversation;
mod delivery;
mod events;
mod feedback;
mod guards;
