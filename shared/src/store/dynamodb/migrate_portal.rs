//! `portal-2026-12`: the portal's listings (`PORTAL#<scope>` entries) for tickets written before
//! the portal, which the ticket writes since maintain themselves. It walks the customer listing
//! shard by shard and each customer's tickets; a ticket's entries go in one transaction with a
//! check of the version read, so a ticket changed meanwhile (whose write placed its entries at
//! its new position) is left alone and no entry is written at a position it has left.

use super::listing::Range;
use super::migrations::{LayoutCursor, count_rewritten, written};
use super::portal::portal_entry_ops;
use super::*;
use crate::domain::migration::MigrationStep;

/// Pages of one customer's tickets read in one step, at most.
const TICKET_PAGES: usize = 1_000;

impl DynamoStore {
    pub(super) async fn migrate_portal(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<MigrationStep, StoreError> {
        let position = LayoutCursor::read(cursor)?;
        let range = Range {
            after: position.after.as_deref(),
            prefix: None,
            limit,
            forward: true,
        };
        let (items, stopped_at) = self
            .query_filtered(
                Some(INDEX_LISTING),
                ("list_pk", customers_list_pk(position.stage)),
                "list_sk",
                range,
                None,
            )
            .await?;
        let (mut read, mut rewritten) = (0, 0);
        for item in &items {
            let customer: Customer = from_item(item)?;
            let (r, w) = self.list_customer_portal_entries(&customer.id).await?;
            read += r;
            rewritten += w;
        }
        let next = position.next(stopped_at, LIST_SHARDS - 1)?;
        Ok(MigrationStep {
            read,
            rewritten,
            next,
        })
    }

    /// Writes the portal entries of every ticket of one customer; answers tickets read and
    /// tickets given their entries.
    async fn list_customer_portal_entries(
        &self,
        customer_id: &str,
    ) -> Result<(u64, u64), StoreError> {
        let (mut read, mut rewritten) = (0, 0);
        let mut after: Option<String> = None;
        for _ in 0..TICKET_PAGES {
            let page = self
                .list_tickets(customer_id, after.as_deref(), 100)
                .await?;
            read += page.items.len() as u64;
            let ops: Vec<Vec<Op>> = page
                .items
                .iter()
                .map(|ticket| self.portal_entries_of(ticket))
                .collect::<Result<_, _>>()?;
            let writes = ops
                .into_iter()
                .map(|ops| async move { written(self.transact(ops).await) });
            rewritten += count_rewritten(writes).await?;
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok((read, rewritten)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "customer {customer_id} has more tickets than one step reads"
        )))
    }

    /// A ticket's portal entries, on condition that it is still at the version read.
    fn portal_entries_of(&self, ticket: &Ticket) -> Result<Vec<Op>, StoreError> {
        let mut ops = vec![check(
            &self.table,
            ticket_pk(&ticket.id),
            SINGLE,
            AT_VERSION,
            &[(":version", n(ticket.version))],
            StoreError::VersionMismatch,
        )?];
        ops.extend(portal_entry_ops(&self.table, None, Some(ticket))?);
        Ok(ops)
    }
}
