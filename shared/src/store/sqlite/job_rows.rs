//! The rows of jobs (imports, erasures, merges, migrations): id, version and document, and for
//! the jobs the local runner carries on, whether the job still runs. One way to keep them all.

use super::*;
use crate::domain::erasure::Erasure;
use crate::domain::merge::Merge;
use crate::domain::migration::Migration;
use crate::domain::versioned::Job;
use crate::ports::store::JobStore;

/// Where a kind of job is kept.
pub(super) trait JobTable: Job {
    const TABLE: &'static str;
    /// Whether the table has the `running` column the local runner looks for (import jobs
    /// are run by their own watcher, not through it).
    const RUNNING: bool = true;
    /// An erasure that finishes moves the write-ahead log into the database file, which with
    /// `secure_delete` leaves what it deleted in neither file.
    const CHECKPOINT_WHEN_DONE: bool = false;
}

impl JobTable for ImportJob {
    const TABLE: &'static str = "import_jobs";
    const RUNNING: bool = false;
}

impl JobTable for Erasure {
    const TABLE: &'static str = "erasures";
    const CHECKPOINT_WHEN_DONE: bool = true;
}

impl JobTable for Merge {
    const TABLE: &'static str = "merges";
}

impl JobTable for Migration {
    const TABLE: &'static str = "migrations";
}

impl JobTable for crate::domain::export_job::ExportJob {
    const TABLE: &'static str = "exports";
}

#[async_trait]
impl<J: JobTable> JobStore<J> for SqliteStore {
    async fn insert_job(&self, job: &J) -> Result<(), StoreError> {
        let job = job.clone();
        self.write(move |tx| insert_job(tx, &job)).await
    }

    async fn get_job(&self, id: &str) -> Result<Option<J>, StoreError> {
        let (id, sql) = (
            id.to_string(),
            format!("SELECT doc FROM {} WHERE id = ?1", J::TABLE),
        );
        self.with(move |connection| read_doc(connection, &sql, [&id]))
            .await
    }

    async fn replace_job(&self, previous: &J, next: &J) -> Result<(), StoreError> {
        let (previous, next_job) = (previous.clone(), next.clone());
        self.write(move |tx| replace_job(tx, &previous, &next_job))
            .await?;
        if J::CHECKPOINT_WHEN_DONE && !next.is_running() {
            self.checkpoint().await?;
        }
        Ok(())
    }
}

/// Inserts a job's row in `tx`; `Exists` when its id is taken.
pub(super) fn insert_job<J: JobTable>(tx: &Connection, job: &J) -> Result<(), StoreError> {
    let (id, version, doc) = (job.job_id(), job.job_version(), to_doc(job)?);
    let inserted = if J::RUNNING {
        let sql = format!(
            "INSERT INTO {} (id, running, version, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            J::TABLE
        );
        exec(tx, &sql, params![id, job.is_running(), version, doc])?
    } else {
        let sql = format!(
            "INSERT INTO {} (id, version, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            J::TABLE
        );
        exec(tx, &sql, params![id, version, doc])?
    };
    if inserted == 0 {
        return Err(StoreError::Exists(format!("{} {id}", J::KIND)));
    }
    Ok(())
}

/// Replaces a job's row in `tx` if it is still at `previous`'s version; `VersionMismatch`
/// otherwise.
pub(super) fn replace_job<J: JobTable>(
    tx: &Connection,
    previous: &J,
    next: &J,
) -> Result<(), StoreError> {
    let (id, was) = (previous.job_id(), previous.job_version());
    let (version, doc) = (next.job_version(), to_doc(next)?);
    let updated = if J::RUNNING {
        let sql = format!(
            "UPDATE {} SET running = ?3, version = ?4, doc = ?5 WHERE id = ?1 AND version = ?2",
            J::TABLE
        );
        exec(tx, &sql, params![id, was, next.is_running(), version, doc])?
    } else {
        let sql = format!(
            "UPDATE {} SET version = ?3, doc = ?4 WHERE id = ?1 AND version = ?2",
            J::TABLE
        );
        exec(tx, &sql, params![id, was, version, doc])?
    };
    if updated == 0 {
        return Err(StoreError::VersionMismatch);
    }
    Ok(())
}
