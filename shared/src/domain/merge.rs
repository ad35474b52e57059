//! Merging customers: the rules that make one profile of several, and the merge record that
//! keeps what an undo needs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::access::CustomerAccess;
use crate::domain::avatar::AvatarImage;
use crate::domain::customer::{
    Customer, MAX_ALTERNATE_EMAILS, MAX_ENTITLEMENTS, MAX_PHONES, MAX_SOCIAL_LINKS, MAX_TAGS,
    Profile,
};
use crate::domain::timestamp::Timestamp;

pub use crate::domain::provenance::MovedBy;
use crate::domain::validation::FieldError;

/// At most this many customers merge into one at a time.
pub const MAX_MERGE_SOURCES: usize = 10;
/// How long a merge can be undone.
pub const UNDO_DAYS: i64 = 30;

/// What the merge of `sources` into a target takes from where.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    /// The target's profile after the merge.
    pub profile: Profile,
    /// Each field of the result and where its value comes from (`target` or a source's email).
    pub origins: Vec<FieldOrigin>,
    /// Emails that become the target's alternates (the sources' primary and alternate emails).
    pub new_alternates: Vec<String>,
    /// What keeps the merge from going ahead.
    pub conflicts: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct FieldOrigin {
    pub field: String,
    #[cfg_attr(feature = "http", schema(value_type = Value))]
    pub value: Value,
    /// `target`, or the emails of the sources the value (or part of a list) comes from.
    pub from: Vec<String>,
}

/// How each field merges. Lists gather everything (the target's first); the rest keep the
/// target's value when it has one, else take the first source's that has one.
fn rule(field: &str) -> Rule {
    match field {
        "email" | "alternate_emails" => Rule::Identity,
        "phones" | "tags" | "entitlements" => Rule::Union,
        "social" | "custom_fields" => Rule::Keyed,
        _ => Rule::FirstSet,
    }
}

#[derive(PartialEq)]
enum Rule {
    Identity,
    Union,
    Keyed,
    FirstSet,
}

