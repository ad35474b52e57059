//! Events: what changed, as the outside world learns it (the change feed, EventBridge, webhooks).
//!
//! Every event is derived here from a record as it was and as it is ([`RecordChange`]), the same
//! pair the table's stream carries in the cloud and the change queue carries locally. The field
//! changes come from [`entry_between`], the function that writes history, so the feed and the
//! history cannot disagree. A write that changes no tracked field makes no event.

mod derive;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::erasure::Erasure;
use crate::domain::history::{FieldChange, HistoryEntry, Tracked, entry_between};
use crate::domain::import_job::ImportJob;
use crate::domain::merge::Merge;
use crate::domain::provenance::Actor;
use crate::domain::ticket::{Ticket, TicketMessage};
use crate::domain::timestamp::Timestamp;
use derive::*;

/// Every type of event, as `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "customer.created")]
    CustomerCreated,
    #[serde(rename = "customer.updated")]
    CustomerUpdated,
    #[serde(rename = "customer.deleted")]
    CustomerDeleted,
    #[serde(rename = "customer.merged")]
    CustomerMerged,
    #[serde(rename = "customer.unmerged")]
    CustomerUnmerged,
    #[serde(rename = "customer.erased")]
    CustomerErased,
    #[serde(rename = "customer.blocked")]
    CustomerBlocked,
    #[serde(rename = "customer.unblocked")]
    CustomerUnblocked,
    #[serde(rename = "customer.undeliverable")]
    CustomerUndeliverable,
    #[serde(rename = "customer.complained")]
    CustomerComplained,
    #[serde(rename = "company.created")]
    CompanyCreated,
    #[serde(rename = "company.updated")]
    CompanyUpdated,
    #[serde(rename = "company.deleted")]
    CompanyDeleted,
    #[serde(rename = "ticket.created")]
    TicketCreated,
    #[serde(rename = "ticket.status_changed")]
    TicketStatusChanged,
    #[serde(rename = "ticket.message.received")]
    MessageReceived,
    #[serde(rename = "ticket.message.sent")]
    MessageSent,
    #[serde(rename = "ticket.message.failed")]
    MessageFailed,
    #[serde(rename = "ticket.note.created")]
    NoteCreated,
    #[serde(rename = "import.succeeded")]
    ImportSucceeded,
    #[serde(rename = "import.failed")]
    ImportFailed,
    #[serde(rename = "erasure.succeeded")]
    ErasureSucceeded,
}

impl EventType {
    pub const ALL: [EventType; 22] = [
        EventType::CustomerCreated,
        EventType::CustomerUpdated,
        EventType::CustomerDeleted,
        EventType::CustomerMerged,
        EventType::CustomerUnmerged,
        EventType::CustomerErased,
        EventType::CustomerBlocked,
        EventType::CustomerUnblocked,
        EventType::CustomerUndeliverable,
        EventType::CustomerComplained,
        EventType::CompanyCreated,
        EventType::CompanyUpdated,
        EventType::CompanyDeleted,
        EventType::TicketCreated,
        EventType::TicketStatusChanged,
        EventType::MessageReceived,
        EventType::MessageSent,
        EventType::MessageFailed,
        EventType::NoteCreated,
        EventType::ImportSucceeded,
        EventType::ImportFailed,
        EventType::ErasureSucceeded,
    ];

    /// The name `type` carries (`customer.created`).
    pub fn name(self) -> &'static str {
        match self {
            EventType::CustomerCreated => "customer.created",
            EventType::CustomerUpdated => "customer.updated",
            EventType::CustomerDeleted => "customer.deleted",
            EventType::CustomerMerged => "customer.merged",
            EventType::CustomerUnmerged => "customer.unmerged",
            EventType::CustomerErased => "customer.erased",
            EventType::CustomerBlocked => "customer.blocked",
            EventType::CustomerUnblocked => "customer.unblocked",
            EventType::CustomerUndeliverable => "customer.undeliverable",
            EventType::CustomerComplained => "customer.complained",
            EventType::CompanyCreated => "company.created",
            EventType::CompanyUpdated => "company.updated",
            EventType::CompanyDeleted => "company.deleted",
            EventType::TicketCreated => "ticket.created",
            EventType::TicketStatusChanged => "ticket.status_changed",
            EventType::MessageReceived => "ticket.message.received",
            EventType::MessageSent => "ticket.message.sent",
            EventType::MessageFailed => "ticket.message.failed",
            EventType::NoteCreated => "ticket.note.created",
            EventType::ImportSucceeded => "import.succeeded",
            EventType::ImportFailed => "import.failed",
            EventType::ErasureSucceeded => "erasure.succeeded",
        }
    }

    /// The type named `name`, or every type a `prefix.*`-less prefix such as `customer` names.
    pub fn matching(name: &str) -> Vec<EventType> {
        let name = name.trim();
        EventType::ALL
            .into_iter()
            .filter(|t| {
                let full = t.name();
                full == name
                    || full
                        .strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .collect()
    }
}

/// What kind of record an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Customer,
    Company,
    Ticket,
    Message,
    Import,
    Erasure,
}

