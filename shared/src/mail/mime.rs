//! Outgoing mail as RFC 5322 text, written by mail-builder (the sibling of the mail-parser the
//! inbound side reads with): header encoding, addresses with display names, dates and the
//! body's transfer encoding are its business.

use std::borrow::Cow;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;

use crate::ports::mailer::OutgoingMail;

impl OutgoingMail {
    /// The Message-ID the mail goes out with (its own, or a new one in the sender's domain)
    /// and the message written with it: what every mailer sends.
    pub fn identified_mime(&self) -> Result<(String, Vec<u8>), crate::ports::mailer::MailError> {
        let id = self
            .message_id
            .clone()
            .unwrap_or_else(|| message_id(&self.from));
        let mime = self.to_mime(&id).map_err(|e| {
            crate::ports::mailer::MailError::Rejected(format!("cannot write the message: {e}"))
        })?;
        Ok((id, mime))
    }

    /// The message as RFC 5322 text, with text and (when given) HTML parts. Automated mail
    /// carries `Auto-Submitted: auto-generated`, so that other systems (and our own inbound
    /// screening) never answer it automatically, and asks Exchange not to send auto-replies;
    /// a person's reply carries neither, and threads with `In-Reply-To` and `References`.
    pub fn to_mime(&self, message_id: &str) -> std::io::Result<Vec<u8>> {
        let mut builder = MessageBuilder::new()
            .from(mailbox(&self.from))
            .to(mailbox(&self.to))
            .subject(one_line(&self.subject))
            .message_id(message_id.to_string());
        if !self.cc.is_empty() {
            let cc: Vec<Address<'static>> = self.cc.iter().map(|c| mailbox(c)).collect();
            builder = builder.cc(Address::new_list(cc));
        }
        if let Some(parent) = &self.in_reply_to {
            builder = builder.in_reply_to(one_line(parent));
        }
        if !self.references.is_empty() {
            let references: Vec<String> = self.references.iter().map(|r| one_line(r)).collect();
            builder = builder.references(references);
        }
        if self.automated {
            builder = builder
                .header("Auto-Submitted", Raw::new("auto-generated"))
                .header("X-Auto-Response-Suppress", Raw::new("All"));
        }
        builder = builder.text_body(self.text.as_str());
        if let Some(html) = &self.html {
            builder = builder.html_body(html.as_str());
        }
        builder.write_to_vec()
    }
}

