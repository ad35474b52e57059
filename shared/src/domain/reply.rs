//! What agents write in a ticket: public replies, sent to the customer by mail, and internal
//! notes, which stay in the ticket. The rules for their headers live here: the subject with
//! the ticket's token, and the `In-Reply-To`/`References` that thread them in mail clients.

use serde::Deserialize;

use crate::domain::patch::Command;
use crate::domain::ticket::{Ticket, TicketMessage};

/// Text and HTML of a reply together, at most: the size a message keeps inline in the store.
pub const MAX_REPLY_BYTES: usize = crate::domain::ticket::INLINE_BODY_BYTES;
/// Cc addresses of one reply, at most.
pub const MAX_CC: usize = 10;
/// Message-IDs in a reply's `References`, at most: the thread's first and its newest.
pub const MAX_REFERENCES_SENT: usize = 20;

/// An agent's message in a ticket: a reply to the customer, or an internal note.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    /// The plain-text body (required; it is also what mail clients without HTML show).
    pub text: String,
    /// An HTML body, sanitised before it is stored or sent.
    #[serde(default)]
    pub html: Option<String>,
    /// An internal note: kept in the ticket, never sent.
    #[serde(default)]
    pub internal: bool,
    /// Further recipients of a public reply.
    #[serde(default)]
    pub cc: Vec<String>,
}

impl Command for ReplyInput {}

/// The subject of a reply: the ticket's, with its `[#ID]` token (added when missing), as
/// an answer (`Re:`).
pub fn reply_subject(ticket: &Ticket) -> String {
    let subject: String = ticket.subject.chars().filter(|c| !c.is_control()).collect();
    let subject = subject.trim();
    let token = ticket.token();
    let with_token = if subject.to_ascii_uppercase().contains(&token) {
        subject.to_string()
    } else if subject.is_empty() {
        token
    } else {
        format!("{subject} {token}")
    };
    let answered = with_token
        .get(..3)
        .is_some_and(|start| start.eq_ignore_ascii_case("re:"));
    if answered {
        with_token
    } else {
        format!("Re: {with_token}")
    }
}

/// `In-Reply-To` and `References` of a new reply, from the ticket's earlier mail in arrival
/// order: it answers the newest message, and references the thread's first message and its
/// newest ones (RFC 5322 §3.6.4; long threads are trimmed in the middle, as mail clients do).
pub fn thread_headers(earlier: &[&TicketMessage]) -> (Option<String>, Vec<String>) {
    let ids: Vec<&str> = earlier
        .iter()
        .filter(|m| m.kind.is_mail())
        .map(|m| m.message_id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    let in_reply_to = ids.last().map(|id| id.to_string());
    let references = if ids.len() <= MAX_REFERENCES_SENT {
        ids.iter().map(|id| id.to_string()).collect()
    } else {
        std::iter::once(ids[0])
            .chain(ids[ids.len() - (MAX_REFERENCES_SENT - 1)..].iter().copied())
            .map(str::to_string)
            .collect()
    };
    (in_reply_to, references)
}

/// A new message id of an agent's reply or note (`r` + 32 hex digits): letters and digits
/// only, so it can travel as an SES message tag.
pub fn new_reply_id() -> String {
    format!("r{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(subject: &str) -> Ticket {
        Ticket {
            id: "K7Q2M9XD4T".into(),
            subject: subject.into(),
            customer_id: "c".into(),
            customer_email: "a@b.c".into(),
            company_id: None,
            status: crate::domain::ticket::TicketStatus::Open,
            message_count: 1,
            last_message_at: crate::domain::clock::now(),
            follow_up_of: None,
            moved_by: None,
            changed_by: None,
            last_agent_message: None,
            cc_customers: Vec::new(),
            last_public_at: None,
            tags: Vec::new(),
            imported: None,
            created_at: crate::domain::clock::now(),
            updated_at: crate::domain::clock::now(),
            version: 1,
        }
    }

    #[test]
    fn subjects_carry_the_token_once_and_read_as_answers() {
        assert_eq!(
            reply_subject(&ticket("Printer on fire")),
            "Re: Printer on fire [#K7Q2M9XD4T]"
        );
        assert_eq!(
            reply_subject(&ticket("RE: Printer [#k7q2m9xd4t]")),
            "RE: Printer [#k7q2m9xd4t]"
        );
        assert_eq!(reply_subject(&ticket("")), "Re: [#K7Q2M9XD4T]");
        assert_eq!(
            reply_subject(&ticket("a\r\nBcc: x@y.z")),
            "Re: aBcc: x@y.z [#K7Q2M9XD4T]"
        );
    }
}
