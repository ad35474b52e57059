//! Change history: who changed which fields of a record, from what to what.
//!
//! Every new version of a customer names who made it ([`Actor`]). The store writes the
//! [`HistoryEntry`] between two versions in the same transaction as the new version, so the
//! history holds exactly the changes that happened. One exception: in the cloud an import's
//! update is written alone, and the change log files its entry from the table's stream
//! ([`crate::domain::events::RecordChange::logged_history`]), a moment later. A creation writes no entry: the record
//! keeps who created it, and the creation's values are the current ones with every later change
//! rolled back ([`initial_values`]). That keeps a new customer (an imported row) one item.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::provenance::Actor;

use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::ticket::Ticket;
use crate::domain::timestamp::Timestamp;

/// One field's change. `Null` stands for "not set".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// A top-level field (`first_name`), or `custom_fields.<key>` for a custom field.
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// The change that made version `version` of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The record's immutable id: history follows a customer through changes of email.
    pub record_id: String,
    pub version: u64,
    pub at: Timestamp,
    pub by: Option<Actor>,
    pub changes: Vec<FieldChange>,
    /// A stored creation (a merge keeps its customers' creations): the version whose values
    /// it rolled back, so that an entry the change log files later can be rolled back too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<u64>,
}

/// The who and when of a record's versions: what every tracked record has in the same fields.
pub trait Stamped {
    fn record_id(&self) -> &str;
    fn version(&self) -> u64;
    fn created_at(&self) -> &Timestamp;
    fn updated_at(&self) -> &Timestamp;
    fn changed_by(&self) -> Option<&Actor>;
}

macro_rules! stamped {
    ($($record:ty),+ $(,)?) => {$(
        impl Stamped for $record {
            fn record_id(&self) -> &str {
                &self.id
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn created_at(&self) -> &Timestamp {
                &self.created_at
            }
            fn updated_at(&self) -> &Timestamp {
                &self.updated_at
            }
            fn changed_by(&self) -> Option<&Actor> {
                self.changed_by.as_ref()
            }
        }
    )+};
}

stamped!(Customer, Company, Ticket);

/// A record whose changes the history follows.
pub trait Tracked: Stamped {
    /// Who created it.
    fn created_by(&self) -> Option<Actor>;
    /// The values the history compares, by field name, only those that are set.
    fn tracked_fields(&self) -> BTreeMap<String, Value>;
}

/// Of a customer: the profile (custom fields one by one) and the block. Welcome state and
/// import bookkeeping are the helpdesk's own and are not changes anyone made to the customer.
impl Tracked for Customer {
    fn created_by(&self) -> Option<Actor> {
        self.creator()
    }
    fn tracked_fields(&self) -> BTreeMap<String, Value> {
        let mut fields = BTreeMap::new();
        if let Ok(Value::Object(profile)) = serde_json::to_value(&self.profile) {
            for (key, value) in profile {
                if key == "custom_fields" {
                    for (custom, value) in value.as_object().into_iter().flatten() {
                        fields.insert(format!("custom_fields.{custom}"), value.clone());
                    }
                } else {
                    fields.insert(key, value);
                }
            }
        }
        if let Some(block) = &self.blocked
            && let Ok(value) = serde_json::to_value(block)
        {
            fields.insert("blocked".into(), value);
        }
        for (name, problem) in [
            ("undeliverable", &self.undeliverable),
            ("complained", &self.complained),
        ] {
            if let Some(problem) = problem
                && let Ok(value) = serde_json::to_value(problem)
            {
                fields.insert(name.into(), value);
            }
        }
        if let Some(image) = &self.avatar_image {
            fields.insert("avatar_image".into(), Value::String(image.path(256)));
        }
        fields.retain(|_, value| !is_unset(value));
        fields
    }
}

/// Of a company: its name, domains and notes.
impl Tracked for Company {
    fn created_by(&self) -> Option<Actor> {
        self.created_by.clone()
    }
    fn tracked_fields(&self) -> BTreeMap<String, Value> {
        let mut fields = BTreeMap::from([
            ("name".to_string(), Value::from(self.name.clone())),
            ("domains".to_string(), Value::from(self.domains.clone())),
            ("notes".to_string(), Value::from(self.notes.clone())),
        ]);
        fields.retain(|_, value| !is_unset(value));
        fields
    }
}

/// Of a ticket: its status and its newest agent message. Its messages are the ticket's
/// thread; the history says who moved the ticket between open, pending, solved and closed,
/// and which reply or note each agent wrote, in order.
impl Tracked for Ticket {
    /// Tickets begin with a customer's mail, or a row of an import.
    fn created_by(&self) -> Option<Actor> {
        Some(match &self.imported {
            Some(imported) => Actor::Import {
                job: imported.job.clone(),
                row: imported.row,
            },
            None => Actor::System {
                name: "inbound".into(),
            },
        })
    }
    fn tracked_fields(&self) -> BTreeMap<String, Value> {
        let status = serde_json::to_value(self.status).unwrap_or(Value::Null);
        let mut fields = BTreeMap::from([("status".to_string(), status)]);
        if !self.tags.is_empty() {
            fields.insert("tags".into(), Value::from(self.tags.clone()));
        }
        if let Some(message) = &self.last_agent_message
            && let Ok(value) = serde_json::to_value(message)
        {
            fields.insert("last_agent_message".into(), value);
        }
        fields
    }
}

/// Empty values and absent ones are the same to a reader: "not set".
fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// The changes from one set of field values to another, in field order.
fn changes_between(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> Vec<FieldChange> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let from = before.get(name).cloned().unwrap_or(Value::Null);
            let to = after.get(name).cloned().unwrap_or(Value::Null);
            (from != to).then(|| FieldChange {
                field: name.clone(),
                from,
                to,
            })
        })
        .collect()
}

