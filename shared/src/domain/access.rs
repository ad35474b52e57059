//! What one caller may see and change on a customer record. Every path that writes a customer
//! (API create, patch and batch; CSV import) goes through this type, so the rule lives here only.
//!
//! - A custom field the caller may not view does not exist for them: writing it is the same
//!   error as writing an undefined field, and no error or report names it.
//! - A field the caller may view but not edit is refused with a 403 when named.
//! - Whatever shape a change takes (`custom_fields: null`, an object, nested values), the parts
//!   the caller may not edit are carried over from the current record unchanged.
//! - `required` binds only callers who may edit the field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::caller::Caller;
use crate::domain::customer::PortalAccess;
use crate::domain::customer::Profile;
use crate::domain::customer_input::CustomerInput;
use crate::domain::error::HelpdeskError;
use crate::domain::field::FieldSet;
use crate::domain::patch::{Command, reject_read_only};
use crate::domain::validation::FieldError;

#[derive(Debug, Clone)]
pub struct CustomerAccess {
    caller: Caller,
    visible: FieldSet,
    /// Visible and editable: a field one may write but not read would leak through errors.
    editable: FieldSet,
}

impl CustomerAccess {
    pub fn new(caller: &Caller, fields: &FieldSet) -> Self {
        let visible: Vec<_> = fields
            .iter()
            .filter(|d| d.can_view(caller))
            .cloned()
            .collect();
        let editable = visible
            .iter()
            .filter(|d| d.can_edit(caller))
            .cloned()
            .collect();
        Self {
            caller: caller.clone(),
            visible: FieldSet::new(visible),
            editable: FieldSet::new(editable),
        }
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The definitions the caller sees: the only ones an import column can map to.
    pub fn visible_fields(&self) -> &FieldSet {
        &self.visible
    }

    /// The definitions the caller's input is validated against (and whose `required` binds).
    pub fn editable_fields(&self) -> &FieldSet {
        &self.editable
    }

    /// Refuses what the caller may not send in a new customer: a company without the
    /// permission, and custom fields they see but may not edit.
    pub fn check_input(&self, input: &CustomerInput) -> Result<(), HelpdeskError> {
        let custom = input.custom_fields.iter().flat_map(|m| m.keys());
        self.check_portal_grant(
            input
                .portal_access
                .is_some_and(PortalAccess::is_company_wide),
        )?;
        self.check_named(input.company_id.is_some(), custom)
    }

    /// `company_read` and `company` portal access are company permissions.
    fn check_portal_grant(&self, grants_company: bool) -> Result<(), HelpdeskError> {
        if grants_company {
            self.caller
                .require_manage_companies(Some("portal_access"))?;
        }
        Ok(())
    }

    /// Refuses what the caller may not send in a change (a merge patch, a batch item) before
    /// anything is read: server-owned fields, a company without the permission, and custom
    /// fields they see but may not edit.
    pub fn check_document(&self, document: &Value) -> Result<(), HelpdeskError> {
        let object = document
            .as_object()
            .ok_or_else(|| HelpdeskError::bad_request("body", "must be a JSON object"))?;
        reject_read_only(object, CustomerInput::READ_ONLY)?;
        let custom = object
            .get("custom_fields")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys());
        let grants_company = object
            .get("portal_access")
            .and_then(Value::as_str)
            .is_some_and(|raw| matches!(raw.trim(), "company" | "company_read"));
        self.check_portal_grant(grants_company)?;
        self.check_named(object.contains_key("company_id"), custom)
    }

    /// Whether the caller may name a company (`company`) and each of the custom fields named.
    fn check_named<'k>(
        &self,
        company: bool,
        custom: impl Iterator<Item = &'k String>,
    ) -> Result<(), HelpdeskError> {
        if company {
            self.caller.require_manage_companies(Some("company_id"))?;
        }
        let denied: Vec<FieldError> = custom
            .filter(|key| self.visible.get(key).is_some() && self.editable.get(key).is_none())
            .map(|key| {
                FieldError::new(
                    format!("custom_fields.{key}"),
                    "your role may not edit this field",
                )
            })
            .collect();
        if denied.is_empty() {
            return Ok(());
        }
        Err(HelpdeskError::Forbidden {
            detail: "your role may not edit some custom fields".into(),
            errors: denied,
        })
    }

    /// Refuses a change of a record from `before` to `after` that the caller could not make
    /// themselves (an undo restores fields other people set): its company without the
    /// permission, or custom fields they may not edit. Fields they may not see are not named.
    pub fn check_change(&self, before: &Profile, after: &Profile) -> Result<(), HelpdeskError> {
        if before.company_id != after.company_id {
            self.caller.require_manage_companies(Some("company_id"))?;
        }
        let portal_changed = before.portal_access != after.portal_access;
        self.check_portal_grant(
            portal_changed
                && (before.portal_access.is_company_wide()
                    || after.portal_access.is_company_wide()),
        )?;
        let keys: std::collections::BTreeSet<&String> = before
            .custom_fields
            .keys()
            .chain(after.custom_fields.keys())
            .collect();
        let changed: Vec<&String> = keys
            .into_iter()
            .filter(|key| before.custom_fields.get(*key) != after.custom_fields.get(*key))
            .filter(|key| self.editable.get(key).is_none())
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let errors = changed
            .iter()
            .filter(|key| self.visible.get(key).is_some())
            .map(|key| {
                FieldError::new(
                    format!("custom_fields.{key}"),
                    "your role may not edit this field",
                )
            })
            .collect();
        Err(HelpdeskError::Forbidden {
            detail: "this changes fields your role may not edit".into(),
            errors,
        })
    }

    /// The record as the caller may edit it: the base a merge patch applies to. Custom fields
    /// they may not edit are left out, so `null` cannot remove them and validation never
    /// reports them.
    pub fn editable_document(&self, profile: &Profile) -> Result<Value, HelpdeskError> {
        let mut document =
            serde_json::to_value(profile).map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        if let Some(custom) = document
            .get_mut("custom_fields")
            .and_then(Value::as_object_mut)
        {
            custom.retain(|key, _| self.editable.get(key).is_some());
        }
        Ok(document)
    }

    /// The profile to store after the caller's change: every part they may not edit is as it
    /// was in `current` (nothing, for a new customer).
    pub fn confine(&self, current: Option<&Profile>, mut next: Profile) -> Profile {
        let mut custom: BTreeMap<String, Value> = next
            .custom_fields
            .into_iter()
            .filter(|(key, _)| self.editable.get(key).is_some())
            .collect();
        if let Some(current) = current {
            for (key, value) in &current.custom_fields {
                if self.editable.get(key).is_none() {
                    custom.insert(key.clone(), value.clone());
                }
            }
            if !self.caller.can_manage_companies() {
                next.company_id = current.company_id.clone();
                if next.portal_access.is_company_wide() || current.portal_access.is_company_wide() {
                    next.portal_access = current.portal_access;
                }
            }
        }
        next.custom_fields = custom;
        next
    }
}
