//! Inbound email: the email-ingest handler fed SES receipt events (as Lambda would, after the S3
//! action stored the raw message), checked through the HTTP API. Every test runs on SQLite with
//! a folder and on DynamoDB with S3 (moto).

use crate::support::{As, LambdaApi};
use helpdesk_shared::lambda::email_ingest::EmailIngestHandler;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

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
            serde_json::from_str(include_str!("../../fixtures/ses-lambda-event.json")).unwrap();
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
            serde_json::from_str(include_str!("../../fixtures/ses-lambda-event.json")).unwrap();
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

/// SES verdicts of a forged mail: SPF, DKIM and DMARC all failing.
pub(crate) const FORGED: [(&str, &str); 3] = [
    ("spfVerdict", "FAIL"),
    ("dkimVerdict", "FAIL"),
    ("dmarcVerdict", "FAIL"),
];

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

/// A message with a tracking pixel, an inline image and active attachments.
const ACTIVE_CONTENT: &str = "From: Ann Lee <ann@acme.test>\r\nSubject: Look\r\nMessage-ID: <act@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hi<img src=\"https://track.example/p.gif?u=ann\" width=\"1\"><img src=\"cid:logo@acme\"></p>\r\n--b\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(document.cookie)</script>\r\n--b\r\nContent-Type: image/svg+xml; name=\"pic.svg\"\r\nContent-Disposition: attachment; filename=\"pic.svg\"\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\r\n--b\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\nplain notes\r\n--b--\r\n";

mod content;
mod faults;
mod screening;
mod threading;
