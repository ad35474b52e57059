//! Deleting many items: what hangs off a deleted record (notes, history), and erasures.

use super::*;

impl DynamoStore {
    /// Deletes every item of partition `pk`, 25 at a time (BatchWriteItem's limit).
    pub(super) async fn delete_partition(&self, pk: String) -> Result<(), StoreError> {
        loop {
            let (items, _) = self
                .query_page(None, ("pk", pk.clone()), "sk", None, None, 25, true)
                .await?;
            if items.is_empty() {
                return Ok(());
            }
            let keys = items
                .iter()
                .filter_map(|item| {
                    Some((
                        get_s(item, "pk")?.to_string(),
                        get_s(item, "sk")?.to_string(),
                    ))
                })
                .collect();
            self.delete_keys(keys).await?;
        }
    }

    /// Deletes the items at `keys` (`pk`, `sk`), 25 to a request, retrying what DynamoDB
    /// leaves unprocessed. Deleting a missing item succeeds.
    pub(super) async fn delete_keys(&self, keys: Vec<(String, String)>) -> Result<(), StoreError> {
        let mut keys = keys;
        keys.sort();
        keys.dedup();
        let requests = keys
            .iter()
            .filter_map(|(pk, sk)| {
                let key = Item::from([("pk".into(), s(pk)), ("sk".into(), s(sk))]);
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
        self.batch_write(requests, "deletes").await
    }

    /// Sends `requests` (puts or deletes, each key once) 25 to a `BatchWriteItem`, retrying
    /// what DynamoDB leaves unprocessed; `what` names them when they stay throttled.
    pub(super) async fn batch_write(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
        what: &str,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = HashMap::from([(self.table.clone(), chunk.to_vec())]);
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
                return Err(StoreError::Unavailable(format!(
                    "dynamodb: {what} stayed throttled; retry"
                )));
            }
        }
        Ok(())
    }
}
