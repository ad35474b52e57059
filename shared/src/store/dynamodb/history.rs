//! Change history: one item per change, under the record's id, written in the change's
//! transaction.

use super::*;
use crate::domain::history::{Tracked, entry_between};
use crate::ports::store::HistoryStore;

/// The history item of the change from `previous` to `next`, if a tracked field changed.
/// Its condition makes a replayed change fail like the record's own version check.
pub(super) fn history_op<R: Tracked>(
    table: &str,
    previous: &R,
    next: &R,
) -> Result<Option<Op>, StoreError> {
    let Some(entry) = entry_between(previous, next) else {
        return Ok(None);
    };
    let item = Item::from([
        ("pk".into(), s(history_pk(&entry.record_id))),
        ("sk".into(), s(entry.key())),
        ("doc".into(), to_doc(&entry)?),
    ]);
    put(table, item, NOT_EXISTS, &[], StoreError::VersionMismatch).map(Some)
}

#[async_trait]
impl HistoryStore for DynamoStore {
    async fn put_history(&self, owner_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(history_pk(owner_id))),
            ("sk".into(), s(entry.key())),
            ("doc".into(), to_doc(entry)?),
        ]);
        self.put_if_absent(item).await
    }

    async fn rewrite_history(
        &self,
        owner_id: &str,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(history_pk(owner_id))),
            ("sk".into(), s(entry.key())),
            ("doc".into(), to_doc(entry)?),
        ]);
        match self
            .put_conditional(item, EXISTS, &[], StoreError::VersionMismatch)
            .await
        {
            Err(StoreError::VersionMismatch) => Ok(()),
            other => other,
        }
    }

    async fn get_history(
        &self,
        record_id: &str,
        key: &str,
    ) -> Result<Option<HistoryEntry>, StoreError> {
        self.get(history_pk(record_id), key)
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    async fn delete_history(&self, owner_id: &str, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.delete_keys(vec![(history_pk(owner_id), entry.key())])
            .await
    }

    async fn list_history(
        &self,
        record_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        let (items, _) = self
            .query_page(
                None,
                ("pk", history_pk(record_id)),
                "sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        Ok(Page::from_rows(keyed_rows(&items, "sk")?, limit))
    }
}
