//! Outgoing mail: the message as MIME, and the port that sends it, with its two adapters:
//! SES (API v2) in the cloud and an outbox folder of `.eml` files locally.

use std::path::PathBuf;

use async_trait::async_trait;
use base64::Engine;

/// One plain-text message from the helpdesk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The provider refused this message for good (unverified sender, bad address, …).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Throttled or unreachable: the same message may go through later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`, answering the provider's message id.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError>;
}

impl OutgoingMail {
    /// The message as RFC 5322 text. It carries `Auto-Submitted: auto-generated`, so that other
    /// systems (and our own inbound screening) never answer it automatically, and asks Exchange
    /// not to send auto-replies.
    pub fn to_mime(&self, message_id: &str) -> Vec<u8> {
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let body = base64::engine::general_purpose::STANDARD.encode(self.text.as_bytes());
        let mut mime = String::with_capacity(body.len() + 512);
        for (name, value) in [
            ("From", self.from.as_str()),
            ("To", self.to.as_str()),
            ("Subject", &encode_header(&self.subject)),
            ("Date", &date),
            ("Message-ID", &format!("<{message_id}>")),
            ("Auto-Submitted", "auto-generated"),
            ("X-Auto-Response-Suppress", "All"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "base64"),
        ] {
            // Header values come from configuration and records: no line breaks may pass.
            let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            mime.push_str(&format!("{name}: {value}\r\n"));
        }
        mime.push_str("\r\n");
        for line in body.as_bytes().chunks(76) {
            mime.push_str(&String::from_utf8_lossy(line));
            mime.push_str("\r\n");
        }
        mime.into_bytes()
    }
}

/// RFC 2047: non-ASCII header text as a UTF-8 encoded word.
fn encode_header(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        )
    }
}

/// A Message-ID in the sender's domain.
fn message_id(from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("helpdesk.invalid");
    format!("{}@{domain}", uuid::Uuid::new_v4())
}

/// The cloud: SES API v2, raw content (so the headers above go out as written).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
        let raw = RawMessage::builder()
            .data(aws_sdk_sesv2::primitives::Blob::new(
                mail.to_mime(&message_id(&mail.from)),
            ))
            .build()
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let output = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|error| {
                let text = aws_sdk_sesv2::error::DisplayErrorContext(&error).to_string();
                let throttled = error.as_service_error().is_some_and(|e| {
                    e.is_too_many_requests_exception() || e.is_limit_exceeded_exception()
                });
                // A refusal by SES is final; throttling and transport faults are not.
                if error.as_service_error().is_some() && !throttled {
                    MailError::Rejected(text)
                } else {
                    MailError::Unavailable(text)
                }
            })?;
        Ok(output.message_id.unwrap_or_default())
    }
}

/// Local mode: each message becomes a `.eml` file in the outbox folder, for a person (or a
/// mail client) to read.
pub struct OutboxMailer {
    folder: PathBuf,
}

impl OutboxMailer {
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
        }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let unavailable = |e: std::io::Error| MailError::Unavailable(format!("outbox: {e}"));
        tokio::fs::create_dir_all(&self.folder)
            .await
            .map_err(unavailable)?;
        let id = message_id(&mail.from);
        let name = format!(
            "{}-{}.eml",
            crate::now().replace(':', ""),
            uuid::Uuid::new_v4().simple()
        );
        let partial = self.folder.join(format!("{name}.partial"));
        tokio::fs::write(&partial, mail.to_mime(&id))
            .await
            .map_err(unavailable)?;
        tokio::fs::rename(&partial, self.folder.join(&name))
            .await
            .map_err(unavailable)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_is_marked_automatic_and_encodes_what_is_not_ascii() {
        let mail = OutgoingMail {
            from: "Support <help@example.com>".into(),
            to: "zoe@example.de".into(),
            subject: "Willkommen, Zoë".into(),
            text: "Hallo Zoë\n".into(),
        };
        let mime = mail.to_mime("id-1@example.com");
        let parsed = mail_parser::MessageParser::default()
            .parse(&mime)
            .expect("parses");
        assert_eq!(parsed.subject(), Some("Willkommen, Zoë"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("Hallo Zoë\n"));
        assert_eq!(parsed.message_id(), Some("id-1@example.com"));
        let text = String::from_utf8(mime).unwrap();
        assert!(text.contains("\r\nAuto-Submitted: auto-generated\r\n"));
    }

    #[test]
    fn header_values_cannot_smuggle_headers() {
        let mail = OutgoingMail {
            from: "help@example.com".into(),
            to: "x@example.com\r\nBcc: victim@example.com".into(),
            subject: "Hi".into(),
            text: String::new(),
        };
        let text = String::from_utf8(mail.to_mime("a@b")).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
    }
}