fn unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn document(profile: &Profile) -> Map<String, Value> {
    match serde_json::to_value(profile) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Merges `sources` into `target` as the caller of `access` may: `keep` picks, per field (or
/// `custom_fields.<key>`), the source whose value wins over everything else. What the caller
/// may not edit stays the target's: its company (without the permission to manage
/// companies) and every custom field they may not edit, whatever the form of the keep; and
/// the plan shows nothing of custom fields they may not see, not even which source has some.
pub fn plan_merge(
    target: &Customer,
    sources: &[Customer],
    keep: &BTreeMap<String, String>,
    access: &CustomerAccess,
) -> MergePlan {
    let base = document(&target.profile);
    let others: Vec<(String, Map<String, Value>)> = sources
        .iter()
        .map(|s| (s.email().to_string(), editable_document(&s.profile, access)))
        .collect();
    let mut conflicts = check_keep(keep, &base, &others);
    if keep.contains_key("custom_fields") && !edits_every_field(access) {
        conflicts.push(FieldError::new(
            "keep.custom_fields",
            "name the custom fields one by one (keep.custom_fields.<key>)",
        ));
    }
    let (mut merged, mut origins) = merge_fields(&base, &others, keep);
    if !access.caller().can_manage_companies() {
        conflicts.extend(keep_targets_company(&base, keep, &mut merged, &mut origins));
    }
    confine_custom_fields(&mut merged, &mut origins, &base, access);
    let new_alternates = gather_alternates(target, sources, &mut merged, &mut origins);
    conflicts.extend(over_limits(&merged));
    let profile = serde_json::from_value(Value::Object(merged)).unwrap_or_else(|error| {
        conflicts.push(FieldError::new(
            "body",
            format!("the merged profile is invalid: {error}"),
        ));
        target.profile.clone()
    });
    MergePlan {
        profile,
        origins,
        new_alternates,
        conflicts,
    }
}

/// The profile as a merge may take it from a source: only the custom fields the caller may
/// edit (the others stay the target's, and sources' hidden values never enter the plan).
fn editable_document(profile: &Profile, access: &CustomerAccess) -> Map<String, Value> {
    let mut doc = document(profile);
    if let Some(custom) = doc.get_mut("custom_fields").and_then(Value::as_object_mut) {
        custom.retain(|key, _| access.editable_fields().get(key).is_some());
    }
    doc
}

/// Whether the caller may edit every custom field defined (admins do).
fn edits_every_field(access: &CustomerAccess) -> bool {
    access.caller().is_admin()
}

/// The merged custom fields: those the caller may not edit keep the target's values (set or
/// not), and the origin shows only the keys the caller may see and the sources they came from.
fn confine_custom_fields(
    merged: &mut Map<String, Value>,
    origins: &mut [FieldOrigin],
    base: &Map<String, Value>,
    access: &CustomerAccess,
) {
    let target = base
        .get("custom_fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let Some(custom) = merged
        .get_mut("custom_fields")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    custom.retain(|key, _| access.editable_fields().get(key).is_some());
    for (key, value) in &target {
        if access.editable_fields().get(key).is_none() {
            custom.insert(key.clone(), value.clone());
        }
    }
    let value = Value::Object(custom.clone());
    if let Some(origin) = origins.iter_mut().find(|o| o.field == "custom_fields") {
        origin.value = value;
    }
}

/// The merged customer's uploaded avatar: the source's that `keep.avatar` names (when it has
/// one), else the target's, else the first source's that has one. Pictures stay where they
/// are stored, so an undo gives each customer theirs back.
pub fn merged_avatar(
    target: &Customer,
    sources: &[Customer],
    keep: &BTreeMap<String, String>,
) -> Option<AvatarImage> {
    let kept = keep.get("avatar").and_then(|email| {
        sources
            .iter()
            .find(|s| s.email() == email.as_str())
            .and_then(|s| s.avatar_image.clone())
    });
    kept.or_else(|| target.avatar_image.clone())
        .or_else(|| sources.iter().find_map(|s| s.avatar_image.clone()))
}

/// A `keep` must name a field a merge takes from a source, and one of the sources.
fn check_keep(
    keep: &BTreeMap<String, String>,
    base: &Map<String, Value>,
    others: &[(String, Map<String, Value>)],
) -> Vec<FieldError> {
    let mut conflicts = Vec::new();
    for (field, email) in keep {
        let known = base.contains_key(field)
            || field.strip_prefix("custom_fields.").is_some_and(|k| {
                others
                    .iter()
                    .any(|(_, d)| d.get("custom_fields").and_then(|c| c.get(k)).is_some())
            });
        if !known || rule(field) == Rule::Identity {
            conflicts.push(FieldError::new(
                format!("keep.{field}"),
                "is not a field a merge can take from a source",
            ));
        } else if !others.iter().any(|(e, _)| e == email) {
            conflicts.push(FieldError::new(
                format!("keep.{field}"),
                format!("{email} is not one of the customers merged"),
            ));
        }
    }
    conflicts
}

/// Every field by its rule, or from the source `keep` names; with where each value came from.
fn merge_fields(
    base: &Map<String, Value>,
    others: &[(String, Map<String, Value>)],
    keep: &BTreeMap<String, String>,
) -> (Map<String, Value>, Vec<FieldOrigin>) {
    let picked = |field: &str| -> Option<&Map<String, Value>> {
        let email = keep.get(field)?;
        others.iter().find(|(e, _)| e == email).map(|(_, d)| d)
    };
    let mut merged = Map::new();
    let mut origins = Vec::new();
    for (field, value) in base {
        let (value, from) = match (rule(field), picked(field)) {
            (Rule::Identity, _) => (value.clone(), vec!["target".to_string()]),
            (_, Some(doc)) => (
                doc.get(field).cloned().unwrap_or(Value::Null),
                keep.get(field).cloned().into_iter().collect(),
            ),
            (Rule::Union, None) => union(field, value, others),
            (Rule::Keyed, None) => keyed(field, value, others, keep),
            (Rule::FirstSet, None) => first_set(field, value, others),
        };
        merged.insert(field.clone(), value.clone());
        origins.push(FieldOrigin {
            field: field.clone(),
            value,
            from,
        });
    }
    (merged, origins)
}

/// For a caller who may not change a customer's company: the target keeps its own, and a
/// `keep` of the company is a conflict.
fn keep_targets_company(
    base: &Map<String, Value>,
    keep: &BTreeMap<String, String>,
    merged: &mut Map<String, Value>,
    origins: &mut [FieldOrigin],
) -> Vec<FieldError> {
    let mut conflicts = Vec::new();
    if keep.contains_key("company_id") {
        conflicts.push(FieldError::new(
            "keep.company_id",
            "your role may not change a customer's company",
        ));
    }
    if merged.get("company_id") != base.get("company_id") {
        let value = base.get("company_id").cloned().unwrap_or(Value::Null);
        merged.insert("company_id".into(), value.clone());
        if let Some(origin) = origins.iter_mut().find(|o| o.field == "company_id") {
            origin.value = value;
            origin.from = vec!["target".into()];
        }
    }
    conflicts
}

/// The sources' primary and alternate emails become the target's alternates (those it does
/// not have yet); answers the new ones.
fn gather_alternates(
    target: &Customer,
    sources: &[Customer],
    merged: &mut Map<String, Value>,
    origins: &mut [FieldOrigin],
) -> Vec<String> {
    let mut new_alternates: Vec<String> = Vec::new();
    for source in sources {
        for email in source.all_emails() {
            let taken = email == target.email()
                || target
                    .profile
                    .alternate_emails
                    .iter()
                    .any(|a| a.as_str() == email)
                || new_alternates.iter().any(|a| a == email);
            if !taken {
                new_alternates.push(email.to_string());
            }
        }
    }
    let alternates: Vec<Value> = target
        .profile
        .alternate_emails
        .iter()
        .map(|e| Value::from(e.as_str()))
        .chain(new_alternates.iter().map(|e| Value::from(e.as_str())))
        .collect();
    merged.insert("alternate_emails".into(), Value::from(alternates.clone()));
    if let Some(origin) = origins.iter_mut().find(|o| o.field == "alternate_emails") {
        origin.value = Value::from(alternates);
        origin.from = std::iter::once("target".to_string())
            .chain(sources.iter().map(|s| s.email().to_string()))
            .collect();
    }
    new_alternates
}

/// Lists and links over their limits after the merge: a keep of one side resolves them.
fn over_limits(merged: &Map<String, Value>) -> Vec<FieldError> {
    let mut conflicts = Vec::new();
    for (field, limit) in [
        ("alternate_emails", MAX_ALTERNATE_EMAILS),
        ("phones", MAX_PHONES),
        ("tags", MAX_TAGS),
        ("entitlements", MAX_ENTITLEMENTS),
    ] {
        let count = merged
            .get(field)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count > limit {
            conflicts.push(FieldError::new(
                field,
                format!(
                    "{count} after the merge, over the limit of {limit}; pick one side with keep"
                ),
            ));
        }
    }
    let social = merged
        .get("social")
        .and_then(Value::as_object)
        .map_or(0, Map::len);
    if social > MAX_SOCIAL_LINKS {
        conflicts.push(FieldError::new(
            "social",
            format!("{social} links after the merge, over the limit of {MAX_SOCIAL_LINKS}"),
        ));
    }
    conflicts
}

/// Every item of the target's list, then each source's items it lacks.
fn union(
    field: &str,
    value: &Value,
    others: &[(String, Map<String, Value>)],
) -> (Value, Vec<String>) {
    let mut items: Vec<Value> = value.as_array().cloned().unwrap_or_default();
    let mut from = vec!["target".to_string()];
    for (email, doc) in others {
        let mut added = false;
        for item in doc
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !items.contains(item) {
                items.push(item.clone());
                added = true;
            }
        }
        if added {
            from.push(email.clone());
        }
    }
    (Value::from(items), from)
}

/// The target's keys, then each source's keys the target lacks (a `keep` of
/// `custom_fields.<key>` takes that key from its source).
fn keyed(
    field: &str,
    value: &Value,
    others: &[(String, Map<String, Value>)],
    keep: &BTreeMap<String, String>,
) -> (Value, Vec<String>) {
    let mut map = value.as_object().cloned().unwrap_or_default();
    let mut from = vec!["target".to_string()];
    for (email, doc) in others {
        for (key, item) in doc
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let wanted = keep.get(&format!("{field}.{key}")) == Some(email);
            if (wanted || !map.contains_key(key)) && !unset(item) {
                map.insert(key.clone(), item.clone());
                if !from.contains(email) {
                    from.push(email.clone());
                }
            }
        }
    }
    (Value::Object(map), from)
}

/// The target's value if it has one, else the first source's that has one.
fn first_set(
    field: &str,
    value: &Value,
    others: &[(String, Map<String, Value>)],
) -> (Value, Vec<String>) {
    if !unset(value) {
        return (value.clone(), vec!["target".into()]);
    }
    others
        .iter()
        .find_map(|(email, doc)| {
            doc.get(field)
                .filter(|v| !unset(v))
                .map(|v| (v.clone(), vec![email.clone()]))
        })
        .unwrap_or((value.clone(), vec!["target".into()]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MergeStatus {
    /// The records are merged; tickets, notes and history are moving to the target.
    Running,
    Succeeded,
    /// The records are restored; tickets, notes and history are moving back.
    Undoing,
    Undone,
}

/// Where a merge's moves are, forward (merge) or back (undo). Each step is idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveStep {
    Tickets,
    Notes,
    History,
    Done,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct MergeCounts {
    pub tickets: u64,
    pub notes: u64,
    pub history: u64,
}

/// A merge, kept as long as it can be undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merge {
    pub id: String,
    pub status: MergeStatus,
    pub step: MoveStep,
    /// The target as it was, and as the merge left it.
    pub target_before: Customer,
    pub target_after: Customer,
    /// The customers merged in, exactly as they were.
    pub sources: Vec<Customer>,
    /// Which source's items are moving, and where in their listing.
    #[serde(default)]
    pub source_index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub counts: MergeCounts,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub undone_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Merge {
    /// Whether the merge's own moves are done with the history of its source `id`: an entry
    /// the change log files under that source later is the log's to move. Before that, the
    /// merge moves it itself, and computes the source's creation with it; undone or undoing,
    /// the source's history stays (or comes back) under the source.
    pub fn moved_history_of(&self, id: &str) -> bool {
        let Some(index) = self.sources.iter().position(|s| s.id == id) else {
            return false;
        };
        match self.status {
            MergeStatus::Succeeded => true,
            MergeStatus::Running => {
                self.step == MoveStep::Done
                    || (self.step == MoveStep::History && self.source_index > index)
            }
            MergeStatus::Undoing | MergeStatus::Undone => false,
        }
    }

    /// Its moves still have work to do.
    pub fn is_running(&self) -> bool {
        matches!(self.status, MergeStatus::Running | MergeStatus::Undoing)
    }

    /// Until when it can be undone; after that its record (with full copies of every
    /// customer it merged) is kept no longer.
    pub fn undo_until(&self) -> Timestamp {
        self.requested_at.plus_days(UNDO_DAYS)
    }

    /// Its undo window has passed and nothing of it runs: it is forgotten (the stores delete
    /// it; until they have, nobody reads it).
    pub fn is_expired(&self, now: &Timestamp) -> bool {
        !self.is_running() && *now > self.undo_until()
    }

    /// The ids of every customer it holds a copy of: the target and the sources.
    pub fn customer_ids(&self) -> Vec<&str> {
        std::iter::once(self.target_before.id.as_str())
            .chain(self.sources.iter().map(|s| s.id.as_str()))
            .collect()
    }
}