/// The record an event is about: its kind, id, and (customers) primary email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub kind: EntityKind,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A message's ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
}

/// One event, as the log keeps it. `record` is the domain record the event shows (after the
/// change; before it for a deletion), rendered as the agent's view where it leaves the product;
/// an erasure's events carry none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable: the same change gives the same id on every delivery.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub occurred_at: Timestamp,
    pub entity: EntityRef,
    /// The record's version this event made (a message's delivery revision).
    pub version: u64,
    pub actor: Option<Actor>,
    pub changes: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Value>,
    /// Whose personal data the event holds (the customer of a ticket or message), or the
    /// record's own id: an erasure forgets every event filed under the person.
    pub owner: String,
}

/// The event of a person's erasure: their customer id, nothing else. The same id however it is
/// made (from the record's removal, or by the erasure itself).
pub fn erased_event(customer_id: &str) -> Event {
    derive::erased(customer_id)
}

/// One record's change, as the stream or the change queue carries it.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "made and consumed a batch at a time; boxing every record buys nothing"
)]
pub enum RecordChange {
    Customer(Option<Customer>, Option<Customer>),
    Company(Option<Company>, Option<Company>),
    Ticket(Option<Ticket>, Option<Ticket>),
    Message(Option<TicketMessage>, Option<TicketMessage>),
    Import(Option<ImportJob>, Option<ImportJob>),
    Erasure(Option<Erasure>, Option<Erasure>),
    /// Boxed: a merge holds whole customers.
    Merge(Option<Box<Merge>>, Option<Box<Merge>>),
}

impl RecordChange {
    /// A customer the change removes or (re)creates: a merge's sources, which the merge's own
    /// events cover, are looked up by the logger.
    pub fn customer_appearing_or_going(&self) -> Option<&Customer> {
        match self {
            RecordChange::Customer(Some(c), None) | RecordChange::Customer(None, Some(c)) => {
                Some(c)
            }
            _ => None,
        }
    }

    /// The customer (by id) an erasure removed: their earlier events are forgotten.
    pub fn erased_customer(&self) -> Option<&Customer> {
        match self {
            RecordChange::Customer(Some(before), None) if before.erasure_under_way().is_some() => {
                Some(before)
            }
            _ => None,
        }
    }

    /// The history entry the change log files for this change: an import's update of a
    /// customer, which the cloud store writes without its entry (see
    /// [`Customer::written_by_import`]). Filing it again changes nothing.
    pub fn logged_history(&self) -> Option<HistoryEntry> {
        let RecordChange::Customer(Some(before), Some(after)) = self else {
            return None;
        };
        let by = after.written_by_import(before)?;
        entry_between(before, after).map(|entry| HistoryEntry {
            by: Some(by),
            ..entry
        })
    }

    /// The record whose history entry names the actor of an update: (record id, entry key).
    pub fn history_key(&self) -> Option<(String, String)> {
        fn key<R: Tracked>(before: &R, after: &R) -> Option<(String, String)> {
            entry_between(before, after).map(|e| (e.record_id.clone(), e.key()))
        }
        match self {
            RecordChange::Customer(Some(b), Some(a)) => key(b, a),
            RecordChange::Company(Some(b), Some(a)) => key(b, a),
            RecordChange::Ticket(Some(b), Some(a)) => key(b, a),
            _ => None,
        }
    }
}

/// The events of one change. `actor` is who made an update (from its history entry; the
/// records do not keep it); creations name their creator, jobs their requester. `owner_of_ticket`
/// is the customer of a message's ticket.
pub fn events_of(
    change: &RecordChange,
    actor: Option<Actor>,
    owner_of_ticket: Option<&str>,
) -> Vec<Event> {
    match change {
        RecordChange::Customer(before, after) => customer_events(before, after, actor),
        RecordChange::Company(before, after) => company_events(before, after, actor),
        RecordChange::Ticket(before, after) => ticket_events(before, after, actor),
        RecordChange::Message(before, after) => {
            message_events(before, after, owner_of_ticket.unwrap_or_default())
        }
        RecordChange::Import(before, after) => import_events(before, after),
        RecordChange::Erasure(before, after) => erasure_events(before, after),
        RecordChange::Merge(before, after) => merge_events(before, after),
    }
    .into_iter()
    .collect()
}
