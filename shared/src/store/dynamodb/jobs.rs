//! The items of jobs (imports, erasures, merges, migrations): one way to keep them all, by id
//! at their version. Erasures, merges and migrations carry `job_status = running` while they
//! run, which the jobs function's stream filter matches: each checkpoint wakes the next run.

use super::*;
use crate::domain::erasure::Erasure;
use crate::domain::merge::Merge;
use crate::domain::migration::Migration;
use crate::domain::versioned::Job;
use crate::ports::store::JobStore;

/// Where a kind of job is kept in the table.
pub(super) trait JobItem: Job {
    fn pk(id: &str) -> String;
    /// Whether the jobs function runs it, woken by its item on the stream (import jobs have
    /// their own function instead).
    const STREAM_RUN: bool = true;
    /// When the table's TTL deletes it (seconds since the epoch), if ever.
    fn expires_at(&self) -> Option<i64> {
        None
    }
}

impl JobItem for ImportJob {
    fn pk(id: &str) -> String {
        import_pk(id)
    }
    const STREAM_RUN: bool = false;
    fn expires_at(&self) -> Option<i64> {
        Some(time::OffsetDateTime::now_utc().unix_timestamp() + IMPORT_JOB_TTL_DAYS * 86_400)
    }
}

impl JobItem for Erasure {
    fn pk(id: &str) -> String {
        erasure_pk(id)
    }
}

impl JobItem for Merge {
    fn pk(id: &str) -> String {
        merge_pk(id)
    }
    /// A day after its undo window: it holds full copies of the customers it merged.
    fn expires_at(&self) -> Option<i64> {
        Some(merge_expiry(self))
    }
}

/// When a merge and what finds it expire: a day after the undo window closes.
pub(super) fn merge_expiry(merge: &Merge) -> i64 {
    merge.undo_until().unix_seconds() + 86_400
}

impl JobItem for Migration {
    fn pk(id: &str) -> String {
        migration_pk(id)
    }
}

impl JobItem for crate::domain::export_job::ExportJob {
    fn pk(id: &str) -> String {
        export_pk(id)
    }
    /// Kept as long as import jobs are; its file expires from the bucket after a day.
    fn expires_at(&self) -> Option<i64> {
        Some(time::OffsetDateTime::now_utc().unix_timestamp() + IMPORT_JOB_TTL_DAYS * 86_400)
    }
}

/// Import jobs expire from the table (TTL) this long after their last change.
pub(super) const IMPORT_JOB_TTL_DAYS: i64 = 90;

/// A job's item.
pub(super) fn job_item<J: JobItem>(job: &J) -> Result<Item, StoreError> {
    let mut item = Item::from([
        ("pk".into(), s(J::pk(job.job_id()))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(job.job_version())),
        ("doc".into(), to_doc(job)?),
    ]);
    if J::STREAM_RUN {
        item.insert("kind".into(), s(J::KIND));
        if job.is_running() {
            item.insert("job_status".into(), s("running"));
        }
    }
    if let Some(expires) = job.expires_at() {
        item.insert("expires_at".into(), AttributeValue::N(expires.to_string()));
    }
    Ok(item)
}

#[async_trait]
impl<J: JobItem> JobStore<J> for DynamoStore {
    async fn insert_job(&self, job: &J) -> Result<(), StoreError> {
        let on_fail = StoreError::Exists(format!("{} {}", J::KIND, job.job_id()));
        self.put_conditional(job_item(job)?, NOT_EXISTS, &[], on_fail)
            .await
    }

    async fn get_job(&self, id: &str) -> Result<Option<J>, StoreError> {
        self.get_doc(J::pk(id)).await
    }

    async fn replace_job(&self, previous: &J, next: &J) -> Result<(), StoreError> {
        let values = [(":version", n(previous.job_version()))];
        self.put_conditional(
            job_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }
}
