//! Change history (one item per change, under the record's id, written in the change's
//! transaction), and deleting what hangs off a deleted record.

use super::*;
use crate::domain::history::{Tracked, entry_between, history_key};
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
        ("sk".into(), s(history_key(entry.version))),
        ("doc".into(), to_doc(&entry)?),
    ]);
    put(table, item, NOT_EXISTS, &[], StoreError::VersionMismatch).map(Some)
}

#[async_trait]
impl HistoryStore for DynamoStore {
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

impl DynamoStore {
    /// Deletes every item of partition `pk` (notes, history of a deleted record), 25 at a time
    /// (BatchWriteItem's limit).
    pub(super) async fn delete_partition(&self, pk: String) -> Result<(), StoreError> {
        loop {
            let (items, _) = self
                .query_page(None, ("pk", pk.clone()), "sk", None, None, 25, true)
                .await?;
            if items.is_empty() {
                return Ok(());
            }
            let requests = items
                .iter()
                .filter_map(|item| {
                    let key = Item::from([
                        ("pk".into(), item.get("pk")?.clone()),
                        ("sk".into(), item.get("sk")?.clone()),
                    ]);
                    let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .ok()?;
                    Some(
                        aws_sdk_dynamodb::types::WriteRequest::builder()
                            .delete_request(delete)
                            .build(),
                    )
                })
                .collect();
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            for attempt in 0..MAX_BATCH_ROUNDS {
                let client = self.client().await;
                let output = send_retrying(|| {
                    client
                        .batch_write_item()
                        .set_request_items(Some(pending.clone()))
                        .send()
                })
                .await
                .0
                .map_err(unavailable)?;
                pending = output.unprocessed_items.unwrap_or_default();
                pending.retain(|_, v| !v.is_empty());
                if pending.is_empty() {
                    break;
                }
                backoff(attempt).await;
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "dependent items could not be deleted; retry the delete".into(),
                ));
            }
        }
    }
}
