//! From record changes to filed events.

use std::sync::Arc;

use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::events::{Event, RecordChange, events_of};
use crate::domain::timestamp::Timestamp;
use crate::ports::changes::{ChangeLog, ChangeQueue, EventSink};
use crate::ports::store::{HistoryStore, MergeStore, TicketStore};

/// Queued changes the local logger takes at once.
const QUEUE_BATCH: usize = 200;

#[derive(Clone)]
pub struct ChangeLogger {
    log: Arc<dyn ChangeLog>,
    history: Arc<dyn HistoryStore>,
    merges: Arc<dyn MergeStore>,
    tickets: Arc<dyn TicketStore>,
    /// Where filed events go on to (EventBridge), if anywhere.
    sink: Option<Arc<dyn EventSink>>,
}

/// What a batch of changes files and what it makes the log forget.
struct Outcome {
    events: Vec<Event>,
    /// Owners whose events an erasure in the batch takes out of the log.
    forget: Vec<String>,
}

impl ChangeLogger {
    pub fn new(
        log: Arc<dyn ChangeLog>,
        history: Arc<dyn HistoryStore>,
        merges: Arc<dyn MergeStore>,
        tickets: Arc<dyn TicketStore>,
    ) -> Self {
        Self {
            log,
            history,
            merges,
            tickets,
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
        for change in changes {
            if self.is_merge_source_leaving(change).await? {
                continue;
            }
            if let Some(erased) = change.erased_customer() {
                let owners = self.owners_of(&erased.id).await?;
                events.retain(|e| !owners.contains(&e.owner));
                forget.extend(owners);
            }
            let actor = match change.history_key() {
                Some((record, key)) => self
                    .history
                    .get_history(&record, &key)
                    .await?
                    .and_then(|entry| entry.by),
                None => None,
            };
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
        Ok(Outcome { events, forget })
    }

    /// A customer deleted by a merge (a source): the merge's own event says so.
    async fn is_merge_source_leaving(&self, change: &RecordChange) -> Result<bool, HelpdeskError> {
        let RecordChange::Customer(Some(gone), None) = change else {
            return Ok(false);
        };
        for id in self.merges.merges_of(&gone.id).await? {
            // The merge keeps its sources as they were when it removed them: the same
            // version removed is the merge's removal (whatever the merge's state by now).
            if let Some(merge) = self.merges.get_job(&id).await?
                && merge
                    .sources
                    .iter()
                    .any(|s| s.id == gone.id && s.version == gone.version)
            {
                return Ok(true);
            }
        }
        Ok(false)
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
