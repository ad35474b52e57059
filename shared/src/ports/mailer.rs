//! The mail port: one outgoing message and what sends it.

use async_trait::async_trait;

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
