//! `merges-2026-12`: merges recorded before merge memberships (#25) have no `MERGES#` items,
//! so an erasure or an export does not find them, and no `expires_at`, so the table's TTL
//! never ends them. Merge records are in no index: the migration scans the table (a filtered
//! Scan, paid for every item it reads, once) and gives each merge lacking either both, in one
//! transaction with the merge rewritten at the version read.

use serde::Deserialize;

use super::jobs::job_item;
use super::merges::membership_puts;
use super::migrations::{count_rewritten, written};
use super::*;
use crate::domain::merge::Merge;
use crate::domain::migration::MigrationStep;

/// Items a step's Scan reads per merge it may find: merges are a sliver of the table, and a
/// Scan page stops at 1 MB anyway.
const ITEMS_READ_PER_LIMIT: usize = 25;
/// A merge changed by someone else between our read and our write is read again, this often.
const ATTEMPTS: usize = 3;

/// Where the Scan stopped: the key of the last item it read.
#[derive(Debug, Serialize, Deserialize)]
struct ScanCursor {
    pk: String,
    sk: String,
}

impl DynamoStore {
    pub(super) async fn migrate_merges(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<MigrationStep, StoreError> {
        let start = cursor
            .map(serde_json::from_str::<ScanCursor>)
            .transpose()
            .map_err(|e| StoreError::Unavailable(format!("migration cursor: {e}")))?;
        let (merges, stopped_at) = self.scan_merges(start, limit).await?;
        let read = merges.len() as u64;
        let rewrites = merges.into_iter().map(|item| self.complete_merge(item));
        let rewritten = count_rewritten(rewrites).await?;
        let next = stopped_at
            .map(|c| serde_json::to_string(&c))
            .transpose()
            .map_err(|e| StoreError::Unavailable(format!("migration cursor: {e}")))?;
        Ok(MigrationStep {
            read,
            rewritten,
            next,
        })
    }

    /// One page of the table's merge records, and where the Scan stopped (`None`: the end).
    async fn scan_merges(
        &self,
        start: Option<ScanCursor>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<ScanCursor>), StoreError> {
        let start_key =
            start.map(|c| HashMap::from([("pk".into(), s(c.pk)), ("sk".into(), s(c.sk))]));
        let request = self
            .client()
            .await
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :merge) AND sk = :single")
            .expression_attribute_values(":merge", s(merge_pk("")))
            .expression_attribute_values(":single", s(SINGLE))
            .set_exclusive_start_key(start_key)
            .consistent_read(true)
            .limit(i32::try_from(limit.saturating_mul(ITEMS_READ_PER_LIMIT)).unwrap_or(i32::MAX));
        let output = send_retrying(|| request.clone().send())
            .await
            .0
            .map_err(unavailable)?;
        let stopped_at = output.last_evaluated_key().and_then(|key| {
            Some(ScanCursor {
                pk: get_s(key, "pk")?.to_string(),
                sk: get_s(key, "sk")?.to_string(),
            })
        });
        Ok((output.items.unwrap_or_default(), stopped_at))
    }

    /// Gives one merge its memberships and expiry if it lacks them; answers whether it did.
    async fn complete_merge(&self, item: Item) -> Result<bool, StoreError> {
        let mut item = Some(item);
        for _ in 0..ATTEMPTS {
            let Some(current) = item.take() else {
                return Ok(false);
            };
            let merge: Merge = from_item(&current)?;
            if current.contains_key("expires_at") && self.has_memberships(&merge).await? {
                return Ok(false);
            }
            let mut ops = vec![put(
                &self.table,
                job_item(&merge)?,
                AT_VERSION,
                &[(":version", n(merge.version))],
                StoreError::VersionMismatch,
            )?];
            ops.extend(membership_puts(&self.table, &merge, ALWAYS)?);
            if written(self.transact(ops).await)? {
                return Ok(true);
            }
            // Changed since read (an undo, the merge's job): read it again.
            item = self.get(merge_pk(&merge.id), SINGLE).await?;
        }
        Err(StoreError::Unavailable(
            "a merge kept changing while the migration wrote its memberships".into(),
        ))
    }

    /// Whether a merge's memberships are written (all are, in one transaction, or none).
    async fn has_memberships(&self, merge: &Merge) -> Result<bool, StoreError> {
        let target = merges_of_pk(&merge.target_before.id);
        Ok(self.get(target, &merge.id).await?.is_some())
    }
}
