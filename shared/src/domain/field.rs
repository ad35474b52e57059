//! Custom field definitions: what extra data a team keeps on customers, who may see and edit it.

use crate::domain::timestamp::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::caller::Caller;
use crate::domain::caller::Role;
use crate::domain::error::HelpdeskError;
use crate::domain::patch::Command;
use crate::domain::validation::Errors;
use crate::domain::validation::check_url;
use crate::domain::validation::normalize_email;
use crate::domain::validation::normalize_phone;
use crate::domain::validation::parse_date;
use crate::domain::validation::single_line_text;

pub const MAX_OPTIONS: usize = 200;
pub const MAX_TEXT_VALUE: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Date,
    Select,
    Multiselect,
    Url,
    Email,
    Phone,
}

impl FieldType {
    pub(crate) fn has_options(self) -> bool {
        matches!(self, FieldType::Select | FieldType::Multiselect)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDefinition {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub options: Vec<String>,
    pub required: bool,
    /// Roles that see the field; admins always do.
    pub view_roles: Vec<Role>,
    /// Roles that may write the field; admins always may.
    pub edit_roles: Vec<Role>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl FieldDefinition {
    pub fn can_view(&self, caller: &Caller) -> bool {
        caller.is_admin() || caller.has_any_role(&self.view_roles)
    }
    pub fn can_edit(&self, caller: &Caller) -> bool {
        caller.is_admin() || caller.has_any_role(&self.edit_roles)
    }

    /// Checks (and normalises) one value against this definition.
    pub fn check_value(&self, value: Value) -> Result<Value, String> {
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| "must be a string".to_string())
        };
        match self.field_type {
            FieldType::Text => {
                let s = text(&value)?;
                if s.chars().count() > MAX_TEXT_VALUE {
                    return Err(format!("must be at most {MAX_TEXT_VALUE} characters"));
                }
                // Text fields may hold several lines, never other control characters.
                if s.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    return Err("must not contain control characters".into());
                }
                Ok(Value::String(s))
            }
            FieldType::Number => match value.as_f64() {
                Some(n) if n.is_finite() => Ok(value),
                _ => Err("must be a number".into()),
            },
            FieldType::Boolean => value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| "must be true or false".into()),
            FieldType::Date => {
                let s = text(&value)?;
                parse_date(s.trim())?;
                Ok(Value::String(s.trim().to_string()))
            }
            FieldType::Select => {
                let s = text(&value)?;
                self.option(&s).map(Value::String)
            }
            FieldType::Multiselect => {
                let items = value.as_array().ok_or("must be an array of options")?;
                let mut chosen = Vec::new();
                for item in items {
                    let option = self.option(&text(item)?)?;
                    if !chosen.contains(&option) {
                        chosen.push(option);
                    }
                }
                Ok(Value::from(chosen))
            }
            FieldType::Url => Ok(Value::String(check_url(&text(&value)?)?)),
            FieldType::Email => Ok(Value::String(normalize_email(&text(&value)?)?)),
            FieldType::Phone => Ok(Value::String(normalize_phone(&text(&value)?)?)),
        }
    }

    /// Options match case-insensitively and are stored as defined.
    fn option(&self, raw: &str) -> Result<String, String> {
        self.options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(raw.trim()))
            .cloned()
            .ok_or_else(|| format!("must be one of: {}", self.options.join(", ")))
    }
}

/// The definitions in force for one request.
#[derive(Debug, Clone, Default)]
pub struct FieldSet(BTreeMap<String, FieldDefinition>);

impl FieldSet {
    pub fn new(definitions: Vec<FieldDefinition>) -> Self {
        Self(
            definitions
                .into_iter()
                .map(|d| (d.key.clone(), d))
                .collect(),
        )
    }
    pub fn get(&self, key: &str) -> Option<&FieldDefinition> {
        self.0.get(key)
    }
    pub fn iter(&self) -> impl Iterator<Item = &FieldDefinition> {
        self.0.values()
    }
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    key: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: Option<FieldType>,
    options: Option<Vec<String>>,
    required: Option<bool>,
    view_roles: Option<Vec<Role>>,
    edit_roles: Option<Vec<Role>>,
}

impl Command for FieldInput {
    const READ_ONLY: &'static [&'static str] = &["created_at", "updated_at", "version"];
}

pub(crate) fn validate_key(raw: &str) -> Result<String, String> {
    let key = raw.trim();
    let ok = (1..=64).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(key.to_string())
    } else {
        Err(
            "must be 1-64 characters: lower-case letters, digits and _, starting with a letter"
                .into(),
        )
    }
}

impl FieldInput {
    pub(crate) fn into_definition(
        self,
        existing: Option<&FieldDefinition>,
    ) -> Result<FieldDefinition, HelpdeskError> {
        let mut errors = Errors::default();
        let key = match (&self.key, existing) {
            (Some(k), None) => errors.check("key", validate_key(k)),
            (None, None) => {
                errors.add("key", "is required");
                None
            }
            (Some(k), Some(e)) if k != &e.key => {
                errors.add("key", "cannot be changed");
                None
            }
            (_, Some(e)) => Some(e.key.clone()),
        };
        let label = match errors.check("label", single_line_text(self.label, 200)) {
            Some(Some(label)) => Some(label),
            Some(None) => {
                errors.add("label", "is required");
                None
            }
            None => None,
        };
        let field_type = match (self.field_type, existing) {
            (Some(t), Some(e)) if t != e.field_type => {
                errors.add("type", "cannot be changed; create a new field instead");
                None
            }
            (Some(t), _) => Some(t),
            (None, _) => {
                errors.add("type", "is required");
                None
            }
        };
        let options: Vec<String> = self
            .options
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.trim().to_string())
            .collect();
        if let Some(t) = field_type {
            if t.has_options() && options.is_empty() {
                errors.add(
                    "options",
                    "select and multiselect fields need at least one option",
                );
            }
            if !t.has_options() && !options.is_empty() {
                errors.add("options", "only select and multiselect fields have options");
            }
        }
        if options.len() > MAX_OPTIONS {
            errors.add("options", format!("at most {MAX_OPTIONS} options"));
        }
        let mut seen = BTreeSet::new();
        for (i, option) in options.iter().enumerate() {
            if option.is_empty() || option.chars().count() > 200 {
                errors.add(format!("options[{i}]"), "options are 1-200 characters");
            } else if option.chars().any(char::is_control) {
                errors.add(
                    format!("options[{i}]"),
                    "must be a single line without control characters",
                );
            } else if !seen.insert(option.to_lowercase()) {
                errors.add(format!("options[{i}]"), "is a duplicate");
            }
        }
        if !errors.is_empty() {
            return Err(HelpdeskError::Validation(errors.into_vec()));
        }
        let roles = |r: Option<Vec<Role>>| {
            let set: BTreeSet<Role> = r
                .unwrap_or_else(|| Role::ALL.to_vec())
                .into_iter()
                .collect();
            set.into_iter().collect::<Vec<_>>()
        };
        let now = crate::domain::clock::now();
        Ok(FieldDefinition {
            key: key.unwrap_or_default(),
            label: label.unwrap_or_default(),
            field_type: field_type.unwrap_or(FieldType::Text),
            options,
            required: self.required.unwrap_or(false),
            view_roles: roles(self.view_roles),
            edit_roles: roles(self.edit_roles),
            created_at: existing
                .map(|e| e.created_at.clone())
                .unwrap_or_else(|| now.clone()),
            updated_at: now,
            version: existing.map(|e| e.version + 1).unwrap_or(1),
        })
    }
}
