//! Import jobs.

use super::*;

#[async_trait]
impl ImportJobStore for SqliteStore {
    async fn insert_import_job(&self, job: &ImportJob) -> Result<(), StoreError> {
        let job = job.clone();
        self.write(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO import_jobs (id, version, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![job.id, job.version, to_doc(&job)?],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::Exists(format!("import {}", job.id)));
            }
            Ok(())
        })
        .await
    }

    async fn get_import_job(&self, id: &str) -> Result<Option<ImportJob>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM import_jobs WHERE id = ?1",
                [&id],
            )
        })
        .await
    }

    async fn replace_import_job(
        &self,
        previous: &ImportJob,
        next: &ImportJob,
    ) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE import_jobs SET version = ?3, doc = ?4 WHERE id = ?1 AND version = ?2",
                    params![previous.id, previous.version, next.version, to_doc(&next)?],
                )
                .map_err(unavailable)?;
            if updated == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }
}
