//! Conditional writes and transactions: one engine with retries for every multi-item change.

use super::*;

/// DynamoDB's limit on the items of one transaction.
pub(super) const MAX_TRANSACTION_ITEMS: usize = 100;

/// One write of a transaction, with what its failure means.
pub(super) struct Op {
    /// The item's partition key: a transaction may touch each item once.
    pub(super) key: String,
    pub(super) write: TransactWriteItem,
    pub(super) on_fail: StoreError,
}

/// A conditional put: `condition` uses the placeholders in `values`.
pub(super) fn put(
    table: &str,
    item: Item,
    condition: &str,
    values: &[(&str, AttributeValue)],
    on_fail: StoreError,
) -> Result<Op, StoreError> {
    let key = get_s(&item, "pk").unwrap_or_default().to_string();
    let mut builder = Put::builder().table_name(table).set_item(Some(item));
    if condition != ALWAYS {
        builder = builder.condition_expression(condition);
    }
    for (name, value) in values {
        builder = builder.expression_attribute_values(*name, value.clone());
    }
    let put = builder
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key,
        write: TransactWriteItem::builder().put(put).build(),
        on_fail,
    })
}

pub(super) fn delete(
    table: &str,
    pk: String,
    sk: &str,
    condition: &str,
    values: &[(&str, AttributeValue)],
    on_fail: StoreError,
) -> Result<Op, StoreError> {
    let key = pk.clone();
    let mut builder = Delete::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s(sk));
    if condition != ALWAYS {
        builder = builder.condition_expression(condition);
    }
    for (name, value) in values {
        builder = builder.expression_attribute_values(*name, value.clone());
    }
    let delete = builder
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key,
        write: TransactWriteItem::builder().delete(delete).build(),
        on_fail,
    })
}

/// A condition on an item a transaction does not write (it must still be as read).
pub(super) fn check(
    table: &str,
    pk: String,
    sk: &str,
    condition: &str,
    values: &[(&str, AttributeValue)],
    on_fail: StoreError,
) -> Result<Op, StoreError> {
    let key = pk.clone();
    let mut builder = aws_sdk_dynamodb::types::ConditionCheck::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .condition_expression(condition);
    for (name, value) in values {
        builder = builder.expression_attribute_values(*name, value.clone());
    }
    let check = builder
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key,
        write: TransactWriteItem::builder().condition_check(check).build(),
        on_fail,
    })
}

/// Who retries a throttled or failed request.
#[derive(Clone, Copy)]
pub(super) enum Retries {
    /// The SDK's standard retries (single writes from the API).
    Sdk,
    /// The caller, paced by the [`WritePacer`]: the SDK's backoff (a second or more) would
    /// stall a bulk import's pipeline while its other writers wait.
    Caller,
}

/// Why a transaction did not go through.
pub(super) enum TxFailure {
    /// Cancelled: the cancellation code of each operation, in order ("None" for the fine ones).
    Cancelled(Vec<Option<String>>),
    /// Throttled (`true`: the table is full, slow down) or a transient fault: the same
    /// transaction may be sent again.
    Retry(String, bool),
    Failed(StoreError),
}

