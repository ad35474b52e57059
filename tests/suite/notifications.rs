//! Welcome emails: the notifier handler fed DynamoDB stream records (as Lambda would), sending
//! through SES on moto; transient failures with a mailer that fails on purpose.

use helpdesk_shared::services::addresses::AddressBook;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use helpdesk_shared::app;
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::lambda::due_work::DueWorkHandler;
use helpdesk_shared::mail::SesMailer;
use helpdesk_shared::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use helpdesk_shared::services::notifications::{Notifier, SendOutcome, WelcomeTemplate};
use helpdesk_shared::store::dynamodb::DynamoStore;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::support::{
    As, LambdaApi, dynamo_client, moto_sent_mail, s3_store, ses_client, stream_record,
};

struct Rig {
    api: LambdaApi,
    table: String,
    /// Reads items for the stream records, straight from the endpoint (no faults).
    reader: aws_sdk_dynamodb::Client,
    handler: DueWorkHandler,
    sequence: AtomicUsize,
}

impl Rig {
    /// DynamoDB and SES on moto; the sender's domain is verified when `verified`.
    async fn new(verified: bool) -> (Rig, String) {
        let domain = format!("helpdesk-{}.test", uuid::Uuid::new_v4().simple());
        if verified {
            ses_client()
                .create_email_identity()
                .email_identity(&domain)
                .send()
                .await
                .expect("moto accepts CreateEmailIdentity");
        }
        let client = dynamo_client();
        let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
        DynamoStore::create_table(&client, &table).await.unwrap();
        let store = Arc::new(DynamoStore::new(client, table.clone()));
        let api = LambdaApi::new(store, s3_store().await);
        let mailer = Arc::new(SesMailer::new(ses_client()));
        let template = WelcomeTemplate {
            sender: format!("Support <help@{domain}>"),
            subject: "Welcome, {{name}}".into(),
            body: "Hello {{first_name}} {{last_name}} ({{email}})".into(),
            portal_url: None,
        };
        let handler = app::notifier(&api.store, mailer, template, None);
        let rig = Rig {
            api,
            table,
            reader: dynamo_client(),
            handler,
            sequence: AtomicUsize::new(1),
        };
        (rig, domain)
    }

    /// The stream record DynamoDB would emit for the customer's item as it is now.
    async fn record(&self, email: &str) -> Value {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        stream_record(
            &self.reader,
            &self.table,
            &format!("EMAIL#{email}"),
            "#",
            sequence,
        )
        .await
    }

    async fn deliver(&self, records: Vec<Value>) -> Value {
        self.handler
            .handle(LambdaEvent::new(
                json!({ "Records": records }),
                Context::default(),
            ))
            .await
            .expect("the handler accepts the event")
    }
}

fn mail_to(email: &str) -> Vec<String> {
    moto_sent_mail()
        .into_iter()
        .filter(|(to, _)| to.iter().any(|t| t == email))
        .map(|(_, raw)| raw)
        .collect()
}

