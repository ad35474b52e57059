//! The customer portal through its API, on both stores: signing in with a mailed code (the
//! sign-in mail sent as each mode sends it: the notifier fed the table's stream record in the
//! cloud, the watcher's runner locally), who sees which ticket, and what customers do there.

use std::sync::{Arc, Mutex};

use helpdesk_shared::app;
use helpdesk_shared::ports::due::DueWork;
use helpdesk_shared::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use helpdesk_shared::services::notifications::WelcomeTemplate;
use serde_json::{Value, json};

use crate::support::{As, LambdaApi, Place, Reply};

/// Where the portal's links point in these tests.
const PORTAL_URL: &str = "https://help.example.test";
/// The origin a browser sends from the portal's pages, behind API Gateway (the fixture's host).
const OWN_ORIGIN: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com";

/// Keeps what would have been mailed.
#[derive(Default)]
struct Captured(Mutex<Vec<OutgoingMail>>);

#[async_trait::async_trait]
impl Mailer for Captured {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(Sent {
            provider_id: "captured".into(),
            message_id: "captured@test".into(),
            refused: Vec::new(),
        })
    }
}

/// The API with the portal's mail wired as its mode wires it.
struct Desk {
    api: LambdaApi,
    mailer: Arc<Captured>,
}

impl Desk {
    fn new(api: LambdaApi) -> Desk {
        Desk {
            api,
            mailer: Arc::new(Captured::default()),
        }
    }

    /// Mails the codes of every queued sign-in request, as the notifier (cloud) or the
    /// watcher (local) would.
    async fn deliver_sign_ins(&self) {
        let template = WelcomeTemplate::with_sender("support@helpdesk.test".into())
            .with_portal(Some(PORTAL_URL.into()));
        for id in self.queued_sign_ins().await {
            match &self.api.place {
                Place::Cloud { table, .. } => {
                    let reader = crate::support::dynamo_client();
                    let record = crate::support::stream_record(
                        &reader,
                        table,
                        &format!("SIGNIN#{id}"),
                        "#",
                        1,
                    )
                    .await;
                    let handler =
                        app::notifier(&self.api.store, self.mailer.clone(), template.clone(), None);
                    let event = lambda_runtime::LambdaEvent::new(
                        json!({"Records": [record]}),
                        lambda_runtime::Context::default(),
                    );
                    let answer = handler
                        .handle(event)
                        .await
                        .expect("the notifier takes the record");
                    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
                }
                _ => {
                    let runner =
                        app::mail_runner(&self.api.store, self.mailer.clone(), template.clone());
                    runner
                        .run(&DueWork::SignIn { id }, std::time::Duration::from_secs(10))
                        .await
                        .expect("the runner sends it");
                }
            }
        }
        assert!(
            self.queued_sign_ins().await.is_empty(),
            "every request was answered"
        );
    }

    /// The ids of the sign-in requests waiting, read from the store's own files.
    async fn queued_sign_ins(&self) -> Vec<String> {
        match &self.api.place {
            Place::Local { database, .. } => {
                let connection = rusqlite::Connection::open(database).unwrap();
                let mut statement = connection
                    .prepare("SELECT id FROM sign_in_requests")
                    .unwrap();
                statement
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Place::Cloud { table, .. } => {
                let page = crate::support::dynamo_client()
                    .scan()
                    .table_name(table)
                    .send()
                    .await
                    .unwrap();
                page.items()
                    .iter()
                    .filter_map(|item| {
                        item.get("pk")?
                            .as_s()
                            .ok()?
                            .strip_prefix("SIGNIN#")
                            .map(str::to_string)
                    })
                    .collect()
            }
            Place::Elsewhere => panic!("the desk needs a known place"),
        }
    }

    /// The mail sent to `address` so far.
    fn mail_to(&self, address: &str) -> Vec<OutgoingMail> {
        self.mailer
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == address)
            .cloned()
            .collect()
    }

    /// The code and link token of the newest mail to `address`.
    fn code_for(&self, address: &str) -> (String, String) {
        let mail = self
            .mail_to(address)
            .pop()
            .unwrap_or_else(|| panic!("no code mailed to {address}"));
        let code: String = mail
            .text
            .split("code is ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .expect("a code")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let token = mail
            .text
            .split("token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a link")
            .to_string();
        (code, token)
    }

    async fn request_code(&self, address: &str) -> Reply {
        self.api
            .call(
                As::Anonymous,
                "POST",
                "/portal/sign-in",
                &[],
                Some(json!({"email": address}).to_string()),
            )
            .await
    }

    async fn open(&self, body: Value) -> Reply {
        self.api
            .call(
                As::Anonymous,
                "POST",
                "/portal/sessions",
                &[],
                Some(body.to_string()),
            )
            .await
    }

    /// Signs `address` in: asks for a code, gets it by mail, exchanges it. Answers the token.
    async fn sign_in(&self, address: &str) -> String {
        assert_eq!(self.request_code(address).await.status, 202);
        self.deliver_sign_ins().await;
        let (code, _) = self.code_for(address);
        let body = json!({"email": address, "code": code, "return_token": true});
        let opened = self
            .api
            .call(
                As::Anonymous,
                "POST",
                "/portal/sessions",
                &[],
                Some(body.to_string()),
            )
            .await;
        assert_eq!(opened.status, 201, "{}", opened.body);
        opened.body["token"]
            .as_str()
            .expect("the token")
            .to_string()
    }

    /// A portal request with a session token (as a Bearer token).
    async fn portal(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let bearer = format!("Bearer {token}");
        self.api
            .call(
                As::Anonymous,
                method,
                path,
                &[("authorization", &bearer)],
                body.map(|b| b.to_string()),
            )
            .await
    }

    async fn etag(&self, email: &str) -> String {
        self.api
            .get(As::Admin, &format!("/customers/{email}"))
            .await
            .headers["etag"]
            .clone()
    }

    async fn set(&self, email: &str, change: Value) {
        let etag = self.etag(email).await;
        let changed = self
            .api
            .patch(
                As::Admin,
                &format!("/customers/{email}"),
                Some(&etag),
                change,
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

mod access;
mod avatar;
mod sign_in;
mod sso;
mod tickets;
