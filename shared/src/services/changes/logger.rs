//! From record changes to filed events.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::customer::Customer;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::events::{Event, RecordChange, events_of};
use crate::domain::history::{HistoryEntry, creation_with_late_entry};
use crate::domain::merge::Merge;
use crate::domain::timestamp::Timestamp;
use crate::ports::changes::{ChangeLog, ChangeQueue, EventSink};
use crate::ports::store::{CustomerStore, HistoryStore, MergeStore, TicketStore};
use crate::services::history::all_history;

/// Queued changes the local logger takes at once.
const QUEUE_BATCH: usize = 200;

/// History entries of an ended record read at once when the log tidies them up.
const HISTORY_PAGE: usize = 100;

/// History entries (and creation checks) a batch files at once.
const CONCURRENT_FILINGS: usize = 16;

#[derive(Clone)]
pub struct ChangeLogger {
    log: Arc<dyn ChangeLog>,
    history: Arc<dyn HistoryStore>,
    merges: Arc<dyn MergeStore>,
    tickets: Arc<dyn TicketStore>,
    customers: Arc<dyn CustomerStore>,
    /// Where filed events go on to (EventBridge), if anywhere.
    sink: Option<Arc<dyn EventSink>>,
}

/// What a batch of changes files and what it makes the log forget.
struct Outcome {
    events: Vec<Event>,
    /// Owners whose events an erasure in the batch takes out of the log.
    forget: Vec<String>,
    /// History entries the records' writes left to the log (imports' updates).
    history: Vec<HistoryEntry>,
    /// Customers the batch saw end (deleted, erased, merged away once the merge has moved
    /// their history: the merge's target), whose history the log may have filed after their
    /// own sweep or move.
    ended: Vec<(String, Option<Customer>)>,
}

impl ChangeLogger {
    pub fn new(
        log: Arc<dyn ChangeLog>,
        history: Arc<dyn HistoryStore>,
        merges: Arc<dyn MergeStore>,
        tickets: Arc<dyn TicketStore>,
        customers: Arc<dyn CustomerStore>,
    ) -> Self {
        Self {
            log,
            history,
            merges,
            tickets,
            customers,
            sink: None,
        }
    }

    /// The logger, handing every filed event on to `sink` too.
    pub fn with_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Files the events of `changes` (in order): the table's stream, in the cloud. A change
    /// filed again (a redelivered stream record) files the same ids again.
    pub async fn log(&self, changes: &[RecordChange]) -> Result<Vec<Event>, HelpdeskError> {
        let outcome = self.outcome(changes).await?;
        // Forget first: a run stopped in between forgets again when the records come back.
        self.log.forget_events(&outcome.forget).await?;
        self.file_history(&outcome).await?;
        self.log.append_events(&outcome.events).await?;
        if let Some(sink) = &self.sink {
            sink.publish(&outcome.events).await?;
        }
        Ok(outcome.events)
    }

    /// Logs what the local queue holds, a batch at a time; answers how many events were filed.
    pub async fn drain(&self, queue: &dyn ChangeQueue) -> Result<usize, HelpdeskError> {
        let mut filed = 0;
        loop {
            let queued = queue.queued_changes(QUEUE_BATCH).await?;
            let Some(through) = queued.last().map(|(seq, _)| *seq) else {
                return Ok(filed);
            };
            let taken = queued.len();
            let changes: Vec<RecordChange> = queued.into_iter().map(|(_, c)| c).collect();
            let outcome = self.outcome(&changes).await?;
            self.log.forget_events(&outcome.forget).await?;
            self.file_history(&outcome).await?;
            match queue.log_queued(through, taken, &outcome.events).await {
                // An erasure took some of these changes away meanwhile: read again.
                Err(StoreError::VersionMismatch) => continue,
                other => other?,
            }
            filed += outcome.events.len();
        }
    }

    /// Forgets events logged more than `days` ago (local mode; DynamoDB's TTL does it there).
    pub async fn sweep(&self, days: i64) -> Result<usize, HelpdeskError> {
        let before = Timestamp::now().plus_days(-days);
        Ok(self.log.forget_events_before(&before).await?)
    }

