//! A message without the person in it, for tickets kept anonymised.

use serde_json::Value;

use crate::domain::delivery::DeliveryStatus;
use crate::domain::erasure::{ERASED_ADDRESS, ERASED_TEXT};
use crate::domain::ticket::{Mailbox, MessageBody, TicketMessage};

/// The message without the person: their addresses and names, the subject, bodies and
/// attachments are gone; when it was and how it threaded stay. Then every text of the whole
/// record (delivery errors, fields added later) loses the person's addresses too, so no field
/// can keep one because nobody thought of it.
pub(super) fn anonymised(message: &TicketMessage, emails: &[String]) -> TicketMessage {
    let erase = |mailbox: &Mailbox| {
        if emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(&mailbox.email))
        {
            Mailbox {
                name: None,
                email: ERASED_ADDRESS.into(),
            }
        } else {
            mailbox.clone()
        }
    };
    let mut next = message.clone();
    next.from = Mailbox {
        name: None,
        email: ERASED_ADDRESS.into(),
    };
    next.reply_to = message.reply_to.iter().map(erase).collect();
    next.to = message.to.iter().map(erase).collect();
    next.cc = message.cc.iter().map(erase).collect();
    next.subject = ERASED_TEXT.into();
    next.body = MessageBody {
        text: ERASED_TEXT.into(),
        html: None,
        reply_text: ERASED_TEXT.into(),
    };
    next.body_key = None;
    next.attachments.clear();
    // A reply's thread headers name the person's own Message-IDs.
    next.in_reply_to = None;
    next.references.clear();
    // A reply still queued is not sent any more: there is nobody left to send it to.
    if let Some(delivery) = &message.delivery
        && delivery.status == DeliveryStatus::Queued
    {
        let mut state = delivery.next();
        state.status = DeliveryStatus::Failed;
        state.sending_since = None;
        state.at = crate::domain::clock::now();
        state.error = Some("not sent: the customer was erased".into());
        next.delivery = Some(state);
    }
    scrubbed(&next, emails).unwrap_or(next)
}

/// `record` with every occurrence of `emails` in any of its texts replaced, or `None` when it
/// does not go through JSON (it always does: records are stored as JSON).
fn scrubbed<T>(record: &T, emails: &[String]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut value = serde_json::to_value(record).ok()?;
    scrub(&mut value, emails);
    serde_json::from_value(value).ok()
}

fn scrub(value: &mut Value, emails: &[String]) {
    match value {
        Value::String(text) => {
            for email in emails {
                *text = replace_ignoring_case(text, email, ERASED_ADDRESS);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, emails)),
        Value::Object(fields) => fields.values_mut().for_each(|v| scrub(v, emails)),
        _ => {}
    }
}

/// `text` with every ASCII-case-insensitive occurrence of `needle` replaced by `with`.
fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let (lower, needle) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    // ASCII lower-casing keeps byte offsets, so positions in `lower` are positions in `text`.
    for (at, _) in lower.match_indices(&needle) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(with);
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_go_whatever_their_case() {
        assert_eq!(
            replace_ignoring_case("bounced: Ann@X.io: 550 ann@x.io", "ann@x.io", "E"),
            "bounced: E: 550 E"
        );
        assert_eq!(
            replace_ignoring_case("héllo ann@x.io", "ann@x.io", "E"),
            "héllo E"
        );
    }
}
