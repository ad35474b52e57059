//! `POST /customers/{email}/merge` (with a preview), `GET /merges/{id}` and
//! `POST /merges/{id}/undo`.
//!
//! The records change at once, in one transaction with the merge record: the sources are gone
//! and their emails are the target's alternates, so mail and imports land on the target from
//! then on. Tickets, notes and history then move in a job (`moves`) that checkpoints as it
//! goes; the merge shows `running` until they all have. An undo restores the records the same
//! way, then moves everything back.

mod moves;

use crate::domain::ids::MergeId;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::domain::access::CustomerAccess;
use crate::domain::caller::Caller;
use crate::domain::customer::Customer;
use crate::domain::email::Email;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::history::Actor;
use crate::domain::merge::*;
use crate::domain::patch::Command;
use crate::domain::validation::FieldError;
use crate::ports::store::{CustomerStore, HistoryStore, MergeStore, MergeWrite, Page, TicketStore};
use crate::services::customers::find_customer;
use crate::services::fields::FieldService;

/// Tickets, notes or history entries handled between two checkpoints.
const PAGE: usize = 50;

/// Merges and their undo: the customers, their tickets, notes and history.
#[derive(Clone)]
pub struct MergeService {
    customers: Arc<dyn CustomerStore>,
    history: Arc<dyn HistoryStore>,
    tickets: Arc<dyn TicketStore>,
    merges: Arc<dyn MergeStore>,
    fields: FieldService,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The customers to merge into this one, by any of their emails (1 to 10).
    pub from: Vec<String>,
    /// Answer what the merge would do, and do nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Per field (or `custom_fields.<key>`), the source email whose value wins.
    #[serde(default)]
    pub keep: BTreeMap<String, String>,
}

impl Command for MergeInput {}

/// What a merge would do.
/// A preview counts what would move up to this many of each kind per source.
pub const PREVIEW_COUNT_CAP: u64 = 1_000;
/// An undo refused for changed tickets names at most this many.
const MAX_NAMED_CHANGES: usize = 20;
/// Listings are read this many items at a time.
const READ_PAGE: usize = 200;

#[derive(Debug, Clone)]

pub struct MergePreview {
    pub target: Customer,
    pub plan: MergePlan,
    /// What would move to the target.
    pub moves: MergeCounts,
    /// A count reached [`PREVIEW_COUNT_CAP`] and stopped there (the merge moves them all).
    pub moves_capped: bool,
    /// Entitlements the sources add.
    pub entitlements: u64,
}

pub enum MergeOutcome {
    Preview(Box<MergePreview>),
    Started(Box<Merge>),
}

impl MergeService {
    pub fn new(
        customers: Arc<dyn CustomerStore>,
        history: Arc<dyn HistoryStore>,
        tickets: Arc<dyn TicketStore>,
        merges: Arc<dyn MergeStore>,
        fields: FieldService,
    ) -> Self {
        Self {
            customers,
            history,
            tickets,
            merges,
            fields,
        }
    }

    /// The field definitions in force: previews are shown through them.
    pub async fn field_set(&self) -> Result<crate::domain::field::FieldSet, HelpdeskError> {
        self.fields.field_set().await
    }

