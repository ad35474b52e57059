//! Reading a record's change history: the stored changes, newest first, ending with the
//! record's creation.

use crate::domain::error::HelpdeskError;
use crate::domain::history::{HistoryEntry, Tracked, creation_entry, history_key};
use crate::ports::store::{HistoryStore, Page};

/// How many stored changes the creation entry rolls back. A record changed more often than
/// this shows its creation without values (they are not known without reading them all).
const MAX_CHANGES_ROLLED_BACK: usize = 10_000;
const READ_PAGE: usize = 100;

/// A page of `record`'s history, newest first. The last page ends with the creation
/// (version 1), whose values are the current ones with every later change rolled back.
pub(crate) async fn history_page<R: Tracked>(
    store: &dyn HistoryStore,
    record: &R,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<HistoryEntry>, HelpdeskError> {
    let creation = history_key(1);
    if after.is_some_and(|after| after <= creation.as_str()) {
        return Ok(Page {
            items: vec![],
            next: None,
        });
    }
    let mut page = store.list_history(record.record_id(), after, limit).await?;
    if page.next.is_some() {
        return Ok(page);
    }
    if page.items.len() == limit {
        // The creation goes on a page of its own.
        page.next = page.items.last().map(|entry| history_key(entry.version));
        return Ok(page);
    }
    let later = match after {
        None => page.items.clone(),
        Some(_) => all_history(store, record.record_id()).await?,
    };
    let mut created = creation_entry(record, &later);
    if later.len() >= MAX_CHANGES_ROLLED_BACK {
        created.changes.clear();
    }
    page.items.push(created);
    Ok(page)
}

/// Every stored change of a record, up to [`MAX_CHANGES_ROLLED_BACK`].
async fn all_history(
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