/// Header values come from configuration and records: no line breaks may pass.
fn one_line(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// `Name <address>` or a bare address, as an address mail-builder encodes (a non-ASCII display
/// name becomes an RFC 2047 encoded word).
fn mailbox(raw: &str) -> Address<'static> {
    let raw = one_line(raw);
    match raw.rsplit_once('<') {
        Some((name, address)) => {
            let name = name.trim().trim_matches('"').trim();
            let address = address.trim_end_matches('>').trim().to_string();
            let name = (!name.is_empty()).then(|| Cow::Owned(name.to_string()));
            Address::new_address(name, address)
        }
        None => Address::new_address(None::<Cow<'static, str>>, raw.trim().to_string()),
    }
}

/// The address of `Name <address>` (or a bare address): SES takes display names in the MIME
/// header, and only ASCII ones in its `FromEmailAddress`.
#[cfg(feature = "sesv2")]
pub(super) fn bare_address(raw: &str) -> String {
    let raw = one_line(raw);
    match raw.rsplit_once('<') {
        Some((_, address)) => address.trim().trim_end_matches('>').trim().to_string(),
        None => raw.trim().to_string(),
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

    /// SES's `Destination` and `FromEmailAddress` get the address alone, whatever the name.
    #[cfg(feature = "sesv2")]
    #[test]
    fn ses_gets_bare_addresses() {
        for (raw, bare) in [
            ("Zoë Müller <zoe@example.de>", "zoe@example.de"),
            ("\"Lee, Ann\" <ann@example.com>", "ann@example.com"),
            ("Lee, Ann <ann@example.com>", "ann@example.com"),
            ("ann@example.com", "ann@example.com"),
            ("  <ann@example.com>  ", "ann@example.com"),
            ("Ann\r\nBcc: x@y.z <ann@example.com>", "ann@example.com"),
        ] {
            assert_eq!(bare_address(raw), bare, "{raw}");
        }
    }

    #[test]
    fn mime_is_marked_automatic_and_encodes_what_is_not_ascii() {
        let mail = OutgoingMail {
            from: "Support <help@example.com>".into(),
            to: "Zoë Müller <zoe@example.de>".into(),
            subject: "Willkommen, Zoë".into(),
            text: "Hallo Zoë\n".into(),
            automated: true,
            ..OutgoingMail::default()
        };
        let mime = mail.to_mime("id-1@example.com").unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&mime)
            .expect("parses");
        assert_eq!(parsed.subject(), Some("Willkommen, Zoë"));
        let from = parsed.from().and_then(|f| f.first()).expect("a sender");
        assert_eq!(from.address(), Some("help@example.com"));
        assert_eq!(from.name(), Some("Support"));
        // MIME text travels with CRLF line breaks, as RFC 5322 wants.
        assert_eq!(parsed.body_text(0).as_deref(), Some("Hallo Zoë\r\n"));
        assert_eq!(parsed.message_id(), Some("id-1@example.com"));
        let to = parsed.to().and_then(|t| t.first()).expect("a recipient");
        assert_eq!(to.name(), Some("Zoë Müller"));
        let text = String::from_utf8(mime).unwrap();
        assert!(text.is_ascii(), "headers and body are encoded: {text}");
        assert!(
            text.contains("\r\nAuto-Submitted: auto-generated\r\n"),
            "{text}"
        );
    }

    #[test]
    fn header_values_cannot_smuggle_headers() {
        let mail = OutgoingMail {
            from: "help@example.com".into(),
            to: "x@example.com\r\nBcc: victim@example.com".into(),
            subject: "Hi".into(),
            cc: vec!["y@example.com\r\nBcc: victim@example.com".into()],
            in_reply_to: Some("a@b>\r\nBcc: victim@example.com".into()),
            ..OutgoingMail::default()
        };
        let text = String::from_utf8(mail.to_mime("a@b").unwrap()).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
    }
}

#[cfg(test)]
mod reply_tests {
    use super::*;

    #[test]
    fn a_reply_threads_carries_both_bodies_and_is_not_marked_automatic() {
        let mail = OutgoingMail {
            from: "Ann (Support) <help@example.com>".into(),
            to: "zoe@example.de".into(),
            cc: vec!["Boss <boss@example.de>".into()],
            subject: "Re: Printer [#K7Q2M9XD4T]".into(),
            text: "Try turning it off.\n".into(),
            html: Some("<p>Try turning it <b>off</b>.</p>".into()),
            in_reply_to: Some("first@mail.example.de".into()),
            references: vec!["first@mail.example.de".into()],
            ..OutgoingMail::default()
        };
        let mime = mail.to_mime("r1@example.com").unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&mime)
            .expect("parses");
        assert_eq!(
            parsed.in_reply_to().as_text(),
            Some("first@mail.example.de")
        );
        assert_eq!(parsed.references().as_text(), Some("first@mail.example.de"));
        let cc = parsed.cc().and_then(|c| c.first()).expect("a cc");
        assert_eq!(cc.address(), Some("boss@example.de"));
        assert!(
            parsed
                .body_html(0)
                .is_some_and(|h| h.contains("<b>off</b>"))
        );
        assert!(
            parsed
                .body_text(0)
                .is_some_and(|t| t.contains("turning it off"))
        );
        let text = String::from_utf8(mime).unwrap();
        assert!(!text.contains("Auto-Submitted"), "{text}");
    }
}
