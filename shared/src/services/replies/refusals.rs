//! Recipients a mail relay refuses at once: as undeliverable as after a hard bounce.
//!
//! SES takes every message and reports a bad address later, as a bounce event. An SMTP relay
//! answers `RCPT TO` with a 5xx on the spot. [`MarkRefusedRecipients`] turns that answer into the
//! same delivery feedback a hard bounce gives, so the address gets the same mark (and no more
//! automated mail) whichever way the mail went out.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::delivery::{DeliveryFeedback, FeedbackKind};
use crate::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use crate::services::replies::feedback::FeedbackService;

/// A mailer whose refused recipients are marked undeliverable.
pub struct MarkRefusedRecipients {
    inner: Arc<dyn Mailer>,
    feedback: FeedbackService,
}

impl MarkRefusedRecipients {
    pub fn new(inner: Arc<dyn Mailer>, feedback: FeedbackService) -> Self {
        Self { inner, feedback }
    }

    /// Applies `refused` as a hard bounce; the message's own fate is its sender's to record.
    async fn mark(&self, refused: Vec<(String, String)>) -> Result<(), String> {
        let feedback = DeliveryFeedback {
            provider_id: "smtp-refusal".into(),
            reply: None,
            kind: FeedbackKind::HardBounce(refused),
            at: crate::domain::clock::now(),
        };
        self.feedback
            .apply(&feedback)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Mailer for MarkRefusedRecipients {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        match self.inner.send(mail).await {
            Ok(sent) if !sent.refused.is_empty() => {
                // The others have the mail; a mark that cannot be written now is only logged.
                if let Err(error) = self.mark(sent.refused.clone()).await {
                    tracing::warn!(%error, refused = ?sent.refused, "refused copies not marked");
                }
                Ok(sent)
            }
            Err(MailError::Refused { recipient, reason }) => {
                let refused = vec![(recipient.clone(), reason.clone())];
                // Nothing went out: unmarked, the message is tried again rather than settled,
                // so the mark is never lost.
                self.mark(refused)
                    .await
                    .map_err(|e| MailError::Unavailable(format!("marking {recipient}: {e}")))?;
                Err(MailError::Refused { recipient, reason })
            }
            other => other,
        }
    }

    async fn forget_sent_to(&self, addresses: &[String]) -> Result<u64, MailError> {
        self.inner.forget_sent_to(addresses).await
    }
}