/// The entry a store writes with `next`, or `None` when no tracked field changed (a welcome
/// sent, an import mark).
pub fn entry_between<R: Tracked>(previous: &R, next: &R) -> Option<HistoryEntry> {
    let changes = changes_between(&previous.tracked_fields(), &next.tracked_fields());
    (!changes.is_empty()).then(|| HistoryEntry {
        record_id: next.record_id().to_string(),
        version: next.version(),
        at: next.updated_at().clone(),
        by: next.changed_by().cloned(),
        changes,
        derived_from: None,
    })
}

/// The entry of a record's creation (version 1): its values then, from `current` with
/// `later` (every stored entry of the record, any order; others are skipped) rolled back. A record created before history was
/// kept (no `created_by`) has an entry without changes: its first values are not known.
pub fn creation_entry<R: Tracked>(current: &R, later: &[HistoryEntry]) -> HistoryEntry {
    let mut later: Vec<&HistoryEntry> = later
        .iter()
        .filter(|entry| entry.record_id == current.record_id())
        .collect();
    later.sort_by_key(|entry| std::cmp::Reverse(entry.version));
    let changes = current.created_by().map(|_| {
        let initial = initial_values(current.tracked_fields(), &later);
        changes_between(&BTreeMap::new(), &initial)
    });
    HistoryEntry {
        record_id: current.record_id().to_string(),
        version: 1,
        at: current.created_at().clone(),
        by: current.created_by(),
        changes: changes.unwrap_or_default(),
        derived_from: Some(current.version()),
    }
}

