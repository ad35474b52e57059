//! Bulk reads and paced bulk writes (imports).

use super::*;

/// Rounds of retries for throttled or conflicting batch work.
pub(super) const MAX_BATCH_ROUNDS: usize = 12;

/// Transactions (of up to 100 items each) one `write_customers` call has in flight.
pub(super) const CONCURRENT_TRANSACTIONS: usize = 6;

/// Single-item conditional puts one `write_customers` call has in flight. Each is one round
/// trip for one item, so many overlap to keep the table's budget busy.
pub(super) const CONCURRENT_PUTS: usize = 48;

/// What became of one paced conditional put.
pub(super) enum PutOutcome {
    /// Written, or refused by its condition (with what that means).
    Done(Result<(), StoreError>),
    /// Still throttled or failing after every round: the caller says the store is unavailable.
    GaveUp(String),
}

impl DynamoStore {
    pub(super) fn write_ops(&self, write: &CustomerWrite) -> Result<Vec<Op>, StoreError> {
        match write {
            CustomerWrite::Insert(customer) => self.customer_ops(None, Some(customer)),
            CustomerWrite::Replace { previous, next } => {
                self.customer_ops(Some(previous), Some(next))
            }
        }
    }

    /// Sends one bulk transaction (the writes of `members`) at the pace of the [`WritePacer`],
    /// sending it again at once when throttled: waiting for the rest of the batch first would
    /// hold up the import's in-order pipeline. Answers what each operation's failure means.
    pub(super) async fn send_paced(
        &self,
        writes: &[CustomerWrite],
        members: &[usize],
        ops: Vec<Op>,
    ) -> (Vec<StoreError>, Result<(), TxFailure>) {
        let mut ops = ops;
        let mut attempt = 0;
        // One logical transaction, one token, whatever the rounds: see `send_transaction`.
        let token = uuid::Uuid::new_v4().to_string();
        loop {
            let (batch, failures): (Vec<_>, Vec<_>) =
                ops.into_iter().map(|op| (op.write, op.on_fail)).unzip();
            let items = batch.len();
            self.pacer.pace(items).await;
            let result = self.send_transaction(batch, Retries::Caller, &token).await;
            let Err(TxFailure::Retry(message, throttled)) = &result else {
                self.pacer.accepted(items, Instant::now());
                return (failures, result);
            };
            // Only throttling says the table is full; a 5xx is just sent again.
            if *throttled {
                self.pacer.throttled(Instant::now());
            }
            tracing::debug!(%message, "transaction throttled; sending it again");
            if attempt + 1 >= MAX_BATCH_ROUNDS {
                return (failures, result);
            }
            backoff(attempt).await;
            attempt += 1;
            // The operations were consumed by the request: built again from the writes.
            let rebuilt: Result<Vec<Vec<Op>>, StoreError> = members
                .iter()
                .map(|&index| self.write_ops(&writes[index]))
                .collect();
            match rebuilt {
                Ok(rebuilt) => ops = rebuilt.into_iter().flatten().collect(),
                Err(error) => return (failures, Err(TxFailure::Failed(error))),
            }
        }
    }

    /// Sends one single-item write as a conditional `PutItem` (one WRU per KB, where the same
    /// item in a transaction costs two), at the pace of the [`WritePacer`]. A retry after a
    /// lost answer that meets its own condition failing reads the item back: finding this very
    /// item means it was applied (as in `put_conditional`).
    pub(super) async fn put_paced(&self, op: Op) -> Result<PutOutcome, StoreError> {
        let Some(put) = op.write.put else {
            return Err(StoreError::Unavailable(
                "a bulk put without its item".into(),
            ));
        };
        let item = put.item;
        let sk = get_s(&item, "sk").unwrap_or(SINGLE).to_string();
        let request = self
            .client()
            .await
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values);
        let mut message = String::new();
        for attempt in 0..MAX_BATCH_ROUNDS {
            if attempt > 0 {
                backoff(attempt - 1).await;
            }
            self.pacer.pace(1).await;
            let error = match request.clone().send().await {
                Ok(_) => {
                    self.pacer.accepted(1, Instant::now());
                    return Ok(PutOutcome::Done(Ok(())));
                }
                Err(error) => error,
            };
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception())
            {
                self.pacer.accepted(1, Instant::now());
                let ours = attempt > 0
                    && self
                        .holds_item((op.key.clone(), sk.clone()), request.get_item().as_ref())
                        .await?;
                return Ok(PutOutcome::Done(if ours {
                    Ok(())
                } else {
                    Err(op.on_fail)
                }));
            }
            if !crate::aws::is_transient(&error) {
                return Err(unavailable(error));
            }
            if crate::aws::is_throttling(&error) {
                self.pacer.throttled(Instant::now());
            }
            message = format!("dynamodb: {}", DisplayErrorContext(error));
            tracing::debug!(%message, "put throttled; sending it again");
        }
        Ok(PutOutcome::GaveUp(message))
    }

    /// One string attribute of each item named by `pks`, in order (claims and pointers: a
    /// Message-ID's ticket, a domain's company), read in batches.
    pub(super) async fn batch_get_attribute(
        &self,
        pks: &[String],
        attribute: &str,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let items = self.batch_get(pks).await?;
        Ok(pks
            .iter()
            .map(|pk| {
                items
                    .get(pk)
                    .and_then(|item| get_s(item, attribute))
                    .map(str::to_string)
            })
            .collect())
    }

    /// Reads items by partition key, 100 at a time, retrying unprocessed keys with backoff.
    pub(super) async fn batch_get(
        &self,
        pks: &[String],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let mut unique: Vec<&String> = pks.iter().collect();
        unique.sort();
        unique.dedup();
        // Owned chunks: futures borrowing a temporary slice upset the async-trait lifetimes.
        let chunks: Vec<Vec<String>> = unique
            .chunks(100)
            .map(|chunk| chunk.iter().map(|pk| pk.to_string()).collect())
            .collect();
        let chunks =
            futures::stream::iter(chunks.into_iter().map(|chunk| self.batch_get_chunk(chunk)))
                .buffer_unordered(CONCURRENT_TRANSACTIONS)
                .collect::<Vec<_>>()
                .await;
        let mut found = HashMap::new();
        for chunk in chunks {
            found.extend(chunk?);
        }
        Ok(found)
    }

    /// One BatchGetItem of at most 100 keys, retrying unprocessed keys with backoff.
    pub(super) async fn batch_get_chunk(
        &self,
        chunk: Vec<String>,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        let keys = chunk
            .iter()
            .map(|pk| {
                Item::from([
                    ("pk".to_string(), s(pk.as_str())),
                    ("sk".to_string(), s(SINGLE)),
                ])
            })
            .collect();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        for attempt in 0..MAX_BATCH_ROUNDS {
            let client = self.client().await;
            let output = send_retrying(|| {
                client
                    .batch_get_item()
                    .request_items(&self.table, request.clone())
                    .send()
            })
            .await
            .0
            .map_err(unavailable)?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                if let Some(pk) = get_s(&item, "pk") {
                    found.insert(pk.to_string(), item);
                }
            }
            match output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.keys().is_empty() => {
                    if attempt + 1 == MAX_BATCH_ROUNDS {
                        return Err(StoreError::Unavailable(
                            "dynamodb: reads stayed throttled".into(),
                        ));
                    }
                    request = rest;
                    backoff(attempt).await;
                }
                _ => break,
            }
        }
        Ok(found)
    }
}
