//! Custom field definitions: what extra data a team keeps on customers, who may see and edit it.

use serde_json::Value;

use crate::domain::caller::Caller;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::field::*;
use crate::domain::patch::Command;
use crate::domain::patch::Precondition;
use crate::domain::patch::merge_patch;
use crate::domain::patch::reject_read_only;
use std::sync::Arc;

use crate::ports::store::FieldStore;

/// Custom field definitions: reading them (every customer operation does) and, for admins,
/// defining them.
#[derive(Clone)]
pub struct FieldService {
    store: Arc<dyn FieldStore>,
}

impl FieldService {
    pub fn new(store: Arc<dyn FieldStore>) -> Self {
        Self { store }
    }

    /// The definitions in force, read once per request that needs them.
    pub async fn field_set(&self) -> Result<FieldSet, HelpdeskError> {
        Ok(FieldSet::new(self.store.list_fields().await?))
    }

    pub async fn list_fields(
        &self,
        caller: &Caller,
    ) -> Result<Vec<FieldDefinition>, HelpdeskError> {
        caller.require_admin()?;
        Ok(self.store.list_fields().await?)
    }

    pub async fn get_field(
        &self,
        caller: &Caller,
        key: &str,
    ) -> Result<FieldDefinition, HelpdeskError> {
        caller.require_admin()?;
        self.find_field(key).await
    }

    async fn find_field(&self, key: &str) -> Result<FieldDefinition, HelpdeskError> {
        self.field_set()
            .await?
            .get(key)
            .cloned()
            .ok_or_else(|| HelpdeskError::NotFound(format!("custom field {key}")))
    }

    pub async fn create_field(
        &self,
        caller: &Caller,
        input: FieldInput,
    ) -> Result<FieldDefinition, HelpdeskError> {
        caller.require_admin()?;
        let definition = input.into_definition(None)?;
        self.store.insert_field(&definition).await?;
        Ok(definition)
    }

    /// Changes a field definition: a merge patch; `key` and `type` cannot change.
    pub async fn update_field(
        &self,
        caller: &Caller,
        key: &str,
        precondition: Option<Precondition>,
        patch: Value,
    ) -> Result<FieldDefinition, HelpdeskError> {
        caller.require_admin()?;
        let object = patch
            .as_object()
            .ok_or_else(|| HelpdeskError::bad_request("body", "must be a JSON object"))?;
        reject_read_only(object, FieldInput::READ_ONLY)?;
        let current = self.find_field(key).await?;
        if precondition.is_some_and(|p| !p.matches(current.version)) {
            return Err(HelpdeskError::PreconditionFailed);
        }
        let mut base = serde_json::to_value(&current)
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        if let Some(b) = base.as_object_mut() {
            for field in FieldInput::READ_ONLY {
                b.remove(*field);
            }
        }
        let input = FieldInput::parse(merge_patch(base, patch))?;
        let next = input.into_definition(Some(&current))?;
        match self.store.replace_field(&current, &next).await {
            Err(StoreError::VersionMismatch) => Err(HelpdeskError::PreconditionFailed),
            other => other.map(|()| next).map_err(Into::into),
        }
    }
}
