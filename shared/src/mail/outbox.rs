//! Local mode's mailer: `.eml` files in the outbox folder.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::ports::mailer::MailError;
use crate::ports::mailer::Mailer;
use crate::ports::mailer::OutgoingMail;
use crate::ports::mailer::Sent;

use super::mime::message_id;

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
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        let unavailable = |e: std::io::Error| MailError::Unavailable(format!("outbox: {e}"));
        tokio::fs::create_dir_all(&self.folder)
            .await
            .map_err(unavailable)?;
        let id = mail
            .message_id
            .clone()
            .unwrap_or_else(|| message_id(&mail.from));
        let name = format!(
            "{}-{}.eml",
            crate::domain::clock::now().replace(':', ""),
            uuid::Uuid::new_v4().simple()
        );
        let partial = self.folder.join(format!("{name}.partial"));
        let mime = mail
            .to_mime(&id)
            .map_err(|e| MailError::Rejected(format!("cannot write the message: {e}")))?;
        tokio::fs::write(&partial, mime)
            .await
            .map_err(unavailable)?;
        tokio::fs::rename(&partial, self.folder.join(&name))
            .await
            .map_err(unavailable)?;
        // The file is the mail as it went out: its Message-ID is the one answers will name.
        Ok(Sent {
            provider_id: name.trim_end_matches(".eml").to_string(),
            message_id: id,
        })
    }
}
