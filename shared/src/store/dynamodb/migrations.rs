//! Migrations of the table's layout: their records, and the steps that rewrite old items.
//!
//! `layout-2026-12` walks the listing index: the customer shards for items that still carry a
//! company-less group entry (`UNASSIGNED#<domain>`, dropped: the domain's customers are now
//! found by a filtered read of the listing), then the inbound records without a sender key
//! (`first_sk`, back-filled: export and erasure find a sender's records by it). Each rewrite
//! is conditional, so a record changed meanwhile (already in the new layout) is left alone.

use serde::Deserialize;

use super::listing::{Range, ReadFilter};
use super::*;
use crate::domain::migration::{LAYOUT_2026_12, MERGES_2026_12, MigrationStep, PORTAL_2026_12};
use crate::ports::store::MigrationStore;

/// Where `layout-2026-12` stands: a stage (the customer shards `0..LIST_SHARDS`, then the
/// inbound records) and the last listing position read in it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct LayoutCursor {
    pub(super) stage: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) after: Option<String>,
}

const INBOUND_STAGE: u32 = LIST_SHARDS;

impl LayoutCursor {
    /// The position a step's cursor text names (the start without one).
    pub(super) fn read(cursor: Option<&str>) -> Result<Self, StoreError> {
        match cursor {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| StoreError::Unavailable(format!("migration cursor: {e}"))),
            None => Ok(Self::default()),
        }
    }

    /// The cursor after a page that stopped at `stopped_at` (more in this stage) or at the
    /// stage's end: the next stage's start, or `None` after `last_stage`.
    pub(super) fn next(
        &self,
        stopped_at: Option<String>,
        last_stage: u32,
    ) -> Result<Option<String>, StoreError> {
        let next = match stopped_at {
            Some(after) => Some(Self {
                stage: self.stage,
                after: Some(after),
            }),
            None if self.stage < last_stage => Some(Self {
                stage: self.stage + 1,
                after: None,
            }),
            None => None,
        };
        next.map(|c| serde_json::to_string(&c))
            .transpose()
            .map_err(|e| StoreError::Unavailable(format!("migration cursor: {e}")))
    }
}

/// Rewrites of one page sent at once.
const REWRITES_IN_FLIGHT: usize = 16;

/// Only a record nobody rewrote since it was read gets its sender key.
const WITHOUT_SENDER_KEY: &str = "attribute_exists(pk) AND attribute_not_exists(first_sk)";

#[async_trait]
impl MigrationStore for DynamoStore {
    async fn migrate(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<MigrationStep, StoreError> {
        if name == PORTAL_2026_12 {
            return self.migrate_portal(cursor, limit).await;
        }
        if name == MERGES_2026_12 {
            return self.migrate_merges(cursor, limit).await;
        }
        if name != LAYOUT_2026_12 {
            return Err(StoreError::Unavailable(format!("unknown migration {name}")));
        }
        let position = LayoutCursor::read(cursor)?;
        let range = Range {
            after: position.after.as_deref(),
            prefix: None,
            limit,
            forward: true,
        };
        let (read, rewritten, stopped_at) = if position.stage < INBOUND_STAGE {
            self.drop_unassigned_groups(position.stage, range).await?
        } else {
            self.add_sender_keys(range).await?
        };
        let next = position.next(stopped_at, INBOUND_STAGE)?;
        Ok(MigrationStep {
            read,
            rewritten,
            next,
        })
    }
}

impl DynamoStore {
    /// One filtered page of a `listing` partition, and where it stopped.
    async fn listing_page(
        &self,
        partition: String,
        range: Range<'_>,
        filter: &ReadFilter,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        self.query_filtered(
            Some(INDEX_LISTING),
            ("list_pk", partition),
            "list_sk",
            range,
            Some(filter),
        )
        .await
    }

    /// Rewrites the customers of one listing shard that still carry a company-less group
    /// entry; the rewritten item has none.
    async fn drop_unassigned_groups(
        &self,
        shard: u32,
        range: Range<'_>,
    ) -> Result<(u64, u64, Option<String>), StoreError> {
        let filter = ReadFilter {
            expression: "begins_with(group_pk, :unassigned)".into(),
            values: vec![(":unassigned".into(), s(unassigned_pk("")))],
        };
        let (items, stopped_at) = self
            .listing_page(customers_list_pk(shard), range, &filter)
            .await?;
        let read = items.len() as u64;
        let rewrites = items.into_iter().map(|item| async move {
            let customer: Customer = from_item(&item)?;
            let values = [(":version", n(customer.version))];
            let put = self.put_conditional(
                customer_item(&customer)?,
                AT_VERSION,
                &values,
                StoreError::VersionMismatch,
            );
            written(put.await)
        });
        let rewritten = count_rewritten(rewrites).await?;
        Ok((read, rewritten, stopped_at))
    }

    /// Gives the inbound records written without a sender key one.
    async fn add_sender_keys(
        &self,
        range: Range<'_>,
    ) -> Result<(u64, u64, Option<String>), StoreError> {
        let filter = ReadFilter {
            expression: "attribute_not_exists(first_sk)".into(),
            values: Vec::new(),
        };
        let (items, stopped_at) = self
            .listing_page(INBOUND_LIST.to_string(), range, &filter)
            .await?;
        let read = items.len() as u64;
        let rewrites = items.into_iter().map(|item| async move {
            let listed: InboundRecord = from_item(&item)?;
            if listed.from.is_none() {
                // No sender, no key.
                return Ok(false);
            }
            // The index may lag: rewrite what the table holds now.
            let Some(record) = self
                .get_doc::<InboundRecord>(inbound_pk(&listed.id))
                .await?
            else {
                return Ok(false);
            };
            let put = self.put_conditional(
                inbound_item(&record)?,
                WITHOUT_SENDER_KEY,
                &[],
                StoreError::VersionMismatch,
            );
            written(put.await)
        });
        let rewritten = count_rewritten(rewrites).await?;
        Ok((read, rewritten, stopped_at))
    }
}

/// Whether a conditional rewrite was written: its condition failing means the item changed
/// since it was read, so it is in the new layout already.
pub(super) fn written(outcome: Result<(), StoreError>) -> Result<bool, StoreError> {
    match outcome {
        Ok(()) => Ok(true),
        Err(StoreError::VersionMismatch) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Runs a page's rewrites a few at a time; answers how many were written.
pub(super) async fn count_rewritten(
    rewrites: impl Iterator<Item = impl std::future::Future<Output = Result<bool, StoreError>>>,
) -> Result<u64, StoreError> {
    let outcomes: Vec<Result<bool, StoreError>> = futures::stream::iter(rewrites)
        .buffer_unordered(REWRITES_IN_FLIGHT)
        .collect()
        .await;
    let mut rewritten = 0;
    for outcome in outcomes {
        rewritten += u64::from(outcome?);
    }
    Ok(rewritten)
}
