//! Single-item bulk writes as PartiQL statements, 25 to a `BatchExecuteStatement`: new items as
//! `INSERT`s, replacements of an item at a known version as `UPDATE … WHERE version = ?`.
//!
//! An `INSERT` fails for an existing key with its own `DuplicateItem` and leaves the item as it
//! was: a conditional create at 1 WRU per KB, like a conditional `PutItem`, but one request
//! carries 25 of them, so the importer signs, sends and parses a twenty-fifth of the requests
//! (its CPU per row is the Lambda bill). An `UPDATE` whose version no longer matches (or whose
//! item is gone) fails with `ConditionalCheckFailed`, the same 1 WRU per KB as a conditional
//! put. The request answers 200 while single statements fail:
//! each statement's answer is read on its own. Throttled or failed statements go again, alone,
//! in a later request; a refusal for a statement whose answer may have been lost reads
//! the item back, and finding this very item there is the write having gone through.

use super::*;
use aws_sdk_dynamodb::types::{BatchStatementErrorCodeEnum, BatchStatementRequest};

/// DynamoDB's limit of statements per `BatchExecuteStatement`.
pub(super) const STATEMENTS_PER_BATCH: usize = 25;

/// Batches one `write_customers` call has in flight: 400 statements, so that 10 ms per
/// request still allows 40,000 rows a second.
pub(super) const CONCURRENT_BATCHES: usize = 16;

/// One item to write in a batch, with what its failure means.
pub(super) struct Insert {
    /// The caller's index of the write.
    pub(super) index: usize,
    key: (String, String),
    item: Item,
    /// The version the stored item must be at: the write replaces it (`UPDATE`). `None`: a new
    /// item (`INSERT`).
    at_version: Option<AttributeValue>,
    on_fail: StoreError,
    /// Sent before in a request whose answer did not come back whole: it may be stored.
    maybe_applied: bool,
}

impl Insert {
    /// Whether `op` writes one single item a statement can carry: a put on condition that its
    /// key is free (a new item), or that the stored item is at a version (a replacement), with
    /// the single-item sort key, which the lost-answer check reads back by partition key.
    pub(super) fn batchable(op: &Op) -> bool {
        op.write.put.as_ref().is_some_and(|put| {
            get_s(&put.item, "sk") == Some(SINGLE)
                && match put.condition_expression.as_deref() {
                    Some(NOT_EXISTS) => true,
                    Some(AT_VERSION) => version_of(put).is_some(),
                    _ => false,
                }
        })
    }

    /// The batched write of `op`, a put that [`Insert::batchable`].
    pub(super) fn of(index: usize, op: Op) -> Option<Insert> {
        let put = op.write.put?;
        let at_version = version_of(&put).cloned();
        let key = (op.key.clone(), SINGLE.to_string());
        Some(Insert {
            index,
            key,
            item: put.item,
            at_version,
            on_fail: op.on_fail,
            maybe_applied: false,
        })
    }

    fn statement(&self, table: &str) -> Result<BatchStatementRequest, StoreError> {
        match &self.at_version {
            None => self.insert_statement(table),
            Some(version) => self.update_statement(table, version),
        }
    }

