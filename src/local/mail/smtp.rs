//! Sending through the team's SMTP relay: one connection per message, each recipient offered on
//! its own so that a refused one is known by name, and a pace the relay accepts.
//!
//! What the relay answers decides the message's fate, as SES's answers do in the cloud:
//! a 4xx or a lost connection is `Unavailable` (the due-work loop tries again later), a 5xx to
//! the customer's `RCPT TO` is `Refused` (the message fails and the address is marked
//! undeliverable), a refused Cc is reported beside a sent message, and any other 5xx is
//! `Rejected`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use helpdesk_shared::mail::OutboxMailer;
use helpdesk_shared::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::settings::{Security, SmtpSettings};
use super::status::SharedStatus;

/// Connecting, and each command, give up after this long.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SmtpMailer {
    settings: SmtpSettings,
    /// When the next message may start, for the configured pace.
    next_slot: tokio::sync::Mutex<Instant>,
    status: SharedStatus,
}

impl SmtpMailer {
    pub fn new(settings: SmtpSettings, status: SharedStatus) -> Self {
        status.smtp(|s| s.server = format!("{:?}", settings.server));
        Self {
            settings,
            next_slot: tokio::sync::Mutex::new(Instant::now()),
            status,
        }
    }

    /// Waits for this message's turn: at most `per_minute` messages start in a minute.
    async fn wait_turn(&self) {
        let gap = Duration::from_secs(60) / self.settings.per_minute.max(1);
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = (*next).max(now) + gap;
    }

    /// Connected, encrypted as configured, and logged in.
    async fn connect(&self, hello: &ClientId) -> Result<AsyncSmtpConnection, MailError> {
        let server = &self.settings.server;
        let tls = || {
            TlsParameters::new(server.host.clone())
                .map_err(|e| MailError::Unavailable(format!("TLS set-up: {e}")))
        };
        let address = (server.host.as_str(), server.port);
        let refused = |e: std::io::Error| {
            MailError::Unavailable(format!(
                "SMTP connecting to {}:{}: {e}",
                server.host, server.port
            ))
        };
        let tcp = tokio::time::timeout(SMTP_TIMEOUT, tokio::net::TcpStream::connect(address))
            .await
            .map_err(|_| MailError::Unavailable(format!("SMTP {}: no answer", server.host)))?
            .map_err(refused)?;
        // A message ends with a small write after a large one: with Nagle's algorithm on, the
        // relay's delayed ACK held each message 40 ms (22 messages/s on loopback).
        tcp.set_nodelay(true).map_err(refused)?;
        let stream: Box<dyn AsyncTokioStream> = match server.security {
            Security::Implicit => Box::new(super::tls::SmtpTls(
                super::tls::connect(&server.host, tcp)
                    .await
                    .map_err(MailError::Unavailable)?,
            )),
            Security::StartTls | Security::Plain => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, hello)
            .await
            .map_err(|e| unavailable("connecting", &e))?;
        if server.security == Security::StartTls {
            if !connection.can_starttls() {
                return Err(MailError::Unavailable(format!(
                    "{}:{} offers no STARTTLS; use smtps:// or a relay that encrypts",
                    server.host, server.port
                )));
            }
            connection
                .starttls(tls()?, hello)
                .await
                .map_err(|e| unavailable("STARTTLS", &e))?;
        }
        if let (Some(user), Some(password)) = (&server.user, &server.password) {
            let credentials = Credentials::new(user.clone(), password.clone());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                // A login the relay refuses is the operator's to fix: the mail waits for it.
                .map_err(|e| unavailable("logging in", &e))?;
        }
        Ok(connection)
    }

    /// One message over one connection; answers the relay's last line and the refused copies.
    async fn deliver(
        &self,
        mail: &OutgoingMail,
        mime: &[u8],
    ) -> Result<(String, Vec<(String, String)>), MailError> {
        let from = address_of(&mail.from).map_err(MailError::Rejected)?;
        let hello = ClientId::Domain(from.domain().to_string());
        let stalled = || MailError::Unavailable("SMTP: the relay stopped answering".into());
        // No step may hang the sender: a relay that stops answering (before its greeting, or
        // mid-message) is an outage, and the message waits for its next try.
        let mut connection = tokio::time::timeout(SMTP_TIMEOUT * 2, self.connect(&hello))
            .await
            .map_err(|_| stalled())??;
        let outcome = tokio::time::timeout(
            SMTP_TIMEOUT * 4,
            self.transaction(&mut connection, &from, mail, mime),
        )
        .await
        .unwrap_or_else(|_| Err(stalled()));
        match &outcome {
            Ok(_) => {
                let _ = tokio::time::timeout(SMTP_TIMEOUT, connection.quit()).await;
            }
            Err(_) => {
                let _ = tokio::time::timeout(SMTP_TIMEOUT, connection.abort()).await;
            }
        }
        outcome
    }

