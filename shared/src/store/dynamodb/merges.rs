//! Writes of merges and their undo: several customers at once with emails passing between
//! them, moved notes and history, and the merge records.

use std::collections::{BTreeMap, BTreeSet};

use super::customers::{marker_delete, marker_put};
use super::jobs::{job_item, merge_expiry};
use super::*;
use crate::domain::merge::Merge;

use crate::ports::store::{MergeStore, MergeWrite};

/// What finds a merge from each customer it holds a copy of: an item per customer, written
/// with the merge and expiring with it. `condition` is `NOT_EXISTS` for a new merge, `ALWAYS`
/// where a migration writes them again.
pub(super) fn membership_puts(
    table: &str,
    merge: &Merge,
    condition: &str,
) -> Result<Vec<Op>, StoreError> {
    let expires = merge_expiry(merge).to_string();
    merge
        .customer_ids()
        .into_iter()
        .map(|customer_id| {
            let item = Item::from([
                ("pk".into(), s(merges_of_pk(customer_id))),
                ("sk".into(), s(&merge.id)),
                ("expires_at".into(), AttributeValue::N(expires.clone())),
            ]);
            put(table, item, condition, &[], StoreError::VersionMismatch)
        })
        .collect()
}

impl DynamoStore {
    /// See `MergeStore::write_merge`: one transaction writing every email of these
    /// customers once, each guarded by its holder before (its version for a primary email,
    /// its id for an alternate one, absence for a new one).
    async fn replace_many(
        &self,
        previous: &[Customer],
        next: &[Customer],
        merge: &MergeWrite,
    ) -> Result<(), StoreError> {
        // Each guarded at its version below, so what this checks is what is stored.
        for customer in previous {
            customer.refuse_change_under_erasure()?;
        }
        let table = self.table.as_str();
        let holders = |customers: &'_ [Customer]| {
            let mut held: BTreeMap<String, (usize, bool)> = BTreeMap::new();
            for (i, customer) in customers.iter().enumerate() {
                for email in customer.all_emails() {
                    held.insert(email.to_string(), (i, email == customer.email()));
                }
            }
            held
        };
        let (before, after) = (holders(previous), holders(next));
        let emails: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let mut ops = Vec::new();
        for email in emails {
            let (condition, values, on_fail) = match before.get(email) {
                Some(&(i, true)) => (
                    AT_VERSION,
                    vec![(":version", n(previous[i].version))],
                    StoreError::VersionMismatch,
                ),
                Some(&(i, false)) => (
                    OWNED_BY,
                    vec![(":id", s(&previous[i].id))],
                    StoreError::VersionMismatch,
                ),
                None => (NOT_EXISTS, vec![], StoreError::EmailTaken(email.clone())),
            };
            ops.push(match after.get(email) {
                Some(&(i, true)) => {
                    put(table, customer_item(&next[i])?, condition, &values, on_fail)?
                }
                Some(&(i, false)) => put(
                    table,
                    alias_item(email, &next[i]),
                    condition,
                    &values,
                    on_fail,
                )?,
                None => delete(table, email_pk(email), SINGLE, condition, &values, on_fail)?,
            });
        }
        let marked = |customers: &[Customer]| -> BTreeSet<String> {
            customers
                .iter()
                .filter(|c| c.blocked.is_some())
                .map(|c| c.email().to_string())
                .collect()
        };
        let (was, is) = (marked(previous), marked(next));
        for email in was.difference(&is) {
            ops.push(marker_delete(table, email.clone())?);
        }
        for email in is.difference(&was) {
            ops.push(marker_put(table, email.clone())?);
        }
        for customer in next {
            if let Some(old) = previous.iter().find(|p| p.id == customer.id) {
                ops.extend(super::history::history_op(table, old, customer)?);
            }
        }
        if let MergeWrite::Insert(merge) = merge {
            ops.extend(membership_puts(table, merge, NOT_EXISTS)?);
        }
        ops.push(match merge {
            MergeWrite::Insert(merge) => put(
                table,
                job_item(merge)?,
                NOT_EXISTS,
                &[],
                StoreError::Exists(format!("merge {}", merge.id)),
            )?,
            MergeWrite::Replace { previous, next } => put(
                table,
                job_item(next)?,
                AT_VERSION,
                &[(":version", n(previous.version))],
                StoreError::VersionMismatch,
            )?,
        });
        if ops.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "a merge of {} emails is more than one transaction holds",
                ops.len()
            )));
        }
        self.transact(ops).await
    }
}

#[async_trait]
impl MergeStore for DynamoStore {
    async fn merges_of(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let (items, next) = self
                .query_page(
                    None,
                    ("pk", merges_of_pk(customer_id)),
                    "sk",
                    after.as_deref(),
                    None,
                    100,
                    true,
                )
                .await?;
            ids.extend(
                items
                    .iter()
                    .filter_map(|i| get_s(i, "sk").map(str::to_string)),
            );
            match next {
                Some(position) => after = Some(position),
                None => return Ok(ids),
            }
        }
    }

    async fn delete_merge(&self, merge: &Merge) -> Result<(), StoreError> {
        let mut keys: Vec<(String, String)> = merge
            .customer_ids()
            .into_iter()
            .map(|customer_id| (merges_of_pk(customer_id), merge.id.clone()))
            .collect();
        keys.push((merge_pk(&merge.id), SINGLE.to_string()));
        self.delete_keys(keys).await
    }

    /// The table's TTL deletes expired merges; until it has, readers skip them.
    async fn forget_expired_merges(
        &self,
        _now: &crate::domain::timestamp::Timestamp,
        _limit: usize,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }
    async fn write_merge(
        &self,
        previous: &[Customer],
        next: &[Customer],
        merge: &MergeWrite,
    ) -> Result<(), StoreError> {
        self.replace_many(previous, next, merge).await
    }
}
