//! The job of a merge: tickets, notes and history move to the target (or, undoing, back to the
//! customers they came from). Each round handles one page and checkpoints; every step can be
//! done again after a crash (moved items are marked, copies are idempotent, originals are
//! deleted after their copy).

use crate::domain::email::Email;
use crate::domain::ids::MergeId;
use std::time::{Duration, Instant};

use super::{MergeService, PAGE};
use crate::domain::customer::{Customer, Note};
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::history::creation_entry;
use crate::domain::merge::*;
use crate::services::history::all_history;
use crate::services::retry::{Attempt, retry_on_conflict};

impl MergeService {
    /// Runs merge `id`'s moves until they are done or `budget` is spent; answers the merge as
    /// it was left. Stopped early, it has written a checkpoint, which wakes the next run.
    pub async fn run_merge(&self, id: &MergeId, budget: Duration) -> Result<Merge, HelpdeskError> {
        let started = Instant::now();
        let mut job = self.find(id).await?;
        while job.is_running() {
            let mut next = job.clone();
            if started.elapsed() >= budget {
                return self.checkpoint(&job, next).await;
            }
            let forward = job.status == MergeStatus::Running;
            match job.step {
                MoveStep::Tickets if forward => self.tickets_forward(&job, &mut next).await?,
                MoveStep::Tickets => self.tickets_back(&job, &mut next).await?,
                MoveStep::Notes if forward => self.notes_forward(&job, &mut next).await?,
                MoveStep::Notes => self.notes_back(&job, &mut next).await?,
                MoveStep::History if forward => self.history_forward(&job, &mut next).await?,
                MoveStep::History => self.history_back(&job, &mut next).await?,
                MoveStep::Done => {
                    let now = crate::domain::clock::now();
                    if forward {
                        // Counted from what moved, not from this run's work: two runs at
                        // once (a redelivered record) each did part of it.
                        next.counts = self.moved(&job).await?;
                        next.status = MergeStatus::Succeeded;
                        next.finished_at = Some(now);
                    } else {
                        next.status = MergeStatus::Undone;
                        next.undone_at = Some(now);
                    }
                }
            }
            job = self.checkpoint(&job, next).await?;
        }
        Ok(job)
    }

    async fn checkpoint(&self, job: &Merge, mut next: Merge) -> Result<Merge, HelpdeskError> {
        next.version = job.version + 1;
        next.updated_at = crate::domain::clock::now();
        match self.merges.replace_job(job, &next).await {
            Ok(()) => Ok(next),
            // Another run got there first: go on from its record.
            Err(StoreError::VersionMismatch) => self.find(&job.id).await,
            Err(other) => Err(other.into()),
        }
    }

    /// The step after `step`, from the first source.
    fn advance(next: &mut Merge, step: MoveStep) {
        next.step = step;
        next.source_index = 0;
        next.cursor = None;
    }

    async fn tickets_forward(&self, job: &Merge, next: &mut Merge) -> Result<(), HelpdeskError> {
        let Some(source) = job.sources.get(job.source_index) else {
            Self::advance(next, MoveStep::Notes);
            return Ok(());
        };
        let page = self
            .tickets
            .list_tickets(&source.id, job.cursor.as_deref(), PAGE)
            .await?;
        let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
        for ticket in self.tickets.get_tickets(&ids).await?.into_iter().flatten() {
            if ticket.customer_id != source.id {
                continue;
            }
            let mut moved = ticket.clone();
            moved.version = ticket.version + 1;
            moved.updated_at = crate::domain::clock::now();
            moved.customer_id = job.target_after.id.clone();
            moved.moved_by = Some(MovedBy {
                merge_id: job.id.clone(),
                customer_id: source.id.clone(),
                version: moved.version,
            });
            self.move_ticket(&ticket, &moved).await?;
            next.counts.tickets += 1;
        }
        next.cursor = page.next;
        if next.cursor.is_none() {
            next.source_index += 1;
        }
        Ok(())
    }

