//! Outgoing mail as RFC 5322 text.

use base64::Engine;

use crate::ports::mailer::OutgoingMail;

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
pub(super) fn message_id(from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("helpdesk.invalid");
    format!("{}@{domain}", uuid::Uuid::new_v4())
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