    async fn outcome(&self, changes: &[RecordChange]) -> Result<Outcome, HelpdeskError> {
        let mut events: Vec<Event> = Vec::new();
        let mut forget = Vec::new();
        let mut history: Vec<HistoryEntry> = Vec::new();
        let mut ended = Vec::new();
        for change in changes {
            if let RecordChange::Customer(Some(gone), None) = change {
                match self.merge_of(gone).await? {
                    // The merge's own event says so; its history goes to the target.
                    Some(merge) => {
                        if merge.moved_history_of(&gone.id) {
                            ended.push((gone.id.clone(), Some(merge.target_after)));
                        }
                        continue;
                    }
                    None => ended.push((gone.id.clone(), None)),
                }
            }
            if let Some(erased) = change.erased_customer() {
                let owners = self.owners_of(&erased.id).await?;
                events.retain(|e| !owners.contains(&e.owner));
                history.retain(|h| !owners.contains(&h.record_id));
                forget.extend(owners);
            }
            let logged = change.logged_history();
            let actor = match (&logged, change.history_key()) {
                (Some(entry), _) => entry.by.clone(),
                (None, Some((record, key))) => self
                    .history
                    .get_history(&record, &key)
                    .await?
                    .and_then(|entry| entry.by),
                (None, None) => None,
            };
            history.extend(logged);
            let owner = match self.ticket_owner(change).await? {
                // Logged after its ticket was deleted: its events would outlive the ticket
                // (and, after an erasure, the person).
                Some(None) => continue,
                Some(Some(owner)) => Some(owner),
                None => None,
            };
            for event in events_of(change, actor, owner.as_deref()) {
                // A record the stream carries twice (a transaction's item written again) is
                // one change: one event.
                if !events.iter().any(|e| e.id == event.id) {
                    events.push(event);
                }
            }
        }
        Ok(Outcome {
            events,
            forget,
            history,
            ended,
        })
    }

    /// The merge that deleted `gone` (as a source), if one did.
    async fn merge_of(&self, gone: &Customer) -> Result<Option<Merge>, HelpdeskError> {
        for id in self.merges.merges_of(&gone.id).await? {
            // The merge keeps its sources as they were when it removed them: the same
            // version removed is the merge's removal (whatever the merge's state by now).
            if let Some(merge) = self.merges.get_job(&id).await?
                && merge
                    .sources
                    .iter()
                    .any(|s| s.id == gone.id && s.version == gone.version)
            {
                return Ok(Some(merge));
            }
        }
        Ok(None)
    }

    /// Files the history entries the records' writes left to the log, then tidies the history
    /// of the customers that ended: an entry filed after a deletion's or an erasure's sweep is
    /// taken out, one filed after a merge's move follows its record into the target (unless the
    /// target is gone or being erased by then). Stream order per record puts a record's last
    /// update before its end, so nothing is filed after this. Last, a creation a merge stored
    /// before the entry was filed is corrected.
    async fn file_history(&self, outcome: &Outcome) -> Result<(), HelpdeskError> {
        // A batch's entries are of different records, or of one record's versions: each one
        // its own item, so they go at once.
        for chunk in outcome.history.chunks(CONCURRENT_FILINGS) {
            let filings: Vec<_> = chunk
                .iter()
                .map(|entry| self.history.put_history(&entry.record_id, entry))
                .collect();
            futures::future::try_join_all(filings).await?;
        }
        let mut landed: Vec<(String, HistoryEntry)> = outcome
            .history
            .iter()
            .map(|entry| (entry.record_id.clone(), entry.clone()))
            .collect();
        for (id, target) in &outcome.ended {
            let target = match target {
                Some(target) if self.is_live(target).await? => Some(target.id.as_str()),
                _ => None,
            };
            let left = self.history.list_history(id, None, HISTORY_PAGE).await?;
            landed.retain(|(owner, _)| owner != id);
            for entry in left.items.into_iter().filter(|e| e.record_id == *id) {
                if let Some(target) = target {
                    self.history.put_history(target, &entry).await?;
                }
                self.history.delete_history(id, &entry).await?;
                landed.extend(target.map(|t| (t.to_string(), entry)));
            }
        }
        // One correction per stored creation, with all of its record's late entries: two at
        // once would each write back the creation without the other's.
        let mut by_creation: BTreeMap<(String, String), Vec<HistoryEntry>> = BTreeMap::new();
        for (owner, entry) in landed.into_iter().filter(|(_, e)| e.version > 1) {
            by_creation
                .entry((owner, entry.record_id.clone()))
                .or_default()
                .push(entry);
        }
        let corrections: Vec<_> = by_creation.iter().collect();
        for chunk in corrections.chunks(CONCURRENT_FILINGS) {
            let checks: Vec<_> = chunk
                .iter()
                .map(|((owner, record), late)| self.correct_creation(owner, record, late))
                .collect();
            futures::future::try_join_all(checks).await?;
        }
        Ok(())
    }

