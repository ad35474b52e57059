//! Reading a raw message with mail-parser: addresses, threading headers, bodies in UTF-8 and
//! attachments, borrowed from the parsed message so a large mail is not copied again.

use mail_parser::{Address, Message, MessagePart, MimeHeaders, PartType};

use crate::domain::inbound::Verdicts;
use crate::domain::ticket::Mailbox;

/// What the helpdesk needs of one message.
#[derive(Debug)]
pub struct ParsedMail<'a> {
    pub from: Mailbox,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    pub date: Option<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    /// Oldest first, as in the header.
    pub references: Vec<String>,
    pub text: String,
    /// The HTML as sent (sanitised later), when the message has an HTML part.
    pub html: Option<String>,
    pub attachments: Vec<ParsedAttachment<'a>>,
}

#[derive(Debug)]
pub struct ParsedAttachment<'a> {
    pub filename: String,
    pub content_type: String,
    pub inline: bool,
    pub content_id: Option<String>,
    pub bytes: &'a [u8],
}

/// Reads `message`; fails (with the reason) only when there is no usable sender.
pub fn read<'a>(message: &'a Message<'a>) -> Result<ParsedMail<'a>, String> {
    let from = message
        .from()
        .and_then(|a| mailboxes(Some(a)).into_iter().next())
        .ok_or_else(|| "the message has no From address".to_string())?;
    let text = message
        .text_body
        .iter()
        .filter_map(|id| message.parts.get(*id as usize))
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.to_string()),
            PartType::Html(html) => Some(mail_parser::decoders::html::html_to_text(html)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        // One line ending for clients, whatever the sender's was.
        .replace("\r\n", "\n");
    let html_parts: Vec<&str> = message
        .html_body
        .iter()
        .filter_map(|id| message.parts.get(*id as usize))
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    let html = (!html_parts.is_empty()).then(|| html_parts.join("\n"));
    let attachments = message
        .attachments()
        .enumerate()
        .map(|(index, part)| attachment(index, part))
        .collect();
    Ok(ParsedMail {
        from,
        reply_to: mailboxes(message.reply_to()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        subject: message.subject().unwrap_or_default().trim().to_string(),
        date: message.date().map(|d| d.to_rfc3339()),
        message_id: message
            .message_id()
            .map(clean_id)
            .filter(|id| !id.is_empty()),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        text,
        html,
        attachments,
    })
}

fn attachment<'a>(index: usize, part: &'a MessagePart<'a>) -> ParsedAttachment<'a> {
    let content_type = match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        },
        None => match part.body {
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Message(_) => "message/rfc822".into(),
            _ => "application/octet-stream".into(),
        },
    }
    .to_ascii_lowercase();
    let filename = part
        .attachment_name()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| match part.body {
            PartType::Message(_) => format!("message-{}.eml", index + 1),
            _ => format!("attachment-{}", index + 1),
        });
    let content_id = part.content_id().map(clean_id).filter(|id| !id.is_empty());
    let inline = matches!(part.body, PartType::InlineBinary(_))
        || part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
    ParsedAttachment {
        filename,
        content_type,
        inline,
        content_id,
        bytes: part.contents(),
    }
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address()?.trim();
            if email.is_empty() {
                return None;
            }
            let name = addr
                .name()
                .map(|n| n.trim().trim_matches('"').trim())
                .filter(|n| !n.is_empty() && *n != email)
                .map(str::to_string);
            Some(Mailbox {
                name,
                email: email.to_string(),
            })
        })
        .collect()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        mail_parser::HeaderValue::Text(text) => vec![text.as_ref()],
        mail_parser::HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .flat_map(|t| t.split_whitespace())
        .map(clean_id)
        .filter(|id| !id.is_empty())
        .collect()
}

/// Message-IDs compare without brackets and surrounding space.
pub fn clean_id(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// The verdicts SES writes into the stored message (`X-SES-Spam-Verdict`, …), for mail read
/// from a file rather than delivered with an SES event.
pub fn verdicts_from_headers(message: &mail_parser::Message<'_>) -> Verdicts {
    let mut verdicts = Verdicts::default();
    for (name, value) in message.headers_raw() {
        let value = Some(value.trim().to_ascii_uppercase());
        match name.to_ascii_lowercase().as_str() {
            "x-ses-spam-verdict" => verdicts.spam = value,
            "x-ses-virus-verdict" => verdicts.virus = value,
            _ => {}
        }
    }
    verdicts
}
