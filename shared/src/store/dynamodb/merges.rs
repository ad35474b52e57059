//! Writes of merges and their undo: several customers at once with emails passing between
//! them, moved notes and history, and the merge records.

use std::collections::{BTreeMap, BTreeSet};

use super::customers::{marker_delete, marker_put};
use super::jobs::job_item;
use super::*;

use crate::ports::store::{MergeStore, MergeWrite};

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
    async fn write_merge(
        &self,
        previous: &[Customer],
        next: &[Customer],
        merge: &MergeWrite,
    ) -> Result<(), StoreError> {
        self.replace_many(previous, next, merge).await
    }
}
