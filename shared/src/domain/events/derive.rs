//! Each kind of record's events, from the record before and after a change.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{EntityKind, EntityRef, Event, EventType};
use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::delivery::DeliveryStatus;
use crate::domain::erasure::{Erasure, ErasureStatus};
use crate::domain::history::{FieldChange, Tracked, entry_between};
use crate::domain::import_job::{ImportJob, ImportStatus};
use crate::domain::merge::{Merge, MergeStatus};
use crate::domain::provenance::Actor;
use crate::domain::ticket::{MessageKind, Ticket, TicketMessage};
use crate::domain::timestamp::Timestamp;

fn customer_ref(customer: &Customer) -> EntityRef {
    EntityRef {
        kind: EntityKind::Customer,
        id: customer.id.clone(),
        email: Some(customer.email().to_string()),
        ticket_id: None,
    }
}

fn record_of<T: Serialize>(record: &T) -> Option<Value> {
    serde_json::to_value(record).ok()
}

/// The changes from nothing to a record's values: a creation's.
fn created_values<R: Tracked>(record: &R) -> Vec<FieldChange> {
    record
        .tracked_fields()
        .into_iter()
        .map(|(field, to)| FieldChange {
            field,
            from: Value::Null,
            to,
        })
        .collect()
}

struct Draft {
    kind: EventType,
    at: Timestamp,
    entity: EntityRef,
    version: u64,
    actor: Option<Actor>,
    changes: Vec<FieldChange>,
    record: Option<Value>,
    owner: String,
}

impl Draft {
    fn done(self) -> Event {
        Event {
            id: event_id(&self.entity, self.version, self.kind),
            kind: self.kind,
            occurred_at: self.at,
            entity: self.entity,
            version: self.version,
            actor: self.actor,
            changes: self.changes,
            record: self.record,
            owner: self.owner,
        }
    }
}

/// A stable id: the same entity, version and type give the same id on every delivery.
fn event_id(entity: &EntityRef, version: u64, kind: EventType) -> String {
    let mut hash = Sha256::new();
    hash.update(format!(
        "{:?}\n{}\n{version}\n{}",
        entity.kind,
        entity.id,
        kind.name()
    ));
    let digest = hash.finalize();
    format!("evt_{}", hex::encode(&digest[..16]))
}

pub(super) fn customer_events(
    before: &Option<Customer>,
    after: &Option<Customer>,
    actor: Option<Actor>,
) -> Option<Event> {
    let draft = match (before, after) {
        (None, Some(created)) if created.erasure_under_way().is_none() => Draft {
            kind: EventType::CustomerCreated,
            at: created.created_at.clone(),
            entity: customer_ref(created),
            version: created.version,
            actor: created.created_by(),
            changes: created_values(created),
            record: record_of(created),
            owner: created.id.clone(),
        },
        (Some(gone), None) if gone.erasure_under_way().is_some() => return Some(erased(&gone.id)),
        (Some(gone), None) => Draft {
            kind: EventType::CustomerDeleted,
            at: crate::domain::clock::now(),
            entity: customer_ref(gone),
            version: gone.version + 1,
            actor: None,
            changes: Vec::new(),
            record: record_of(gone),
            owner: gone.id.clone(),
        },
        (Some(before), Some(after)) if after.erasure_under_way().is_none() => {
            // A merge's own change of the target is the merge's event.
            if matches!(actor, Some(Actor::Merge { .. })) {
                return None;
            }
            let entry = entry_between(before, after)?;
            Draft {
                kind: customer_update_type(before, after),
                at: entry.at,
                entity: customer_ref(after),
                version: after.version,
                actor,
                changes: entry.changes,
                record: record_of(after),
                owner: after.id.clone(),
            }
        }
        _ => return None,
    };
    Some(draft.done())
}

/// Nothing of the person: not their address, not their values. Version 0: no version of the
/// record is left, and the id is the same whoever files it.
pub(super) fn erased(customer_id: &str) -> Event {
    Draft {
        kind: EventType::CustomerErased,
        at: crate::domain::clock::now(),
        entity: EntityRef {
            kind: EntityKind::Customer,
            id: customer_id.to_string(),
            email: None,
            ticket_id: None,
        },
        version: 0,
        actor: None,
        changes: Vec::new(),
        record: None,
        owner: format!("erased:{customer_id}"),
    }
    .done()
}

