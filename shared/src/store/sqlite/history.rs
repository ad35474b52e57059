//! Change history: one row per change, written in the change's transaction.

use super::*;
use crate::domain::history::{HistoryEntry, Tracked, entry_between};
use crate::ports::store::HistoryStore;

/// Deletes a deleted record's history (bound to its id).
pub(super) const DELETE_HISTORY: &str = "DELETE FROM history WHERE record_id = ?1";

/// Writes the entry of the change from `previous` to `next`, if a tracked field changed.
pub(super) fn record_change<R: Tracked>(
    tx: &Connection,
    previous: &R,
    next: &R,
) -> Result<(), StoreError> {
    if let Some(entry) = entry_between(previous, next) {
        exec(
            tx,
            "INSERT INTO history (record_id, sort_key, doc) VALUES (?1, ?2, ?3)",
            params![entry.record_id, entry.key(), to_doc(&entry)?],
        )?;
    }
    Ok(())
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn put_history(&self, owner_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        let (owner, key, doc) = (owner_id.to_string(), entry.key(), to_doc(entry)?);
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO history (record_id, sort_key, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![owner, key, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn rewrite_history(
        &self,
        owner_id: &str,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let (owner, key, doc) = (owner_id.to_string(), entry.key(), to_doc(entry)?);
        self.write(move |tx| {
            exec(
                tx,
                "UPDATE history SET doc = ?3 WHERE record_id = ?1 AND sort_key = ?2",
                params![owner, key, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_history(
        &self,
        record_id: &str,
        key: &str,
    ) -> Result<Option<HistoryEntry>, StoreError> {
        let (record, key) = (record_id.to_string(), key.to_string());
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM history WHERE record_id = ?1 AND sort_key = ?2",
                params![record, key],
            )
        })
        .await
    }

    async fn delete_history(&self, owner_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        let (owner, key) = (owner_id.to_string(), entry.key());
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM history WHERE record_id = ?1 AND sort_key = ?2",
                params![owner, key],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_history(
        &self,
        record_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        const SQL: &str = "SELECT sort_key, doc FROM history WHERE record_id = ?1 AND sort_key < ?2
                           ORDER BY sort_key DESC LIMIT ?3";
        self.newest_first(SQL, record_id, after, limit).await
    }
}