    async fn tickets_back(&self, job: &Merge, next: &mut Merge) -> Result<(), HelpdeskError> {
        let page = self
            .tickets
            .list_tickets(&job.target_after.id, job.cursor.as_deref(), PAGE)
            .await?;
        let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
        for ticket in self.tickets.get_tickets(&ids).await?.into_iter().flatten() {
            let Some(moved_by) = ticket.moved_by.as_ref().filter(|m| m.merge_id == job.id) else {
                continue;
            };
            let mut back = ticket.clone();
            back.version = ticket.version + 1;
            back.updated_at = crate::domain::clock::now();
            back.customer_id = moved_by.customer_id.clone();
            back.moved_by = None;
            self.move_ticket(&ticket, &back).await?;
        }
        next.cursor = page.next;
        if next.cursor.is_none() {
            Self::advance(next, MoveStep::Notes);
        }
        Ok(())
    }

    /// A ticket that changed between reading and moving (a message arrived) is moved again
    /// from its new version.
    async fn move_ticket(
        &self,
        ticket: &crate::domain::ticket::Ticket,
        moved: &crate::domain::ticket::Ticket,
    ) -> Result<(), HelpdeskError> {
        let (mut current, mut next) = (ticket.clone(), moved.clone());
        for _ in 0..5 {
            match self.tickets.replace_ticket(&current, &next).await {
                Err(StoreError::VersionMismatch) => {
                    let Some(fresh) = self.tickets.get_ticket(&ticket.id).await? else {
                        return Ok(());
                    };
                    next = crate::domain::ticket::Ticket {
                        version: fresh.version + 1,
                        message_count: fresh.message_count,
                        last_message_at: fresh.last_message_at.clone(),
                        last_public_at: fresh.last_public_at.clone(),
                        cc_customers: fresh.cc_customers.clone(),
                        status: fresh.status,
                        ..next
                    };
                    if let Some(m) = next.moved_by.as_mut() {
                        m.version = next.version;
                    }
                    current = fresh;
                }
                other => return Ok(other?),
            }
        }
        Err(HelpdeskError::Unavailable(format!(
            "ticket {} keeps changing; retry",
            ticket.id
        )))
    }

    async fn notes_forward(&self, job: &Merge, next: &mut Merge) -> Result<(), HelpdeskError> {
        let Some(source) = job.sources.get(job.source_index) else {
            Self::advance(next, MoveStep::History);
            return Ok(());
        };
        // Moved notes leave the source, so each round reads its first page again.
        let page = self.customers.list_notes(&source.id, None, PAGE).await?;
        if page.items.is_empty() {
            next.source_index += 1;
        }
        for note in &page.items {
            let mut moved = note.clone();
            moved.moved_by = Some(MovedBy {
                merge_id: job.id.clone(),
                customer_id: source.id.clone(),
                version: 0,
            });
            self.add_note_to(&job.target_after, &moved).await?;
            self.customers.delete_note(&source.id, note).await?;
            next.counts.notes += 1;
        }
        Ok(())
    }

    async fn notes_back(&self, job: &Merge, next: &mut Merge) -> Result<(), HelpdeskError> {
        let target = &job.target_after.id;
        let page = self
            .customers
            .list_notes(target, job.cursor.as_deref(), PAGE)
            .await?;
        for note in &page.items {
            let Some(moved_by) = note.moved_by.as_ref().filter(|m| m.merge_id == job.id) else {
                continue;
            };
            let mut back = note.clone();
            back.moved_by = None;
            let owner = job.sources.iter().find(|s| s.id == moved_by.customer_id);
            if let Some(owner) = owner {
                self.add_note_to(owner, &back).await?;
            }
            self.customers.delete_note(target, note).await?;
        }
        next.cursor = page.next;
        if next.cursor.is_none() {
            Self::advance(next, MoveStep::History);
        }
        Ok(())
    }