/// The most telling name of a customer's update: a block, an unblock, a bounce or a complaint
/// says more than `updated`.
fn customer_update_type(before: &Customer, after: &Customer) -> EventType {
    match (&before.blocked, &after.blocked) {
        (None, Some(_)) => return EventType::CustomerBlocked,
        (Some(_), None) => return EventType::CustomerUnblocked,
        _ => {}
    }
    if before.undeliverable.is_none() && after.undeliverable.is_some() {
        return EventType::CustomerUndeliverable;
    }
    if before.complained.is_none() && after.complained.is_some() {
        return EventType::CustomerComplained;
    }
    EventType::CustomerUpdated
}

pub(super) fn company_events(
    before: &Option<Company>,
    after: &Option<Company>,
    actor: Option<Actor>,
) -> Option<Event> {
    let entity = |company: &Company| EntityRef {
        kind: EntityKind::Company,
        id: company.id.clone(),
        email: None,
        ticket_id: None,
    };
    let draft = match (before, after) {
        (None, Some(created)) => Draft {
            kind: EventType::CompanyCreated,
            at: created.created_at.clone(),
            entity: entity(created),
            version: created.version,
            actor: created.created_by.clone(),
            changes: created_values(created),
            record: record_of(created),
            owner: created.id.clone(),
        },
        (Some(gone), None) => Draft {
            kind: EventType::CompanyDeleted,
            at: crate::domain::clock::now(),
            entity: entity(gone),
            version: gone.version + 1,
            actor: None,
            changes: Vec::new(),
            record: record_of(gone),
            owner: gone.id.clone(),
        },
        (Some(before), Some(after)) => {
            let entry = entry_between(before, after)?;
            Draft {
                kind: EventType::CompanyUpdated,
                at: entry.at,
                entity: entity(after),
                version: after.version,
                actor,
                changes: entry.changes,
                record: record_of(after),
                owner: after.id.clone(),
            }
        }
        (None, None) => return None,
    };
    Some(draft.done())
}

pub(super) fn ticket_events(
    before: &Option<Ticket>,
    after: &Option<Ticket>,
    actor: Option<Actor>,
) -> Option<Event> {
    let after = after.as_ref()?;
    let entity = EntityRef {
        kind: EntityKind::Ticket,
        id: after.id.clone(),
        email: None,
        ticket_id: None,
    };
    let draft = match before {
        None => Draft {
            kind: EventType::TicketCreated,
            at: after.created_at.clone(),
            entity,
            version: after.version,
            actor: after.created_by(),
            changes: created_values(after),
            record: record_of(after),
            owner: after.customer_id.clone(),
        },
        Some(before) if before.status != after.status => {
            let entry = entry_between(before, after)?;
            Draft {
                kind: EventType::TicketStatusChanged,
                at: entry.at,
                entity,
                version: after.version,
                actor,
                changes: entry
                    .changes
                    .into_iter()
                    .filter(|c| c.field == "status")
                    .collect(),
                record: record_of(after),
                owner: after.customer_id.clone(),
            }
        }
        Some(_) => return None,
    };
    Some(draft.done())
}

pub(super) fn message_events(
    before: &Option<TicketMessage>,
    after: &Option<TicketMessage>,
    owner: &str,
) -> Option<Event> {
    let message = after.as_ref()?;
    let delivery = |m: &TicketMessage| m.delivery.as_ref().map(|d| (d.status, d.revision));
    let (kind, version, at) = match (before, message.kind) {
        (None, MessageKind::Inbound) => (EventType::MessageReceived, 0, None),
        (None, MessageKind::Note) => (EventType::NoteCreated, 0, None),
        (_, MessageKind::Reply) => {
            let (status, revision) = delivery(message)?;
            let was = before.as_ref().and_then(delivery).map(|(s, _)| s);
            let kind = match status {
                DeliveryStatus::Sent => EventType::MessageSent,
                DeliveryStatus::Failed => EventType::MessageFailed,
                DeliveryStatus::Queued => return None,
            };
            if was == Some(status) {
                return None;
            }
            let at = message.delivery.as_ref().map(|d| d.at.clone());
            (kind, revision, at)
        }
        _ => return None,
    };
    let entity = EntityRef {
        kind: EntityKind::Message,
        id: message.id.clone(),
        email: None,
        ticket_id: Some(message.ticket_id.clone()),
    };
    let draft = Draft {
        kind,
        at: at.unwrap_or_else(|| message.received_at.clone()),
        entity,
        version,
        actor: message_actor(message),
        changes: Vec::new(),
        record: record_of(message),
        owner: owner.to_string(),
    };
    Some(draft.done())
}

