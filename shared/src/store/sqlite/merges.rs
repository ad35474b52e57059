//! Writes of merges and their undo: several customers at once with emails passing between
//! them, and the merge records.

use super::customers::{customer_version, email_owner, write_customer_row};
use super::job_rows::{insert_job, replace_job};
use super::keys::{KeyWrites, write_keys};
use super::*;
use crate::domain::merge::Merge;
use crate::ports::store::{MergeStore, MergeWrite};

/// See `MergeStore::write_merge`. Everything is checked before anything changes.
fn replace_many_in(
    tx: &Connection,
    previous: &[Customer],
    next: &[Customer],
) -> Result<(), StoreError> {
    for customer in previous {
        if customer_version(tx, &customer.id)? != Some(customer.version) {
            return Err(StoreError::VersionMismatch);
        }
        customer.refuse_change_under_erasure()?;
    }
    let involved = |id: &str| previous.iter().chain(next).any(|c| c.id == id);
    for customer in next {
        for email in customer.all_emails() {
            if let Some(owner) = email_owner(tx, email)?
                && !involved(&owner)
            {
                return Err(StoreError::EmailTaken(email.to_string()));
            }
        }
    }
    for customer in previous {
        exec(
            tx,
            "DELETE FROM customer_emails WHERE customer_id = ?1",
            [&customer.id],
        )?;
        write_keys(tx, &customer.id, Some(customer), None, KeyWrites::Indexed)?;
        if !next.iter().any(|c| c.id == customer.id) {
            exec(tx, "DELETE FROM customers WHERE id = ?1", [&customer.id])?;
        }
    }
    for customer in next {
        for email in customer.all_emails() {
            exec(
                tx,
                "INSERT INTO customer_emails (email, customer_id) VALUES (?1, ?2)",
                params![email, customer.id],
            )?;
        }
        write_customer_row(tx, customer, &to_doc(customer)?)?;
        write_keys(tx, &customer.id, None, Some(customer), KeyWrites::Indexed)?;
        if let Some(old) = previous.iter().find(|p| p.id == customer.id) {
            super::history::record_change(tx, old, customer)?;
        }
    }
    Ok(())
}

#[async_trait]
impl MergeStore for SqliteStore {
    async fn write_merge(
        &self,
        previous: &[Customer],
        next: &[Customer],
        merge: &MergeWrite,
    ) -> Result<(), StoreError> {
        let (previous, next, merge) = (previous.to_vec(), next.to_vec(), merge.clone());
        self.write(move |tx| {
            match &merge {
                MergeWrite::Insert(m) => {
                    insert_job(tx, m)?;
                    insert_memberships(tx, m)?;
                }
                MergeWrite::Replace { previous, next } => replace_job(tx, previous, next)?,
            }
            // Last: a refused merge record has changed nothing, and the records' checks
            // come before their writes.
            replace_many_in(tx, &previous, &next)
        })
        .await
    }

    async fn merges_of(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        let id = customer_id.to_string();
        self.with(move |connection| {
            let mut statement = connection
                .prepare_cached("SELECT merge_id FROM merge_customers WHERE customer_id = ?1")
                .map_err(unavailable)?;
            let rows = statement
                .query_map([&id], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)
        })
        .await
    }

    async fn delete_merge(&self, merge: &Merge) -> Result<(), StoreError> {
        let id = merge.id.clone();
        self.write(move |tx| {
            exec(tx, "DELETE FROM merge_customers WHERE merge_id = ?1", [&id])?;
            exec(tx, "DELETE FROM merges WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await
    }

    async fn forget_expired_merges(
        &self,
        now: &crate::domain::timestamp::Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Oldest first (ids are time-ordered): the expired ones lead.
        let finished: Vec<(String, Merge)> = self
            .with(move |connection| {
                read_docs(
                    connection,
                    "SELECT id, doc FROM merges WHERE running = 0 ORDER BY id LIMIT ?1",
                    [limit as i64],
                )
            })
            .await?;
        let mut forgotten = 0;
        for (_, merge) in finished.iter().filter(|(_, m)| m.is_expired(now)) {
            self.delete_merge(merge).await?;
            forgotten += 1;
        }
        Ok(forgotten)
    }
}

/// Files a merge under each customer it holds a copy of.
pub(super) fn insert_memberships(tx: &Connection, merge: &Merge) -> Result<(), StoreError> {
    for customer_id in merge.customer_ids() {
        exec(
            tx,
            "INSERT INTO merge_customers (customer_id, merge_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            params![customer_id, merge.id],
        )?;
    }
    Ok(())
}