    /// `UPDATE "table" SET "name" = ? … REMOVE "name" … WHERE "pk" = ? AND "sk" = ? AND
    /// "version" = ?` and its parameters, in the same order: the item replaced whole, the
    /// optional attributes it lacks removed.
    fn update_statement(
        &self,
        table: &str,
        version: &AttributeValue,
    ) -> Result<BatchStatementRequest, StoreError> {
        let mut text = String::with_capacity(64 + table.len() + 20 * self.item.len());
        text.push_str("UPDATE \"");
        text.push_str(table);
        text.push('"');
        let mut parameters = Vec::with_capacity(self.item.len() + 1);
        // The attribute names are the adapter's own (never a client's text), so they can be
        // spelled into the statement; every value is a parameter.
        for (name, value) in self
            .item
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "pk" | "sk"))
        {
            text.push_str(" SET \"");
            text.push_str(name);
            text.push_str("\" = ?");
            parameters.push(value.clone());
        }
        for name in OPTIONAL_ATTRIBUTES
            .iter()
            .filter(|n| !self.item.contains_key(**n))
        {
            text.push_str(" REMOVE \"");
            text.push_str(name);
            text.push('"');
        }
        text.push_str(" WHERE \"pk\" = ? AND \"sk\" = ? AND \"version\" = ?");
        parameters.push(s(&self.key.0));
        parameters.push(s(&self.key.1));
        parameters.push(version.clone());
        BatchStatementRequest::builder()
            .statement(text)
            .set_parameters(Some(parameters))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("dynamodb: {e}")))
    }

    /// `INSERT INTO "table" VALUE {'name': ?, …}` and its parameters, in the same order.
    fn insert_statement(&self, table: &str) -> Result<BatchStatementRequest, StoreError> {
        let mut text = String::with_capacity(32 + table.len() + 16 * self.item.len());
        text.push_str("INSERT INTO \"");
        text.push_str(table);
        text.push_str("\" VALUE {");
        let mut parameters = Vec::with_capacity(self.item.len());
        // The attribute names are the adapter's own (never a client's text), so they can be
        // spelled into the statement; every value is a parameter.
        for (position, (name, value)) in self.item.iter().enumerate() {
            if position > 0 {
                text.push_str(", ");
            }
            text.push('\'');
            text.push_str(name);
            text.push_str("': ?");
            parameters.push(value.clone());
        }
        text.push('}');
        BatchStatementRequest::builder()
            .statement(text)
            .set_parameters(Some(parameters))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("dynamodb: {e}")))
    }
}

/// The version a put's condition names (`:version` of [`AT_VERSION`]).
fn version_of(put: &aws_sdk_dynamodb::types::Put) -> Option<&AttributeValue> {
    put.expression_attribute_values
        .as_ref()
        .and_then(|values| values.get(":version"))
}

/// Puts `inserts` in batches that never hold one key twice (DynamoDB refuses such a batch),
/// in their order otherwise.
pub(super) fn into_batches(inserts: Vec<Insert>) -> Vec<Vec<Insert>> {
    let mut batches: Vec<Vec<Insert>> = Vec::new();
    for insert in inserts {
        let free = batches.iter().position(|batch| {
            batch.len() < STATEMENTS_PER_BATCH && batch.iter().all(|i| i.key != insert.key)
        });
        match free {
            Some(at) => batches[at].push(insert),
            None => batches.push(vec![insert]),
        }
    }
    batches
}

/// What became of one statement's answer.
enum Answer {
    Written,
    /// Its key exists: the caller's `on_fail`, unless the item there is this insert's own write.
    Refused,
    /// Throttled or failed on the way: send it again.
    Again {
        maybe_applied: bool,
    },
}

