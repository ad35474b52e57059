//! The rows of jobs (erasures, merges): id, whether the job still runs (local mode's runner
//! looks for those), version and document. One way to write them, for every job table.

use super::*;

/// Inserts a job row; `Exists` when its id is taken.
pub(super) fn insert_job(
    tx: &Connection,
    table: &'static str,
    id: &str,
    running: bool,
    version: u64,
    doc: String,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {table} (id, running, version, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING"
    );
    if exec(tx, &sql, params![id, running, version, doc])? == 0 {
        return Err(StoreError::Exists(format!("{table} {id}")));
    }
    Ok(())
}

/// Replaces a job row still at `previous_version`; `VersionMismatch` otherwise.
pub(super) fn replace_job(
    tx: &Connection,
    table: &'static str,
    id: &str,
    previous_version: u64,
    running: bool,
    version: u64,
    doc: String,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE {table} SET running = ?3, version = ?4, doc = ?5 WHERE id = ?1 AND version = ?2"
    );
    if exec(
        tx,
        &sql,
        params![id, previous_version, running, version, doc],
    )? == 0
    {
        return Err(StoreError::VersionMismatch);
    }
    Ok(())
}