/// `creation` (a stored creation of `late`'s record) with `late` rolled back too, where
/// `late` is an entry the change log filed after the creation was derived without it: each
/// field `late` changed that no older entry of the record (in `entries`) changed was, at the
/// creation, what `late` changed it from. Order-free and idempotent, so entries may be filed
/// late in any order and again. `None` when nothing changes.
pub fn creation_with_late_entry(
    creation: &HistoryEntry,
    late: &HistoryEntry,
    entries: &[HistoryEntry],
) -> Option<HistoryEntry> {
    let derived_from = creation.derived_from?;
    // A creation without values predates history: its first values are not known.
    if derived_from < late.version
        || !creation.is_creation_of(&late.record_id)
        || creation.changes.is_empty()
    {
        return None;
    }
    let mut values: BTreeMap<String, Value> = creation
        .changes
        .iter()
        .map(|c| (c.field.clone(), c.to.clone()))
        .collect();
    let older = |field: &str| {
        entries.iter().any(|e| {
            e.record_id == late.record_id
                && e.version > 1
                && e.version < late.version
                && e.changes.iter().any(|c| c.field == field)
        })
    };
    for change in late.changes.iter().filter(|c| !older(&c.field)) {
        if is_unset(&change.from) {
            values.remove(&change.field);
        } else {
            values.insert(change.field.clone(), change.from.clone());
        }
    }
    let changes = changes_between(&BTreeMap::new(), &values);
    (changes != creation.changes).then(|| HistoryEntry {
        changes,
        ..creation.clone()
    })
}

/// `values` with `later` (newest first) undone.
fn initial_values(
    mut values: BTreeMap<String, Value>,
    later: &[&HistoryEntry],
) -> BTreeMap<String, Value> {
    for entry in later {
        for change in &entry.changes {
            if is_unset(&change.from) {
                values.remove(&change.field);
            } else {
                values.insert(change.field.clone(), change.from.clone());
            }
        }
    }
    values
}

impl HistoryEntry {
    /// The entry's position in a history: by time, then record and version. A merged customer's
    /// history holds the entries of the customers merged into it, so versions alone would not
    /// order it.
    pub fn key(&self) -> String {
        format!("{}#{}#{:020}", self.at, self.record_id, self.version)
    }

    /// The creation of its record.
    pub fn is_creation_of(&self, record_id: &str) -> bool {
        self.version == 1 && self.record_id == record_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(version: u64, changes: &[(&str, Value, Value)]) -> HistoryEntry {
        HistoryEntry {
            record_id: "c1".into(),
            version,
            at: Timestamp::now(),
            by: None,
            changes: changes
                .iter()
                .map(|(field, from, to)| FieldChange {
                    field: field.to_string(),
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect(),
            derived_from: None,
        }
    }

    /// Created as Ek (no phone); v2 renamed to Eklund and added a phone, v3 renamed to Ekk. A
    /// merge stored the creation at v3 knowing neither entry: it says Ekk with the phone.
    #[test]
    fn late_entries_are_rolled_back_in_any_order_and_again() {
        let v2 = entry(
            2,
            &[
                ("last_name", json!("Ek"), json!("Eklund")),
                ("phones", Value::Null, json!(["+1"])),
            ],
        );
        let v3 = entry(3, &[("last_name", json!("Eklund"), json!("Ekk"))]);
        let mut stored = entry(
            1,
            &[
                ("last_name", Value::Null, json!("Ekk")),
                ("phones", Value::Null, json!(["+1"])),
            ],
        );
        stored.derived_from = Some(3);
        let created_as_ek = vec![FieldChange {
            field: "last_name".into(),
            from: Value::Null,
            to: json!("Ek"),
        }];
        for order in [[&v2, &v3], [&v3, &v2]] {
            let mut creation = stored.clone();
            let mut filed = vec![];
            for late in order.into_iter().chain(order) {
                filed.push(late.clone());
                if let Some(corrected) = creation_with_late_entry(&creation, late, &filed) {
                    creation = corrected;
                }
            }
            assert_eq!(creation.changes, created_as_ek, "{order:?}");
        }
        // An entry after the creation was derived is not part of it.
        let v4 = entry(4, &[("last_name", json!("Ekk"), json!("Ox"))]);
        assert_eq!(
            creation_with_late_entry(&stored, &v4, std::slice::from_ref(&v4)),
            None
        );
    }
}