impl DynamoStore {
    /// Sends one batch of inserts at the pace of the [`WritePacer`] until every statement has
    /// its outcome, sending the throttled and failed ones again with backoff. Answers each
    /// insert's caller index and outcome.
    pub(super) async fn insert_batch(
        &self,
        batch: Vec<Insert>,
    ) -> Result<Vec<(usize, PutOutcome)>, StoreError> {
        let mut pending = batch;
        let mut outcomes = Vec::with_capacity(pending.len());
        let mut message = String::new();
        for attempt in 0..MAX_BATCH_ROUNDS {
            if pending.is_empty() {
                return Ok(outcomes);
            }
            if attempt > 0 {
                backoff(attempt - 1).await;
            }
            let statements = pending
                .iter()
                .map(|insert| insert.statement(&self.table))
                .collect::<Result<Vec<_>, _>>()?;
            self.pacer.pace(pending.len()).await;
            let sent = self
                .client()
                .await
                .batch_execute_statement()
                .set_statements(Some(statements))
                .send()
                .await;
            let answers = match sent {
                Ok(answer) => answer.responses.unwrap_or_default(),
                Err(error) if crate::aws::is_transient(&error) => {
                    if crate::aws::is_throttling(&error) {
                        self.pacer.throttled(Instant::now());
                    } else {
                        // A 5xx or a lost connection: the statements may have been applied.
                        pending.iter_mut().for_each(|i| i.maybe_applied = true);
                    }
                    message = format!("dynamodb: {}", DisplayErrorContext(error));
                    continue;
                }
                Err(error) => return Err(unavailable(error)),
            };
            let verdicts: Vec<Answer> = pending
                .iter()
                .enumerate()
                .map(|(position, _)| answer_of(answers.get(position)))
                .collect::<Result<_, _>>()?;
            let ours = self.ours(&pending, &verdicts).await?;
            let mut again = Vec::new();
            let (mut throttled, mut accepted) = (false, 0);
            for ((mut insert, verdict), ours) in pending.into_iter().zip(verdicts).zip(ours) {
                let outcome = match verdict {
                    Answer::Written => Ok(()),
                    Answer::Refused if ours => Ok(()),
                    Answer::Refused => Err(insert.on_fail),
                    Answer::Again { maybe_applied } => {
                        throttled |= !maybe_applied;
                        insert.maybe_applied |= maybe_applied;
                        again.push(insert);
                        continue;
                    }
                };
                accepted += 1;
                outcomes.push((insert.index, PutOutcome::Done(outcome)));
            }
            self.pacer.accepted(accepted, Instant::now());
            if throttled {
                self.pacer.throttled(Instant::now());
            }
            if !again.is_empty() {
                message = format!("dynamodb: {} statements throttled or failed", again.len());
            }
            pending = again;
        }
        if pending.is_empty() {
            return Ok(outcomes);
        }
        Ok(outcomes
            .into_iter()
            .chain(
                pending
                    .into_iter()
                    .map(|i| (i.index, PutOutcome::GaveUp(message.clone()))),
            )
            .collect())
    }

    /// For each insert refused as a duplicate after an attempt whose answer was lost: whether
    /// the item there is its own write (one `BatchGetItem` for all of them).
    async fn ours(&self, inserts: &[Insert], verdicts: &[Answer]) -> Result<Vec<bool>, StoreError> {
        let doubtful = |(insert, verdict): (&Insert, &Answer)| {
            insert.maybe_applied && matches!(verdict, Answer::Refused)
        };
        let pks: Vec<String> = inserts
            .iter()
            .zip(verdicts)
            .filter(|pair| doubtful(*pair))
            .map(|(insert, _)| insert.key.0.clone())
            .collect();
        let found = if pks.is_empty() {
            HashMap::new()
        } else {
            self.batch_get(&pks).await?
        };
        Ok(inserts
            .iter()
            .zip(verdicts)
            .map(|pair| {
                doubtful(pair)
                    && found
                        .get(&pair.0.key.0)
                        .is_some_and(|item| *item == pair.0.item)
            })
            .collect())
    }
}

/// What one statement's answer means for its insert.
fn answer_of(
    answer: Option<&aws_sdk_dynamodb::types::BatchStatementResponse>,
) -> Result<Answer, StoreError> {
    let Some(answer) = answer else {
        // An answer without this statement's entry: as if it was lost.
        return Ok(Answer::Again {
            maybe_applied: true,
        });
    };
    let Some(error) = answer.error.as_ref() else {
        return Ok(Answer::Written);
    };
    use BatchStatementErrorCodeEnum as Code;
    match error.code.as_ref() {
        Some(Code::DuplicateItem | Code::ConditionalCheckFailed) => Ok(Answer::Refused),
        Some(
            Code::ProvisionedThroughputExceeded
            | Code::ThrottlingError
            | Code::RequestLimitExceeded
            | Code::TransactionConflict,
        ) => Ok(Answer::Again {
            maybe_applied: false,
        }),
        Some(Code::InternalServerError) => Ok(Answer::Again {
            maybe_applied: true,
        }),
        other => Err(StoreError::Unavailable(format!(
            "dynamodb: a batched write failed: {other:?} {}",
            error.message.as_deref().unwrap_or_default()
        ))),
    }
}

