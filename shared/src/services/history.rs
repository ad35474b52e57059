//! Reading a record's change history: the stored changes, newest first, ending with the
//! record's creation.

use crate::domain::error::HelpdeskError;
use crate::domain::history::{HistoryEntry, Tracked, creation_entry};
use crate::ports::store::{HistoryStore, Page};

/// How many stored changes the creation entry rolls back. A record changed more often than
/// this shows its creation without values (they are not known without reading them all).
const MAX_CHANGES_ROLLED_BACK: usize = 10_000;
const READ_PAGE: usize = 100;

/// A page of `record`'s history, newest first. The last page ends with the creation (version
/// 1): stored once the record took part in a merge, otherwise made here from the current
/// values with every later change rolled back (all of a never-merged record's changes are
/// newer than its creation, so it belongs at the end).
pub(crate) async fn history_page<R: Tracked>(
    store: &dyn HistoryStore,
    record: &R,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<HistoryEntry>, HelpdeskError> {
    let mut page = store.list_history(record.record_id(), after, limit).await?;
    if page.next.is_some() {
        return Ok(page);
    }
    let id = record.record_id();
    if page.items.iter().any(|entry| entry.is_creation_of(id)) {
        return Ok(page);
    }
    if page.items.len() == limit {
        // The creation goes on a page of its own.
        page.next = page.items.last().map(HistoryEntry::key);
        return Ok(page);
    }
    let all = match after {
        None => page.items.clone(),
        Some(_) => all_history(store, id).await?,
    };
    if all.iter().any(|entry| entry.is_creation_of(id)) {
        // Stored, on an earlier page: entries of customers merged in may be older.
        return Ok(page);
    }
    let mut created = creation_entry(record, &all);
    if all.len() >= MAX_CHANGES_ROLLED_BACK {
        created.changes.clear();
    }
    page.items.push(created);
    Ok(page)
}

/// Every stored change of a record's history, up to [`MAX_CHANGES_ROLLED_BACK`].
pub(crate) async fn all_history(
    store: &dyn HistoryStore,
    record_id: &str,
) -> Result<Vec<HistoryEntry>, HelpdeskError> {
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    while entries.len() < MAX_CHANGES_ROLLED_BACK {
        let page = store
            .list_history(record_id, after.as_deref(), READ_PAGE)
            .await?;
        entries.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(entries)
}
