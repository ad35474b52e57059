//! Inbound mail in local mode: one `.eml` file (`helpdesk ingest`), or the files dropped into
//! `DATA_DIR/inbox/`.

use std::path::{Path, PathBuf};

use helpdesk_shared::app::Local;

use super::DataDir;

/// Drop `.eml` files here (`DATA_DIR/inbox/`) and `helpdesk serve` ingests them.
pub const INBOX_DIR: &str = "inbox";

impl DataDir {
    /// Ingests one `.eml` file, as `helpdesk ingest FILE` does. Its id is a digest of its bytes,
    /// so the same file ingested twice is recognised; the raw message is kept under
    /// `DATA_DIR/inbound/`.
    pub async fn ingest_file(
        &self,
        app: &Local,
        file: &Path,
    ) -> Result<helpdesk_shared::domain::inbound::InboundRecord, String> {
        let raw = tokio::fs::read(file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        self.ingest_raw(app, raw).await
    }

    /// Ingests one raw message (a file, or a message fetched over IMAP), kept under
    /// `DATA_DIR/inbound/` by the digest of its bytes: the same bytes twice are recognised
    /// (and a message sent twice, by its Message-ID), so a fetch repeated after a crash
    /// adds nothing.
    pub async fn ingest_raw(
        &self,
        app: &Local,
        raw: Vec<u8>,
    ) -> Result<helpdesk_shared::domain::inbound::InboundRecord, String> {
        let id = format!(
            "eml-{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &raw).simple()
        );
        let raw_key = format!(
            "{}{id}.eml",
            helpdesk_shared::domain::inbound::INBOUND_PREFIX
        );
        let context = &app.inbound;
        if let Some(existing) = context.record(&id).await.map_err(|e| e.to_string())? {
            return Ok(existing);
        }
        context
            .mail
            .put(&raw_key, raw.clone(), "message/rfc822")
            .await
            .map_err(|e| e.to_string())?;
        let envelope = helpdesk_shared::services::inbound::Envelope {
            id,
            raw_key,
            received_at: helpdesk_shared::domain::clock::now(),
            verdicts: None,
        };
        context
            .ingest_new(envelope, &raw)
            .await
            .map_err(|e| e.to_string())
    }

    /// Ingests the `.eml` files dropped into `DATA_DIR/inbox/`; each is removed once its outcome
    /// is recorded (its raw copy stays under `DATA_DIR/inbound/`). A file whose ingestion hit a
    /// transient error stays for the next round.
    pub async fn ingest_dropped_mail(
        &self,
        app: &Local,
    ) -> Result<Vec<helpdesk_shared::domain::inbound::InboundRecord>, String> {
        let folder = self.root.join(INBOX_DIR);
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", folder.display())),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
            })
            .collect();
        // Oldest name first: a mail client's export numbers messages in order.
        paths.sort();
        let mut done = Vec::new();
        for path in paths {
            match self.ingest_file(app, &path).await {
                Ok(record) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    done.push(record);
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "ingest failed; will retry")
                }
            }
        }
        Ok(done)
    }
}