/// Exponential backoff with full jitter: up to 25 ms doubling to 3.2 s.
pub(super) async fn backoff(attempt: usize) {
    let ceiling = 25u64 << attempt.min(7);
    let wait = rand::random_range(0..=ceiling);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

pub(super) const NOT_EXISTS: &str = "attribute_not_exists(pk)";

pub(super) const AT_VERSION: &str = "version = :version";
pub(super) const EXISTS: &str = "attribute_exists(pk)";
/// No condition: a write whose item is derived from others in the same transaction.
pub(super) const ALWAYS: &str = "";

pub(super) const OWNED_BY: &str = "customer_id = :id";

pub(super) const OF_COMPANY: &str = "company_id = :id";

impl DynamoStore {
    /// Runs `ops` as one transaction; a failed condition is reported as that op's error.
    pub(super) async fn transact(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "transaction of {} items exceeds DynamoDB's limit",
                ops.len()
            )));
        }
        let (writes, failures): (Vec<_>, Vec<_>) =
            ops.into_iter().map(|op| (op.write, op.on_fail)).unzip();
        let token = uuid::Uuid::new_v4().to_string();
        match self.send_transaction(writes, Retries::Sdk, &token).await {
            Ok(()) => Ok(()),
            Err(TxFailure::Cancelled(codes)) => {
                let failed = codes
                    .iter()
                    .position(|c| c.as_deref() == Some("ConditionalCheckFailed"));
                match failed.and_then(|i| failures.get(i)) {
                    Some(meaning) => Err(meaning.clone()),
                    // Cancelled by a concurrent transaction on the same items: the caller
                    // re-reads and decides again, as after a version conflict.
                    None if codes
                        .iter()
                        .any(|c| c.as_deref() == Some("TransactionConflict")) =>
                    {
                        Err(StoreError::VersionMismatch)
                    }
                    None => Err(StoreError::Unavailable(format!(
                        "dynamodb: transaction cancelled: {codes:?}"
                    ))),
                }
            }
            Err(TxFailure::Retry(message, _)) => Err(StoreError::Unavailable(message)),
            Err(TxFailure::Failed(error)) => Err(error),
        }
    }

    /// Sends one transaction. `token` is its idempotency token (`ClientRequestToken`), the
    /// same on every retry of this logical transaction: a retry after a lost answer is then
    /// answered with the first one's success instead of failing its conditions.
    pub(super) async fn send_transaction(
        &self,
        writes: Vec<TransactWriteItem>,
        retries: Retries,
        token: &str,
    ) -> Result<(), TxFailure> {
        let client = self.client().await;
        let request = client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .client_request_token(token);
        let sent = match retries {
            Retries::Sdk => send_retrying(|| request.clone().send()).await.0,
            Retries::Caller => request.send().await,
        };
        let error = match sent {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        {
            let codes: Vec<Option<String>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_string))
                .collect();
            // Throttled items cancel the whole transaction: the same one may go again.
            if codes
                .iter()
                .flatten()
                .any(|c| c == "ThrottlingError" || c == "ProvisionedThroughputExceeded")
            {
                return Err(TxFailure::Retry(
                    format!("dynamodb: transaction throttled: {codes:?}"),
                    true,
                ));
            }
            return Err(TxFailure::Cancelled(codes));
        }
        if crate::aws::is_transient(&error) {
            let throttled = crate::aws::is_throttling(&error);
            Err(TxFailure::Retry(
                format!("dynamodb: {}", DisplayErrorContext(error)),
                throttled,
            ))
        } else {
            Err(TxFailure::Failed(unavailable(error)))
        }
    }

    /// A conditional `PutItem`. When an attempt failed in a way that may have applied it (its
    /// answer lost) and the retry then meets its own condition failing, the stored item is
    /// read back: finding this very item there means the write was ours and went through.
    /// (Every item holds an id or a time of its own, so another writer's is never the same.)
    pub(super) async fn put_conditional(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
        on_fail: StoreError,
    ) -> Result<(), StoreError> {
        let key = (
            get_s(&item, "pk").unwrap_or_default().to_string(),
            get_s(&item, "sk").unwrap_or_default().to_string(),
        );
        let mut request = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        let (outcome, retried) = send_retrying(|| request.clone().send()).await;
        match outcome {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                if retried && self.holds_item(key, request.get_item().as_ref()).await? {
                    tracing::debug!("a conditional write's answer was lost; it was applied");
                    return Ok(());
                }
                Err(on_fail)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Puts `item` unless an item is at its key: writing what is already written (a retried
    /// request, a repeated job step) succeeds and keeps the first.
    pub(super) async fn put_if_absent(&self, item: Item) -> Result<(), StoreError> {
        match self
            .put_conditional(item, NOT_EXISTS, &[], StoreError::VersionMismatch)
            .await
        {
            Err(StoreError::VersionMismatch) => Ok(()),
            other => other,
        }
    }

    /// Whether the item at `key` is `ours`, attribute for attribute: a conditional write whose
    /// answer was lost was applied. (No write id is stored for this: its bytes would be paid
    /// again in each index entry, and would take items near 1 KB over it.)
    pub(super) async fn holds_item(
        &self,
        key: (String, String),
        ours: Option<&Item>,
    ) -> Result<bool, StoreError> {
        let stored = self.get(key.0, &key.1).await?;
        Ok(stored.is_some() && stored.as_ref() == ours)
    }
}
