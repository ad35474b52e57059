//! Local mode's mailer: `.eml` files in the outbox folder.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::ports::mailer::MailError;
use crate::ports::mailer::Mailer;
use crate::ports::mailer::OutgoingMail;
use crate::ports::mailer::Sent;

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
        let (id, mime) = mail.identified_mime()?;
        let name = format!(
            "{}-{}.eml",
            crate::domain::clock::now().replace(':', ""),
            uuid::Uuid::new_v4().simple()
        );
        let partial = self.folder.join(format!("{name}.partial"));
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
            refused: Vec::new(),
        })
    }

    /// Deletes every `.eml` file whose To, Cc or Bcc names one of `addresses`.
    async fn forget_sent_to(&self, addresses: &[String]) -> Result<u64, MailError> {
        let unavailable = |e: std::io::Error| MailError::Unavailable(format!("outbox: {e}"));
        let mut entries = match tokio::fs::read_dir(&self.folder).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(unavailable(e)),
        };
        let mut deleted = 0;
        while let Some(entry) = entries.next_entry().await.map_err(unavailable)? {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let Ok(bytes) = tokio::fs::read(&path).await else {
                continue;
            };
            if addressed_to(&bytes, addresses) {
                tokio::fs::remove_file(&path).await.map_err(unavailable)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// Whether a message's To, Cc or Bcc (folded lines unfolded) names one of `addresses`.
fn addressed_to(message: &[u8], addresses: &[String]) -> bool {
    let text = String::from_utf8_lossy(message);
    let header = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    header.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        let recipients = ["to:", "cc:", "bcc:"]
            .iter()
            .find_map(|name| lower.strip_prefix(name));
        recipients.is_some_and(|value| {
            addresses.iter().any(|address| {
                value
                    .split(|c: char| c == ',' || c == '<' || c == '>' || c.is_whitespace())
                    .any(|word| word == address)
            })
        })
    })
}