    /// Rolls `late` back in the creation of `record` a merge stored (only merges store
    /// creations, of their target and their sources) from values that already held their
    /// changes: under `owner`, the record itself, or the target of a merge of the record, which
    /// may have moved the creation there while the entries were being filed.
    async fn correct_creation(
        &self,
        owner: &str,
        record: &str,
        late: &[HistoryEntry],
    ) -> Result<(), HelpdeskError> {
        let merges = self.merges.merges_of(record).await?;
        if merges.is_empty() {
            return Ok(());
        }
        let mut owners = vec![owner.to_string(), record.to_string()];
        for id in merges {
            if let Some(merge) = self.merges.get_job(&id).await?
                && merge.sources.iter().any(|s| s.id == record)
            {
                owners.push(merge.target_after.id);
            }
        }
        owners.sort();
        owners.dedup();
        let mut filed = Vec::with_capacity(owners.len());
        for owner in owners {
            let entries = all_history(self.history.as_ref(), &owner).await?;
            filed.push((owner, entries));
        }
        // The record's entries wherever they are now, to tell which is the oldest.
        let entries: Vec<HistoryEntry> = filed
            .iter()
            .flat_map(|(_, list)| list.iter().filter(|e| e.record_id == record).cloned())
            .collect();
        for (owner, list) in &filed {
            let Some(stored) = list.iter().find(|e| e.is_creation_of(record)) else {
                continue;
            };
            let mut creation = stored.clone();
            for entry in late {
                if let Some(corrected) = creation_with_late_entry(&creation, entry, &entries) {
                    creation = corrected;
                }
            }
            if creation != *stored {
                self.history.rewrite_history(owner, &creation).await?;
            }
        }
        Ok(())
    }

    /// Whether a merge's target is still where the merge left it and not being erased (one
    /// that changed its email since counts as gone: its entry is dropped, never misfiled).
    async fn is_live(&self, target: &Customer) -> Result<bool, HelpdeskError> {
        Ok(self
            .customers
            .find_customer(&target.profile.email)
            .await?
            .is_some_and(|c| c.id == target.id && c.erasure_under_way().is_none()))
    }

    /// The person's events are filed under their id and under the ids of the customers merged
    /// into them.
    async fn owners_of(&self, customer_id: &str) -> Result<Vec<String>, HelpdeskError> {
        let mut owners = vec![customer_id.to_string()];
        for id in self.merges.merges_of(customer_id).await? {
            // Only the customers merged into this one: as a source (since restored by an
            // undo) their target is someone else.
            if let Some(merge) = self.merges.get_job(&id).await?
                && merge.target_after.id == customer_id
            {
                owners.extend(merge.sources.iter().map(|s| s.id.clone()));
            }
        }
        owners.sort();
        owners.dedup();
        Ok(owners)
    }

    /// Whose a ticket's or a message's events are: the ticket's customer's. `Some(None)`: the
    /// ticket is gone (deleted, or erased with its customer) by the time the change is logged,
    /// and the change makes no event.
    async fn ticket_owner(
        &self,
        change: &RecordChange,
    ) -> Result<Option<Option<String>>, HelpdeskError> {
        let ticket_id = match change {
            RecordChange::Message(_, Some(message)) => &message.ticket_id,
            RecordChange::Ticket(_, Some(ticket)) => &ticket.id,
            _ => return Ok(None),
        };
        let ticket = self.tickets.get_ticket(ticket_id).await?;
        Ok(Some(ticket.map(|t| t.customer_id)))
    }
}