#[tokio::test]
async fn welcome_is_sent_once_through_ses() {
    let (rig, domain) = Rig::new(true).await;
    let ann = format!("ann@{domain}");
    let created = rig
        .api
        .create(
            json!({"email": ann, "first_name": "Ann", "last_name": "Lee", "send_welcome": true}),
        )
        .await;
    assert_eq!(created["welcome"]["status"], "pending");
    let batch = rig
        .api
        .post(
            As::Agent,
            "/customers/batch",
            json!({"customers": [{"email": format!("bob@{domain}"), "send_welcome": true}, {"email": format!("cy@{domain}")}]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);
    let bob = format!("bob@{domain}");
    let cy = format!("cy@{domain}");

    let records = vec![
        rig.record(&ann).await,
        rig.record(&bob).await,
        rig.record(&cy).await,
    ];
    let answer = rig.deliver(records.clone()).await;
    assert_eq!(answer["batchItemFailures"], json!([]));
    assert_eq!(answer["outcomes"], json!(["sent", "sent", "not_due"]));

    let sent = mail_to(&ann);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let parsed = mail_parser::MessageParser::default()
        .parse(sent[0].as_bytes())
        .unwrap();
    assert_eq!(parsed.subject(), Some("Welcome, Ann"));
    assert_eq!(
        parsed.body_text(0).as_deref(),
        Some(format!("Hello Ann Lee ({ann})").as_str())
    );
    assert!(
        sent[0].contains("Auto-Submitted: auto-generated"),
        "{}",
        sent[0]
    );
    assert_eq!(mail_to(&bob).len(), 1, "the batch's customer too");
    assert!(mail_to(&cy).is_empty(), "no welcome without send_welcome");

    let customer = rig.api.get(As::Agent, &format!("/customers/{ann}")).await;
    assert_eq!(customer.body["welcome"]["status"], "sent");
    assert!(customer.body["welcome"]["at"].is_string());

    // The same records again (a redelivery), and the record of the notifier's own change.
    let answer = rig.deliver(records).await;
    assert_eq!(answer["outcomes"], json!(["not_due", "not_due", "not_due"]));
    let answer = rig.deliver(vec![rig.record(&ann).await]).await;
    assert_eq!(answer["outcomes"], json!(["not_due"]));
    assert_eq!(mail_to(&ann).len(), 1, "exactly one welcome email");
}

#[tokio::test]
async fn a_rejected_welcome_is_failed_and_visible() {
    let (rig, domain) = Rig::new(false).await;
    let dan = format!("dan@{domain}");
    rig.api
        .create(json!({"email": dan, "send_welcome": true}))
        .await;
    let record = rig.record(&dan).await;
    let answer = rig.deliver(vec![record.clone()]).await;
    assert_eq!(answer["outcomes"], json!(["failed"]));
    let customer = rig.api.get(As::Agent, &format!("/customers/{dan}")).await;
    let welcome = &customer.body["welcome"];
    assert_eq!(welcome["status"], "failed", "{welcome}");
    assert!(
        welcome["error"].as_str().unwrap().contains("authority"),
        "{welcome}"
    );
    assert!(mail_to(&dan).is_empty());
    assert_eq!(
        rig.deliver(vec![record]).await["outcomes"],
        json!(["not_due"])
    );
}

/// Fails with `Unavailable` for the first `failures` sends, then delivers into `sent`.
pub(crate) struct FlakyMailer {
    pub(crate) failures: AtomicUsize,
    pub(crate) sent: Mutex<Vec<OutgoingMail>>,
}

impl FlakyMailer {
    /// Fails (as throttled) `failures` times, then accepts everything.
    pub(crate) fn new(failures: usize) -> Arc<FlakyMailer> {
        Arc::new(FlakyMailer {
            failures: AtomicUsize::new(failures),
            sent: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(MailError::Unavailable("throttled".into()));
        }
        self.sent.lock().unwrap().push(mail.clone());
        Ok(Sent {
            provider_id: "id".into(),
            message_id: mail.message_id.clone().unwrap_or_default(),
            refused: Vec::new(),
        })
    }
}

async fn flaky(failures: usize) -> (LambdaApi, Arc<FlakyMailer>, Notifier) {
    let api = LambdaApi::on_sqlite().await;
    let mailer = FlakyMailer::new(failures);
    let notifier = Notifier {
        customers: api.store.clone(),
        mailer: mailer.clone(),
        template: WelcomeTemplate::with_sender("help@example.com".into()),
        addresses: AddressBook::new(api.store.clone(), api.store.clone()),
    };
    (api, mailer, notifier)
}

#[tokio::test]
async fn transient_failures_are_retried_and_recorded() {
    // Three failed sends use up one try; the fourth send (the second try) goes through.
    let (api, mailer, notifier) = flaky(3).await;
    api.create(json!({"email": "eve@example.com", "send_welcome": true}))
        .await;
    assert_eq!(
        notifier
            .welcome(&Email::stored("eve@example.com"))
            .await
            .unwrap(),
        SendOutcome::Retrying
    );
    let welcome = api.get(As::Agent, "/customers/eve@example.com").await.body["welcome"].clone();
    assert_eq!(welcome["status"], "pending");
    assert_eq!(welcome["failed_attempts"], 1);
    assert!(welcome["error"].as_str().unwrap().contains("throttled"));
    assert_eq!(
        notifier
            .welcome(&Email::stored("eve@example.com"))
            .await
            .unwrap(),
        SendOutcome::Sent
    );
    let welcome = api.get(As::Agent, "/customers/eve@example.com").await.body["welcome"].clone();
    assert_eq!(welcome["status"], "sent");
    assert_eq!(mailer.sent.lock().unwrap().len(), 1);

    // A provider that never recovers: given up after the limit, visibly.
    let (api, mailer, notifier) = flaky(usize::MAX).await;
    api.create(json!({"email": "fay@example.com", "send_welcome": true}))
        .await;
    let mut outcomes = HashMap::new();
    for _ in 0..helpdesk_shared::services::notifications::MAX_FAILED_ATTEMPTS {
        let outcome = notifier
            .welcome(&Email::stored("fay@example.com"))
            .await
            .unwrap();
        *outcomes.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    assert_eq!(outcomes.get("Failed"), Some(&1), "{outcomes:?}");
    let welcome = api.get(As::Agent, "/customers/fay@example.com").await.body["welcome"].clone();
    assert_eq!(welcome["status"], "failed");
    assert!(mailer.sent.lock().unwrap().is_empty());
    assert_eq!(
        notifier
            .welcome(&Email::stored("fay@example.com"))
            .await
            .unwrap(),
        SendOutcome::NotDue
    );
}

#[tokio::test]
async fn concurrent_deliveries_send_one_welcome() {
    let (api, mailer, notifier) = flaky(0).await;
    api.create(json!({"email": "gus@example.com", "send_welcome": true}))
        .await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let notifier = notifier.clone();
            tokio::spawn(async move {
                notifier
                    .welcome(&Email::stored("gus@example.com"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut sent = 0;
    for run in runs {
        if run.await.unwrap() == SendOutcome::Sent {
            sent += 1;
        }
    }
    assert_eq!(sent, 1);
    assert_eq!(mailer.sent.lock().unwrap().len(), 1);
}

/// Welcome emails through a DynamoDB that fails one call in 7 and loses the answer of one write
/// in 5 (the fault proxy before dynoxide), SES on moto: every welcome is sent exactly
/// once, each batch within Lambda's three tries.
#[tokio::test]
async fn welcomes_are_sent_once_through_a_failing_dynamodb() {
    use crate::fault_proxy::FaultProxy;
    let table = crate::support::dynoxide_table().await;
    let proxy = FaultProxy::start(&crate::support::dynamo_endpoint(), 7, 5, 42).await;
    let domain = format!("helpdesk-{}.test", uuid::Uuid::new_v4().simple());
    ses_client()
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .expect("moto accepts CreateEmailIdentity");
    let api = crate::support::api_on_table(&proxy.endpoint(), &table, "welcome-faults");
    let mailer = Arc::new(SesMailer::new(ses_client()));
    let template = WelcomeTemplate::with_sender(format!("help@{domain}"));
    let handler = app::notifier(&api.store, mailer, template, None);
    let rig = Rig {
        api,
        table,
        reader: dynamo_client(),
        handler,
        sequence: AtomicUsize::new(1),
    };
    let emails: Vec<String> = (0..20).map(|i| format!("c{i}@{domain}")).collect();
    for email in &emails {
        rig.api
            .create(json!({"email": email, "first_name": "C", "send_welcome": true}))
            .await;
    }
    let mut records = Vec::new();
    for email in &emails {
        records.push(rig.record(email).await);
    }
    // Lambda: the batch, then its failed items again, at most three tries.
    let mut pending = records.clone();
    for _ in 0..3 {
        if pending.is_empty() {
            break;
        }
        let answer = rig.deliver(pending.clone()).await;
        let failed: Vec<String> = answer["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
            .collect();
        pending.retain(|r| {
            failed
                .iter()
                .any(|id| r["dynamodb"]["SequenceNumber"] == json!(id))
        });
    }
    assert!(pending.is_empty(), "every welcome done within three tries");
    // A redelivery of everything sends nothing more.
    rig.deliver(records).await;
    // moto's whole state is read once: it holds every test's mail.
    let sent = moto_sent_mail();
    for email in &emails {
        let count = sent.iter().filter(|(to, _)| to.contains(email)).count();
        assert_eq!(count, 1, "exactly one welcome to {email}");
        let customer = rig.api.get(As::Agent, &format!("/customers/{email}")).await;
        assert_eq!(
            customer.body["welcome"]["status"], "sent",
            "{}",
            customer.body
        );
    }
    assert!(
        proxy
            .counts
            .answers_lost
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

#[tokio::test]
async fn a_blocked_customer_gets_no_welcome() {
    let (api, mailer, notifier) = flaky(0).await;
    api.create(json!({"email": "hal@example.com", "send_welcome": true}))
        .await;
    let blocked = api
        .post(As::Admin, "/customers/hal@example.com/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    // The block itself is a change with the welcome still due: the notifier sees it, and
    // gives the welcome up without sending.
    assert_eq!(
        notifier
            .welcome(&Email::stored("hal@example.com"))
            .await
            .unwrap(),
        SendOutcome::Failed
    );
    assert!(mailer.sent.lock().unwrap().is_empty());
    let welcome = api.get(As::Agent, "/customers/hal@example.com").await.body["welcome"].clone();
    assert_eq!(welcome["status"], "failed");
    assert!(
        welcome["error"].as_str().unwrap().contains("blocked"),
        "{welcome}"
    );
    // Unblocking does not send it later.
    api.delete(As::Admin, "/customers/hal@example.com/block")
        .await;
    assert_eq!(
        notifier
            .welcome(&Email::stored("hal@example.com"))
            .await
            .unwrap(),
        SendOutcome::NotDue
    );
    assert!(mailer.sent.lock().unwrap().is_empty());
}
