//! The mail port: one outgoing message and what sends it.

use async_trait::async_trait;

/// One message from the helpdesk: an automated one (a welcome email) or an agent's reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMail {
    /// `Name <address>` or a bare address.
    pub from: String,
    pub to: String,
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The Message-ID to send with (without angle brackets); the mailer makes one in the
    /// sender's domain when `None`.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Sent by the helpdesk on its own (`Auto-Submitted: auto-generated`), not by a person.
    pub automated: bool,
    /// Name and value pairs the provider hands back with its delivery feedback (SES message
    /// tags): letters, digits, `_` and `-` only.
    pub tags: Vec<(String, String)>,
}

/// What the provider did with a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the message, which its delivery feedback names.
    pub provider_id: String,
    /// The Message-ID the message went out with (without angle brackets). SES replaces the
    /// one it is given by its own, so answers to the mail name this one.
    pub message_id: String,
    /// Recipients the provider refused for good while it took the message for the others (a
    /// Cc an SMTP relay does not know), each with the reason it gave. SES reports these later,
    /// as bounces; a relay says so at once.
    pub refused: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The provider refused this message for good (unverified sender, bad address, …).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The provider refused the message's recipient for good (an SMTP relay's 5xx answer to
    /// `RCPT TO`): nothing was sent, and the address is as undeliverable as after a bounce.
    #[error("refused: {recipient}: {reason}")]
    Refused { recipient: String, reason: String },
    /// Throttled or unreachable: the same message may go through later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl MailError {
    /// What the provider said, as a message's delivery records it.
    pub fn reason(&self) -> String {
        match self {
            Self::Rejected(why) | Self::Unavailable(why) => why.clone(),
            Self::Refused { recipient, reason } => format!("{recipient}: {reason}"),
        }
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`, answering what the provider made of it.
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError>;

    /// Deletes the copies this mailer keeps of mail sent to any of `addresses` (lower-case),
    /// for an erasure; answers how many. A mailer that keeps none (SES) answers 0.
    async fn forget_sent_to(&self, _addresses: &[String]) -> Result<u64, MailError> {
        Ok(0)
    }
}