    /// Merges the customers of `body.from` into the customer with this email, or (dry run)
    /// answers what that would do. Conflicts refuse the merge with a 409 naming them.
    pub async fn merge(
        &self,
        caller: &Caller,
        email: &Email,
        input: MergeInput,
    ) -> Result<MergeOutcome, HelpdeskError> {
        caller.require_staff()?;
        if input.from.is_empty() || input.from.len() > MAX_MERGE_SOURCES {
            return Err(HelpdeskError::invalid(
                "from",
                format!("name 1 to {MAX_MERGE_SOURCES} customers to merge"),
            ));
        }
        let target = find_customer(self.customers.as_ref(), email).await?;
        let (sources, mut conflicts) = self.sources(&target, &input.from).await?;
        let keep = self.keep(caller, &input.keep, &mut conflicts).await?;
        for customer in std::iter::once(&target).chain(&sources) {
            if customer.erasure_under_way().is_some() {
                conflicts.push(FieldError::new(
                    "from",
                    format!("{} is being erased", customer.email()),
                ));
            }
        }
        // Merged in, a blocked customer's addresses would reach the target unblocked.
        for source in sources.iter().filter(|s| s.blocked.is_some()) {
            conflicts.push(FieldError::new(
                "from",
                format!(
                    "{} is blocked: unblock it, or merge into it",
                    source.email()
                ),
            ));
        }
        let access = CustomerAccess::new(caller, &self.fields.field_set().await?);
        let mut plan = plan_merge(&target, &sources, &keep, &access);
        plan.conflicts.splice(0..0, conflicts);
        if input.dry_run {
            let (moves, moves_capped) = self.would_move(&sources).await?;
            let entitlements =
                plan.profile
                    .entitlements
                    .len()
                    .saturating_sub(target.profile.entitlements.len()) as u64;
            return Ok(MergeOutcome::Preview(Box::new(MergePreview {
                target,
                plan,
                moves,
                moves_capped,
                entitlements,
            })));
        }
        if !plan.conflicts.is_empty() {
            return Err(HelpdeskError::Conflict {
                detail: "the merge cannot go ahead; see errors, or preview it with dry_run".into(),
                errors: plan.conflicts,
            });
        }
        let id = crate::domain::clock::new_id();
        let now = crate::domain::clock::now();
        let by = Actor::Merge { id: id.clone() };
        let mut target_after = target.next_version(plan.profile, &now, by);
        target_after.avatar_image = merged_avatar(&target, &sources, &keep);
        let merge = Merge {
            id,
            status: MergeStatus::Running,
            step: MoveStep::Tickets,
            target_before: target.clone(),
            target_after: target_after.clone(),
            sources: sources.clone(),
            source_index: 0,
            cursor: None,
            counts: MergeCounts::default(),
            requested_by: caller.subject.clone(),
            requested_at: now.clone(),
            finished_at: None,
            undone_at: None,
            updated_at: now,
            version: 1,
        };
        let previous: Vec<Customer> = std::iter::once(target).chain(sources).collect();
        let written = self
            .merges
            .write_merge(
                &previous,
                &[target_after],
                &MergeWrite::Insert(merge.clone()),
            )
            .await;
        changed_meanwhile(written)?;
        tracing::info!(merge = %merge.id, sources = merge.sources.len(), "customers merged");
        Ok(MergeOutcome::Started(Box::new(merge)))
    }

    /// The customers named in `from`, and what is wrong with any of them.
    async fn sources(
        &self,
        target: &Customer,
        from: &[String],
    ) -> Result<(Vec<Customer>, Vec<FieldError>), HelpdeskError> {
        let mut sources: Vec<Customer> = Vec::new();
        let mut conflicts = Vec::new();
        for (i, raw) in from.iter().enumerate() {
            let field = format!("from[{i}]");
            let email = Email::parse(raw).map_err(|m| HelpdeskError::invalid(&field, m))?;
            match self.customers.find_customer(&email).await? {
                None => conflicts.push(FieldError::new(field, format!("no customer has {email}"))),
                Some(c) if c.id == target.id => conflicts.push(FieldError::new(
                    field,
                    format!("{email} is the customer merged into"),
                )),
                Some(c) if sources.iter().any(|s| s.id == c.id) => conflicts.push(FieldError::new(
                    field,
                    format!("{email} names a customer already named"),
                )),
                Some(c) => sources.push(c),
            }
        }
        Ok((sources, conflicts))
    }

