//! Delivering webhooks (`helpdesk serve`): each waiting event is posted, signed, to its
//! endpoint; the outcome goes back to the webhook service, which retries, gives up or turns the
//! endpoint off. Deliveries wait in the database, so a crash or `kill -9` loses none (an event
//! being posted at that moment is posted again after the restart, with the same id).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use helpdesk_shared::app::Local;
use helpdesk_shared::domain::timestamp::Timestamp;
use helpdesk_shared::domain::webhook::{Attempt, Webhook, is_private, signature};
use helpdesk_shared::ports::webhooks::Delivery;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;

/// How often waiting deliveries are looked at.
const POLL: Duration = Duration::from_millis(500);
/// An endpoint has this long to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

type HttpsClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Resolves endpoint names, refusing loopback and private addresses unless allowed: a webhook
/// cannot be pointed at internal services, even by a name that resolves there later.
#[derive(Clone)]
struct GuardedResolver {
    allow_private: bool,
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if !allow_private && found.iter().any(|a| is_private(a.ip())) {
                return Err(std::io::Error::other(format!(
                    "{} resolves to a loopback or private address (allowed only with \
                     --allow-private-webhooks)",
                    name.as_str()
                )));
            }
            Ok(found.into_iter())
        })
    }
}

fn client(allow_private: bool) -> Result<HttpsClient, String> {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
    http.enforce_http(false);
    http.set_connect_timeout(Some(TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("the system's certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(https))
}

/// Delivers waiting webhooks until the process ends.
pub async fn deliver_webhooks(app: Local) {
    let webhooks = app.webhooks().clone();
    let client = match client(webhooks.allow_private) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhooks cannot be delivered");
            return;
        }
    };
    loop {
        // While endpoints take what they are sent, the next ones go at once: each endpoint
        // gets its events one after another, as fast as it answers.
        match deliver_due(&app, &client).await {
            Ok(0) => tokio::time::sleep(POLL).await,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "webhooks: will retry");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Posts the next waiting event of each endpoint that is due; answers how many were taken.
async fn deliver_due(app: &Local, client: &HttpsClient) -> Result<usize, String> {
    let webhooks = app.webhooks();
    let due = webhooks.due().await.map_err(|e| e.to_string())?;
    if due.is_empty() {
        return Ok(0);
    }
    let fields = app.field_set().await.map_err(|e| e.to_string())?;
    let attempts = due.iter().map(|(hook, delivery)| {
        let body = helpdesk_shared::http::event_json(&delivery.event, &fields);
        post(client, hook, delivery, body, webhooks.allow_private)
    });
    let mut taken = 0;
    for ((_, delivery), attempt) in due.iter().zip(futures::future::join_all(attempts).await) {
        taken += usize::from(attempt.ok);
        webhooks
            .record(delivery, attempt)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(taken)
}

/// One signed POST of an event; its outcome as an attempt.
async fn post(
    client: &HttpsClient,
    hook: &Webhook,
    delivery: &Delivery,
    body: Vec<u8>,
    allow_private: bool,
) -> Attempt {
    let at = Timestamp::now();
    let failed = |status: Option<u16>, error: String| Attempt {
        event_id: delivery.event.id.clone(),
        at: at.clone(),
        status,
        ok: false,
        error: Some(error),
    };
    if let Some(refused) = literal_private(&hook.url, allow_private) {
        return failed(None, refused);
    }
    let signed = signature(&hook.secret, at.unix_seconds(), &body);
    let request = hyper::Request::post(&hook.url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "helpdesk-webhooks/1")
        .header("X-Helpdesk-Event-Id", &delivery.event.id)
        .header("X-Helpdesk-Event-Type", delivery.event.kind.name())
        .header("X-Helpdesk-Signature", signed)
        .body(Full::new(Bytes::from(body)));
    let request = match request {
        Ok(request) => request,
        Err(error) => return failed(None, format!("bad request: {error}")),
    };
    match tokio::time::timeout(TIMEOUT, client.request(request)).await {
        Err(_) => failed(None, format!("no answer within {TIMEOUT:?}")),
        Ok(Err(error)) => failed(None, format!("{error}: {}", source_of(&error))),
        Ok(Ok(response)) => {
            let status = response.status();
            // The body is not read beyond what the connection needs; it says nothing to us.
            let _ = tokio::time::timeout(TIMEOUT, response.into_body().collect()).await;
            if status.is_success() {
                Attempt {
                    event_id: delivery.event.id.clone(),
                    at,
                    status: Some(status.as_u16()),
                    ok: true,
                    error: None,
                }
            } else {
                failed(Some(status.as_u16()), format!("HTTP {status}"))
            }
        }
    }
}

fn source_of(error: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        text = cause.to_string();
        source = cause.source();
    }
    text
}

/// A URL whose host is a private address written out (no name to resolve).
fn literal_private(url: &str, allow_private: bool) -> Option<String> {
    if allow_private {
        return None;
    }
    let host = url::Url::parse(url).ok()?.host()?.to_owned();
    let ip: std::net::IpAddr = match host {
        url::Host::Ipv4(ip) => ip.into(),
        url::Host::Ipv6(ip) => ip.into(),
        url::Host::Domain(_) => return None,
    };
    is_private(ip).then(|| {
        format!(
            "{ip} is a loopback or private address (allowed only with --allow-private-webhooks)"
        )
    })
}
