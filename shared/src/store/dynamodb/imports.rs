//! Import jobs.

use super::*;

#[async_trait]
impl ImportJobStore for DynamoStore {
    async fn insert_import_job(&self, job: &ImportJob) -> Result<(), StoreError> {
        let on_fail = StoreError::Exists(format!("import {}", job.id));
        self.put_conditional(import_item(job)?, NOT_EXISTS, &[], on_fail)
            .await
    }

    async fn get_import_job(&self, id: &str) -> Result<Option<ImportJob>, StoreError> {
        self.get_doc(import_pk(id)).await
    }

    async fn replace_import_job(
        &self,
        previous: &ImportJob,
        next: &ImportJob,
    ) -> Result<(), StoreError> {
        let values = [(":version", n(previous.version))];
        self.put_conditional(
            import_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }
}