    /// `keep` with its emails normalised; custom fields the caller may not edit are refused
    /// as the API refuses them everywhere.
    async fn keep(
        &self,
        caller: &Caller,
        keep: &BTreeMap<String, String>,
        conflicts: &mut Vec<FieldError>,
    ) -> Result<BTreeMap<String, String>, HelpdeskError> {
        let fields = self.fields.field_set().await?;
        let mut normalised = BTreeMap::new();
        for (field, email) in keep {
            if let Some(key) = field.strip_prefix("custom_fields.") {
                let editable = fields
                    .get(key)
                    .is_some_and(|d| d.can_view(caller) && d.can_edit(caller));
                if !editable {
                    conflicts.push(FieldError::new(
                        format!("keep.{field}"),
                        "is not a field a merge can take from a source",
                    ));
                    continue;
                }
            }
            normalised.insert(field.clone(), email.trim().to_ascii_lowercase());
        }
        Ok(normalised)
    }

    /// How many tickets, notes and history entries the sources hold, each count read page
    /// by page and stopped at [`PREVIEW_COUNT_CAP`] (then `capped`): a preview's work is
    /// bounded however much the sources hold.
    async fn would_move(&self, sources: &[Customer]) -> Result<(MergeCounts, bool), HelpdeskError> {
        let mut counts = MergeCounts::default();
        let mut capped = false;
        for source in sources {
            let id = source.id.as_str();
            let (tickets, more_tickets) = count_up_to(|after| async move {
                self.tickets
                    .list_tickets(id, after.as_deref(), READ_PAGE)
                    .await
            })
            .await?;
            let (notes, more_notes) = count_up_to(|after| async move {
                self.customers
                    .list_notes(id, after.as_deref(), READ_PAGE)
                    .await
            })
            .await?;
            let creation_stored = std::sync::atomic::AtomicBool::new(false);
            let (entries, more_history) = count_up_to(|after| {
                let seen = &creation_stored;
                async move {
                    let page = self
                        .history
                        .list_history(id, after.as_deref(), READ_PAGE)
                        .await?;
                    if page.items.iter().any(|e| e.is_creation_of(id)) {
                        seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(page)
                }
            })
            .await?;
            // Its creation moves too, whether stored or made from the record.
            let creation = u64::from(!creation_stored.into_inner() && !more_history);
            counts.tickets += tickets;
            counts.notes += notes;
            counts.history += entries + creation;
            capped |= more_tickets || more_notes || more_history;
        }
        Ok((counts, capped))
    }

    /// A merge and where it stands.
    pub async fn get_merge(&self, caller: &Caller, id: &MergeId) -> Result<Merge, HelpdeskError> {
        caller.require_staff()?;
        self.find(id).await
    }

    /// A merge, unless its undo window has passed: then it is forgotten (its copies of the
    /// customers with it), whether or not the store has deleted it yet.
    async fn find(&self, id: &str) -> Result<Merge, HelpdeskError> {
        let now = crate::domain::clock::now();
        self.merges
            .get_job(id)
            .await?
            .filter(|merge| !merge.is_expired(&now))
            .ok_or_else(|| HelpdeskError::NotFound(format!("merge {id}")))
    }

    /// Undoes a merge: restores the customers exactly as they were, if nothing the
    /// merge made has changed since; otherwise a 409 names what changed and nothing is undone.
    pub async fn undo(&self, caller: &Caller, id: &MergeId) -> Result<Merge, HelpdeskError> {
        caller.require_staff()?;
        let merge = self.find(id).await?;
        match merge.status {
            MergeStatus::Running => {
                return Err(HelpdeskError::conflict(
                    "status",
                    "the merge is still moving tickets, notes and history; undo it when it has finished",
                ));
            }
            MergeStatus::Undoing | MergeStatus::Undone => return Ok(merge),
            MergeStatus::Succeeded => {}
        }
        let deadline = merge.requested_at.plus_days(UNDO_DAYS);
        if crate::domain::clock::now() > deadline {
            return Err(HelpdeskError::conflict(
                "merge",
                format!(
                    "a merge can be undone for {UNDO_DAYS} days; this one was made {}",
                    merge.requested_at
                ),
            ));
        }
        let after = &merge.target_after;
        let emails: Vec<Email> = after.all_emails().map(Email::stored).collect();
        let current = self
            .customers
            .find_customers(&emails)
            .await?
            .into_iter()
            .flatten()
            .find(|c| c.id == after.id);
        if let Some(current) = &current {
            current.refuse_change_under_erasure()?;
        }
        let mut changed = Vec::new();
        match &current {
            Some(c) if c.version == after.version => {}
            _ => changed.push(FieldError::new(
                format!("customers[{}]", after.email()),
                "changed since the merge",
            )),
        }
        changed.extend(self.tickets_changed_since(&merge).await?);
        let Some(current) = current.filter(|_| changed.is_empty()) else {
            return Err(HelpdeskError::Conflict {
                detail: "records changed since the merge; nothing was undone".into(),
                errors: changed,
            });
        };
        // An undo writes the target back: held to the rights those writes need.
        let access = CustomerAccess::new(caller, &self.fields.field_set().await?);
        access.check_change(&current.profile, &merge.target_before.profile)?;
        let now = crate::domain::clock::now();
        let mut restored = merge.target_before.clone();
        restored.version = current.version + 1;
        restored.updated_at = now.clone();
        restored.changed_by = Some(Actor::Merge {
            id: merge.id.clone(),
        });
        let mut next = merge.clone();
        next.status = MergeStatus::Undoing;
        next.step = MoveStep::Tickets;
        next.source_index = 0;
        next.cursor = None;
        next.version = merge.version + 1;
        next.updated_at = now;
        let records: Vec<Customer> = std::iter::once(restored)
            .chain(merge.sources.clone())
            .collect();
        let write = MergeWrite::Replace {
            previous: merge,
            next: next.clone(),
        };
        changed_meanwhile(self.merges.write_merge(&[current], &records, &write).await)?;
        tracing::info!(merge = %next.id, "merge undone");
        Ok(next)
    }

    /// The tickets the merge moved that changed since (up to [`MAX_NAMED_CHANGES`] named):
    /// the target's tickets read a page at a time and none kept, so an undo's check holds
    /// one page in memory however many tickets the customer has.
    async fn tickets_changed_since(&self, merge: &Merge) -> Result<Vec<FieldError>, HelpdeskError> {
        let mut changed = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .tickets
                .list_tickets(&merge.target_after.id, after.as_deref(), READ_PAGE)
                .await?;
            for ticket in &page.items {
                let Some(moved) = ticket.moved_by.as_ref().filter(|m| m.merge_id == merge.id)
                else {
                    continue;
                };
                if ticket.version != moved.version {
                    changed.push(FieldError::new(
                        format!("tickets[{}]", ticket.id),
                        "changed since the merge",
                    ));
                }
            }
            match page.next {
                Some(next) if changed.len() < MAX_NAMED_CHANGES => after = Some(next),
                _ => return Ok(changed),
            }
        }
    }
}

/// A record that changed between reading and writing: the caller can simply try again.
fn changed_meanwhile(written: Result<(), StoreError>) -> Result<(), HelpdeskError> {
    match written {
        Err(StoreError::VersionMismatch) | Err(StoreError::EmailTaken(_)) => Err(
            HelpdeskError::conflict("customer", "a customer changed meanwhile; try again"),
        ),
        other => Ok(other?),
    }
}

/// How many items a listing holds, read page by page.
async fn count_up_to<T, F, Fut>(mut read: F) -> Result<(u64, bool), HelpdeskError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut total = 0;
    let mut after: Option<String> = None;
    loop {
        let page = read(after.take()).await?;
        total += page.items.len() as u64;
        match page.next {
            Some(_) if total >= PREVIEW_COUNT_CAP => return Ok((PREVIEW_COUNT_CAP, true)),
            Some(next) => after = Some(next),
            None => return Ok((total, false)),
        }
    }
}
