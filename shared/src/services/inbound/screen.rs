//! Mail no person wrote: auto-replies, bulk and list mail, bounces and receipts. Answering or
//! ticketing it is how helpdesks get into mail loops, so it is recorded and left alone.

use mail_parser::{Message, MimeHeaders};

/// Why `message` is automated, or `None` when a person wrote it.
pub fn automated(message: &Message<'_>, sender: &str) -> Option<String> {
    for (name, value) in message.headers_raw() {
        let value = unfold(value);
        let lower = value.to_ascii_lowercase();
        let reason = match name.to_ascii_lowercase().as_str() {
            "auto-submitted" if lower != "no" && !lower.starts_with("no;") => {
                Some(format!("Auto-Submitted: {value}"))
            }
            "precedence" if matches!(lower.as_str(), "bulk" | "junk" | "list") => {
                Some(format!("Precedence: {value}"))
            }
            "x-autoreply" | "x-autorespond" | "x-auto-response-suppress" => {
                Some(format!("{name}: {value}"))
            }
            "list-id" | "list-unsubscribe" => Some(format!("mailing list mail ({name})")),
            "return-path" if matches!(value.as_str(), "" | "<>") => {
                Some("empty Return-Path (a bounce)".to_string())
            }
            _ => None,
        };
        if reason.is_some() {
            return reason;
        }
    }
    if let Some(content_type) = message.content_type() {
        let subtype = content_type
            .subtype()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let kind = content_type.ctype().to_ascii_lowercase();
        if kind == "multipart" && subtype == "report" {
            let report = content_type
                .attribute("report-type")
                .unwrap_or("unknown")
                .to_ascii_lowercase();
            return Some(match report.as_str() {
                "delivery-status" => "delivery status report (a bounce)".to_string(),
                "disposition-notification" => "read receipt (disposition notification)".to_string(),
                other => format!("automated report ({other})"),
            });
        }
        if kind == "message"
            && matches!(
                subtype.as_str(),
                "delivery-status" | "disposition-notification"
            )
        {
            return Some(format!("automated report (message/{subtype})"));
        }
    }
    let local = sender
        .rsplit_once('@')
        .map_or(sender, |(local, _)| local)
        .to_ascii_lowercase();
    if matches!(local.as_str(), "mailer-daemon" | "postmaster") {
        return Some(format!("mail from {local}"));
    }
    None
}

/// A header value on one line, without the surrounding space.
fn unfold(raw: &str) -> String {
    raw.split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
