//! An erasure's reach into customer export files still kept (a day, in the mail bucket's
//! `exports/`): each file that holds the person is written again without their rows.

use super::PrivacyService;
use crate::domain::customer_csv::{EXPORT_FILES_PREFIX, without_addresses};
use crate::domain::erasure::Erasure;
use crate::domain::error::HelpdeskError;

impl PrivacyService {
    /// Rewrites the export files that hold one of the person's addresses; answers how many.
    pub(super) async fn erase_exports(&self, job: &Erasure) -> Result<u64, HelpdeskError> {
        let unavailable = |e: String| HelpdeskError::Unavailable(format!("export files: {e}"));
        let addresses: Vec<String> = job.emails.iter().map(|e| e.to_ascii_lowercase()).collect();
        let mut rewritten = 0;
        for key in self
            .mail
            .list(EXPORT_FILES_PREFIX)
            .await
            .map_err(|e| unavailable(e.to_string()))?
        {
            let reader = match self.mail.reader(&key, 0).await {
                Ok(reader) => reader,
                // Expired (or rewritten by another run) meanwhile.
                Err(crate::ports::objects::ObjectError::NotFound(_)) => continue,
                Err(e) => return Err(unavailable(e.to_string())),
            };
            let scratch = std::env::temp_dir().join(format!(
                "helpdesk-erasure-{}-{}.csv",
                job.id,
                crate::domain::clock::new_id()
            ));
            let target = scratch.clone();
            let addresses = addresses.clone();
            let removed = tokio::task::spawn_blocking(move || {
                let file = std::fs::File::create(&target).map_err(|e| e.to_string())?;
                without_addresses(reader, std::io::BufWriter::new(file), &addresses)
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| unavailable(e.to_string()))?;
            let outcome = match removed {
                Ok(0) => Ok(()),
                Ok(_) => self
                    .mail
                    .put_file(&key, &scratch, "text/csv; charset=utf-8")
                    .await
                    .map(|()| rewritten += 1)
                    .map_err(|e| unavailable(e.to_string())),
                Err(e) => Err(unavailable(format!("{key}: {e}"))),
            };
            let _ = std::fs::remove_file(&scratch);
            outcome?;
        }
        Ok(rewritten)
    }
}
