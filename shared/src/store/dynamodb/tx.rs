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
    let mut builder = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
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
        .key("sk", s(sk))
        .condition_expression(condition);
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

/// Why a transaction did not go through.
/// Who retries a throttled or failed request.
#[derive(Clone, Copy)]
pub(super) enum Retries {
    /// The SDK's standard retries (single writes from the API).
    Sdk,
    /// The caller, paced by the [`WritePacer`]: the SDK's backoff (a second or more) would
    /// stall a bulk import's pipeline while its other writers wait.
    Caller,
}

pub(super) enum TxFailure {
    /// Cancelled: the cancellation code of each operation, in order ("None" for the fine ones).
    Cancelled(Vec<Option<String>>),
    /// Throttled or a transient fault: the same transaction may be sent again.
    Retry(String),
    Failed(StoreError),
}

/// Errors after which the same request may succeed: throttling and transient server states.
pub(super) const RETRYABLE_CODES: [&str; 6] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Exponential backoff with full jitter: up to 25 ms doubling to 3.2 s.
pub(super) async fn backoff(attempt: usize) {
    let ceiling = 25u64 << attempt.min(7);
    let wait = rand::random_range(0..=ceiling);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

pub(super) const NOT_EXISTS: &str = "attribute_not_exists(pk)";

pub(super) const AT_VERSION: &str = "version = :version";

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
        match self.send_transaction(writes, Retries::Sdk).await {
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
            Err(TxFailure::Retry(message)) => Err(StoreError::Unavailable(message)),
            Err(TxFailure::Failed(error)) => Err(error),
        }
    }

    pub(super) async fn send_transaction(
        &self,
        writes: Vec<TransactWriteItem>,
        retries: Retries,
    ) -> Result<(), TxFailure> {
        let client = match retries {
            Retries::Sdk => self.client().await,
            Retries::Caller => self.bulk_client().await,
        };
        let sent = client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let error = match sent {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        {
            return Err(TxFailure::Cancelled(
                cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
            ));
        }
        let code = error
            .as_service_error()
            .and_then(|e| e.meta().code())
            .unwrap_or_default()
            .to_string();
        let transient = RETRYABLE_CODES.contains(&code.as_str())
            || matches!(
                error,
                SdkError::TimeoutError(_)
                    | SdkError::DispatchFailure(_)
                    | SdkError::ResponseError(_)
            );
        if transient {
            Err(TxFailure::Retry(format!(
                "dynamodb: {}",
                DisplayErrorContext(error)
            )))
        } else {
            Err(TxFailure::Failed(unavailable(error)))
        }
    }

    pub(super) async fn put_conditional(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
        on_fail: StoreError,
    ) -> Result<(), StoreError> {
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
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(on_fail)
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}