    /// Each source's entries join the target's history, with the source's creation; the
    /// target's own creation is stored first, as it may no longer be the oldest entry.
    async fn history_forward(&self, job: &Merge, next: &mut Merge) -> Result<(), HelpdeskError> {
        let target = &job.target_after.id;
        if job.source_index == 0 && job.cursor.is_none() {
            let current = self.current_target(job).await?;
            self.store_creation(target, &current).await?;
            next.cursor = Some("creations stored".into());
            return Ok(());
        }
        let Some(source) = job.sources.get(job.source_index) else {
            Self::advance(next, MoveStep::Done);
            return Ok(());
        };
        if job.cursor.as_deref() == Some("creations stored") {
            self.store_creation(&source.id, source).await?;
            next.cursor = Some("source creation stored".into());
            return Ok(());
        }
        let page = self.history.list_history(&source.id, None, PAGE).await?;
        if page.items.is_empty() {
            next.source_index += 1;
            next.cursor = Some("creations stored".into());
        }
        for entry in &page.items {
            self.history.put_history(target, entry).await?;
            self.history.delete_history(&source.id, entry).await?;
            next.counts.history += 1;
        }
        Ok(())
    }

    async fn history_back(&self, job: &Merge, next: &mut Merge) -> Result<(), HelpdeskError> {
        let target = &job.target_after.id;
        let page = self
            .history
            .list_history(target, job.cursor.as_deref(), PAGE)
            .await?;
        for entry in &page.items {
            if job.sources.iter().any(|s| s.id == entry.record_id) {
                self.history.put_history(&entry.record_id, entry).await?;
                self.history.delete_history(target, entry).await?;
            }
        }
        next.cursor = page.next;
        if next.cursor.is_none() {
            Self::advance(next, MoveStep::Done);
        }
        Ok(())
    }

    /// What this merge moved to the target: marked tickets and notes, the sources' entries.
    async fn moved(&self, job: &Merge) -> Result<MergeCounts, HelpdeskError> {
        let target = &job.target_after.id;
        let mut tickets = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .tickets
                .list_tickets(target, after.as_deref(), 200)
                .await?;
            tickets += page
                .items
                .iter()
                .filter(|t| t.moved_by.as_ref().is_some_and(|m| m.merge_id == job.id))
                .count() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut notes = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .customers
                .list_notes(target, after.as_deref(), 200)
                .await?;
            notes += page
                .items
                .iter()
                .filter(|n| n.moved_by.as_ref().is_some_and(|m| m.merge_id == job.id))
                .count() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let history = all_history(self.history.as_ref(), target)
            .await?
            .iter()
            .filter(|e| job.sources.iter().any(|s| s.id == e.record_id))
            .count() as u64;
        Ok(MergeCounts {
            tickets,
            notes,
            history,
        })
    }

    /// Stores `record`'s creation entry in the history of `owner` unless it is stored.
    async fn store_creation(&self, owner: &str, record: &Customer) -> Result<(), HelpdeskError> {
        let entries = all_history(self.history.as_ref(), &record.id).await?;
        if !entries.iter().any(|e| e.is_creation_of(&record.id)) {
            let creation = creation_entry(record, &entries);
            self.history.put_history(owner, &creation).await?;
        }
        Ok(())
    }

    /// The target as it is now (edits since the merge count for its creation's values).
    /// Adds `note` to the customer `owner` is as it is now (edits meanwhile move its version);
    /// a customer gone since takes no note.
    async fn add_note_to(&self, owner: &Customer, note: &Note) -> Result<(), HelpdeskError> {
        let emails: Vec<Email> = owner.all_emails().map(Email::stored).collect();
        retry_on_conflict("customer", || async {
            let found = self.customers.find_customers(&emails).await?;
            let Some(current) = found.into_iter().flatten().find(|c| c.id == owner.id) else {
                return Ok(Attempt::Done(()));
            };
            let outcome = self.customers.add_note(&current, note).await;
            Attempt::of_write(outcome, || ())
        })
        .await
    }

    async fn current_target(&self, job: &Merge) -> Result<Customer, HelpdeskError> {
        let emails: Vec<Email> = job.target_after.all_emails().map(Email::stored).collect();
        Ok(self
            .customers
            .find_customers(&emails)
            .await?
            .into_iter()
            .flatten()
            .find(|c| c.id == job.target_after.id)
            .unwrap_or_else(|| job.target_after.clone()))
    }
}