impl DynamoStore {
    /// The new items and replacements among single-item writes, to be written in batches
    /// (unless this store puts them one by one); the rest stay conditional puts.
    pub(super) fn split_inserts(
        &self,
        singles: Vec<(usize, Op)>,
    ) -> (Vec<Insert>, Vec<(usize, Op)>) {
        if self.inserts == BulkInserts::Puts {
            return (Vec::new(), singles);
        }
        let mut inserts = Vec::new();
        let mut puts = Vec::new();
        for (index, op) in singles {
            if Insert::batchable(&op) {
                inserts.extend(Insert::of(index, op));
            } else {
                puts.push((index, op));
            }
        }
        (inserts, puts)
    }
}

/// Every outcome of the puts and batches, or the first error that stopped one.
pub(super) fn flatten(
    answers: impl Iterator<Item = Result<Vec<(usize, PutOutcome)>, StoreError>>,
) -> Result<Vec<(usize, PutOutcome)>, StoreError> {
    let mut outcomes = Vec::new();
    for answer in answers {
        outcomes.extend(answer?);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(index: usize, email: &str) -> Insert {
        let item = Item::from([
            ("pk".to_string(), s(format!("EMAIL#{email}"))),
            ("sk".to_string(), s(SINGLE)),
        ]);
        let op = put("t", item, NOT_EXISTS, &[], StoreError::VersionMismatch).unwrap();
        assert!(Insert::batchable(&op));
        Insert::of(index, op).unwrap()
    }

    #[test]
    fn batches_hold_each_key_once_and_at_most_25_statements() {
        // 60 inserts, every third one for the same address.
        let inserts: Vec<Insert> = (0..60)
            .map(|i| {
                let email = if i % 3 == 0 {
                    "same@acme.test".to_string()
                } else {
                    format!("c{i}@acme.test")
                };
                insert(i, &email)
            })
            .collect();
        let batches = into_batches(inserts);
        let mut seen: Vec<usize> = batches.iter().flatten().map(|i| i.index).collect();
        seen.sort();
        assert_eq!(seen, (0..60).collect::<Vec<_>>(), "every insert kept once");
        for batch in &batches {
            assert!(batch.len() <= STATEMENTS_PER_BATCH);
            let mut keys: Vec<&str> = batch.iter().map(|i| i.key.0.as_str()).collect();
            keys.sort();
            let count = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), count, "a key twice in one batch");
        }
        // The repeated address needs 20 batches; the others fill them in order.
        assert_eq!(batches.len(), 20);
    }

    #[test]
    fn a_statement_names_every_attribute_once_with_its_parameter() {
        let statement = insert(0, "ann@acme.test").statement("helpdesk").unwrap();
        let text = statement.statement();
        assert!(
            text.starts_with("INSERT INTO \"helpdesk\" VALUE {"),
            "{text}"
        );
        // The item's own attributes, nothing added (no write id).
        assert_eq!(text.matches(": ?").count(), 2, "{text}");
        assert_eq!(statement.parameters().len(), 2);
    }

    #[test]
    fn a_replacement_sets_every_attribute_removes_what_it_lacks_and_checks_the_version() {
        let item = Item::from([
            ("pk".to_string(), s("EMAIL#ann@acme.test")),
            ("sk".to_string(), s(SINGLE)),
            ("version".to_string(), n(3)),
            ("first_sk".to_string(), s("ann#ann@acme.test")),
        ]);
        let op = put(
            "t",
            item,
            AT_VERSION,
            &[(":version", n(2))],
            StoreError::VersionMismatch,
        )
        .unwrap();
        assert!(Insert::batchable(&op));
        let statement = Insert::of(0, op).unwrap().statement("helpdesk").unwrap();
        let text = statement.statement();
        assert!(text.starts_with("UPDATE \"helpdesk\" SET "), "{text}");
        assert_eq!(text.matches(" SET ").count(), 2, "{text}");
        for gone in ["last_sk", "group_pk", "welcome_status", "write_id"] {
            assert!(text.contains(&format!(" REMOVE \"{gone}\"")), "{text}");
        }
        assert!(!text.contains("REMOVE \"first_sk\""), "{text}");
        assert!(
            text.ends_with(" WHERE \"pk\" = ? AND \"sk\" = ? AND \"version\" = ?"),
            "{text}"
        );
        let parameters = statement.parameters();
        assert_eq!(parameters.len(), 5);
        assert_eq!(parameters[4], n(2), "the version read, not the one written");
    }
}