/// Who wrote a message: its agent, or the mail it came in as.
fn message_actor(message: &TicketMessage) -> Option<Actor> {
    match &message.author {
        Some(author) => Some(Actor::caller(author)),
        None => Some(Actor::Inbound {
            message: message.message_id.clone(),
        }),
    }
}

pub(super) fn import_events(
    before: &Option<ImportJob>,
    after: &Option<ImportJob>,
) -> Option<Event> {
    let job = after.as_ref()?;
    let kind = match job.status {
        ImportStatus::Succeeded => EventType::ImportSucceeded,
        ImportStatus::Failed => EventType::ImportFailed,
        _ => return None,
    };
    if before.as_ref().is_some_and(|b| b.status == job.status) {
        return None;
    }
    let draft = Draft {
        kind,
        at: job.updated_at.clone(),
        entity: EntityRef {
            kind: EntityKind::Import,
            id: job.id.clone(),
            email: None,
            ticket_id: None,
        },
        version: job.version,
        actor: Some(Actor::caller(&job.run_as.subject)),
        changes: Vec::new(),
        record: record_of(job),
        owner: job.id.clone(),
    };
    Some(draft.done())
}

/// An erasure's end: its id and counts, nothing of the person (not their id or addresses).
pub(super) fn erasure_events(before: &Option<Erasure>, after: &Option<Erasure>) -> Option<Event> {
    let job = after.as_ref()?;
    let done = job.status == ErasureStatus::Succeeded;
    if !done || before.as_ref().is_some_and(|b| b.status == job.status) {
        return None;
    }
    let at = job
        .finished_at
        .clone()
        .unwrap_or_else(crate::domain::clock::now);
    let draft = Draft {
        kind: EventType::ErasureSucceeded,
        at: at.clone(),
        entity: EntityRef {
            kind: EntityKind::Erasure,
            id: job.id.clone(),
            email: None,
            ticket_id: None,
        },
        version: 1,
        actor: Some(Actor::caller(&job.requested_by)),
        changes: Vec::new(),
        record: Some(json!({
            "id": job.id, "status": "succeeded", "counts": job.counts,
            "requested_at": job.requested_at, "finished_at": at,
        })),
        owner: job.id.clone(),
    };
    Some(draft.done())
}

/// A merge's start (`customer.merged`) and its undo (`customer.unmerged`), on the target.
pub(super) fn merge_events(
    before: &Option<Box<Merge>>,
    after: &Option<Box<Merge>>,
) -> Option<Event> {
    let merge = after.as_ref()?;
    let was = before.as_ref().map(|b| b.status);
    let (kind, shown, from, version) = match (was, merge.status) {
        (None, MergeStatus::Running) => (
            EventType::CustomerMerged,
            &merge.target_after,
            &merge.target_before,
            merge.target_after.version,
        ),
        (Some(MergeStatus::Running | MergeStatus::Succeeded), MergeStatus::Undoing) => (
            EventType::CustomerUnmerged,
            &merge.target_before,
            &merge.target_after,
            merge.target_after.version + 1,
        ),
        _ => return None,
    };
    let mut changes = entry_between(from, shown)
        .map(|e| e.changes)
        .unwrap_or_default();
    let ids: Vec<&str> = merge.sources.iter().map(|s| s.id.as_str()).collect();
    let (from_ids, to_ids) = match kind {
        EventType::CustomerMerged => (Value::Null, json!(ids)),
        _ => (json!(ids), Value::Null),
    };
    changes.push(FieldChange {
        field: "merged_customers".into(),
        from: from_ids,
        to: to_ids,
    });
    let draft = Draft {
        kind,
        at: merge.updated_at.clone(),
        entity: customer_ref(shown),
        version,
        actor: Some(Actor::Merge {
            id: merge.id.clone(),
        }),
        changes,
        record: record_of(shown),
        owner: shown.id.clone(),
    };
    Some(draft.done())
}