    async fn transaction(
        &self,
        connection: &mut AsyncSmtpConnection,
        from: &Address,
        mail: &OutgoingMail,
        mime: &[u8],
    ) -> Result<(String, Vec<(String, String)>), MailError> {
        let mut parameters = Vec::new();
        if !mime.is_ascii()
            && connection
                .server_info()
                .supports_feature(Extension::EightBitMime)
        {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        connection
            .command(Mail::new(Some(from.clone()), parameters))
            .await
            .map_err(|e| answer("MAIL FROM", &e))?;
        let primary = address_of(&mail.to).map_err(MailError::Rejected)?;
        if let Err(error) = connection.command(Rcpt::new(primary.clone(), vec![])).await {
            return Err(match error.is_permanent() {
                true => MailError::Refused {
                    recipient: primary.to_string(),
                    reason: error.to_string(),
                },
                false => answer("RCPT TO", &error),
            });
        }
        let mut refused = Vec::new();
        for copy in &mail.cc {
            let Ok(copy) = address_of(copy) else {
                refused.push((copy.clone(), "not an address".to_string()));
                continue;
            };
            match connection.command(Rcpt::new(copy.clone(), vec![])).await {
                Ok(_) => {}
                Err(error) if error.is_permanent() => {
                    refused.push((copy.to_string(), error.to_string()));
                }
                Err(error) => return Err(answer("RCPT TO", &error)),
            }
        }
        connection
            .command(Data)
            .await
            .map_err(|e| answer("DATA", &e))?;
        let done = connection
            .message(mime)
            .await
            .map_err(|e| answer("the message", &e))?;
        let said = done.message().collect::<Vec<_>>().join(" ");
        Ok((said, refused))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        let (id, mime) = mail.identified_mime()?;
        self.wait_turn().await;
        match self.deliver(mail, &mime).await {
            Ok((said, refused)) => {
                self.status.smtp(|s| {
                    s.messages_sent += 1;
                    s.last_sent_at = Some(helpdesk_shared::domain::clock::now());
                });
                Ok(Sent {
                    provider_id: if said.is_empty() { id.clone() } else { said },
                    message_id: id,
                    refused,
                })
            }
            Err(error) => {
                self.status.smtp_error(&error.to_string());
                Err(error)
            }
        }
    }
}

/// The address of `Name <address>` or of a bare address.
fn address_of(mailbox: &str) -> Result<Address, String> {
    let bare = match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(open), Some(close)) if open < close => &mailbox[open + 1..close],
        _ => mailbox,
    };
    bare.trim()
        .parse()
        .map_err(|e| format!("{mailbox:?} is not an address: {e}"))
}

/// A relay's answer to a command: 5xx for good, anything else for later.
fn answer(command: &str, error: &lettre::transport::smtp::Error) -> MailError {
    if error.is_permanent() {
        MailError::Rejected(format!("{command}: {error}"))
    } else {
        unavailable(command, error)
    }
}

fn unavailable(doing: &str, error: &lettre::transport::smtp::Error) -> MailError {
    MailError::Unavailable(format!("SMTP {doing}: {error}"))
}

/// Sends through SMTP and keeps what went out in the outbox folder, as local mode always has
/// (an erasure deletes those copies too).
pub struct WithOutboxCopy {
    pub relay: SmtpMailer,
    pub outbox: OutboxMailer,
}

#[async_trait]
impl Mailer for WithOutboxCopy {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        let sent = self.relay.send(mail).await?;
        let mut copy = mail.clone();
        copy.message_id = Some(sent.message_id.clone());
        // The mail is out; a copy that cannot be written is not a reason to send it again.
        if let Err(error) = self.outbox.send(&copy).await {
            tracing::warn!(%error, "sent, but no copy in the outbox");
        }
        Ok(sent)
    }

    async fn forget_sent_to(&self, addresses: &[String]) -> Result<u64, MailError> {
        self.outbox.forget_sent_to(addresses).await
    }
}
