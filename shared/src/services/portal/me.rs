//! A customer's own profile in the portal: their names and phones, nothing else.

use serde_json::{Map, Value};

use super::{PortalCaller, PortalService};
use crate::domain::customer::Customer;
use crate::domain::customer_input::CustomerInput;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::field::FieldSet;
use crate::domain::history::Actor;
use crate::domain::patch::Command;

/// What a customer may change of themselves.
const OWN_FIELDS: [&str; 3] = ["first_name", "last_name", "phones"];

impl PortalService {
    /// Changes the customer's first and last name and phones (a JSON Merge Patch of those
    /// three); any other field is refused by name. Validated as every other write is.
    pub async fn update_me(
        &self,
        caller: &PortalCaller,
        patch: Value,
    ) -> Result<Customer, HelpdeskError> {
        let object = patch
            .as_object()
            .ok_or_else(|| HelpdeskError::bad_request("body", "must be a JSON object"))?;
        if let Some(field) = object.keys().find(|k| !OWN_FIELDS.contains(&k.as_str())) {
            return Err(HelpdeskError::forbidden(
                Some(field),
                "only your name and phones can be changed here; ask support for the rest",
            ));
        }
        let current = &caller.customer;
        let mut document = Map::new();
        document.insert("email".into(), Value::String(current.email().to_string()));
        for field in OWN_FIELDS {
            let value = match object.get(field) {
                Some(value) => value.clone(),
                None => serde_json::to_value(own_value(current, field))
                    .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?,
            };
            if !value.is_null() {
                document.insert(field.into(), value);
            }
        }
        let checked = CustomerInput::parse(Value::Object(document))?
            .into_profile(&FieldSet::default())
            .map_err(HelpdeskError::Validation)?;
        let mut profile = current.profile.clone();
        profile.first_name = checked.first_name;
        profile.last_name = checked.last_name;
        profile.phones = checked.phones;
        if profile == current.profile {
            return Ok(current.clone());
        }
        let by = Actor::Portal {
            customer: current.id.clone(),
        };
        let next = current.next_version(profile, &crate::domain::clock::now(), by);
        match self.customers.replace_customer(current, &next).await {
            Err(StoreError::VersionMismatch) => Err(HelpdeskError::conflict(
                "customer",
                "your details changed meanwhile; try again",
            )),
            other => Ok(other.map(|()| next)?),
        }
    }
}

fn own_value(customer: &Customer, field: &str) -> Value {
    let profile = &customer.profile;
    match field {
        "first_name" => profile.first_name.clone().into(),
        "last_name" => profile.last_name.clone().into(),
        _ => profile.phones.clone().into(),
    }
}
