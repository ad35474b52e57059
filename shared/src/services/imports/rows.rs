//! One CSV row → a merge patch over the customer it names.
//!
//! An update takes the row's non-empty values and keeps everything else: single values replace,
//! lists (phones, alternate emails, tags) gain what they lack, address, social links and custom
//! fields merge key by key.

use serde_json::{Map, Value, json};

use crate::domain::customer::Address;
use crate::domain::customer::Customer;
use crate::domain::customer_input::CustomerInput;
use crate::domain::email::Email;
use crate::domain::field::FieldSet;
use crate::domain::field::FieldType;
use crate::domain::import_mapping::{ColumnPlan, Target};

/// The values a row gives, keyed by target, before they meet an existing customer.
#[derive(Debug, Default)]
pub struct RowValues {
    pub email: Email,
    pub company: Option<String>,
    single: Vec<(Target, String)>,
    phones: Vec<String>,
    alternate_emails: Vec<String>,
    tags: Vec<String>,
}

/// Cells holding several values: Google exports join them with " ::: ", people with ; or ,.
fn split_many(cell: &str, extra: &[char]) -> impl Iterator<Item = String> {
    cell.split(":::")
        .flat_map(move |part| part.split(|c: char| c == ';' || extra.contains(&c)))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// `twitter=https://x.com/ann linkedin=https://…`: one social link per `network=url` pair.
fn social_links(cell: &str) -> impl Iterator<Item = (Target, String)> + '_ {
    cell.split_whitespace().filter_map(|pair| {
        let (network, link) = pair.split_once('=')?;
        let network = network.trim().to_ascii_lowercase();
        (!network.is_empty() && !link.is_empty())
            .then(|| (Target::Social(network), link.to_string()))
    })
}

impl RowValues {
    /// The portal access the row names, if it names one (a value that is not an access level
    /// is the row's validation error later).
    pub fn portal_access(&self) -> Option<crate::domain::customer::PortalAccess> {
        self.single
            .iter()
            .find(|(target, value)| *target == Target::PortalAccess && !value.trim().is_empty())
            .and_then(|(_, value)| serde_json::from_value(json!(value.trim().to_lowercase())).ok())
    }

    /// Reads the row's cells through the plan (the email is the already-normalised key).
    pub fn read(plan: &ColumnPlan, record: &[String], email: Email) -> RowValues {
        let mut values = RowValues {
            email,
            ..RowValues::default()
        };
        let mut full_name: Option<String> = None;
        for (target, cell) in plan.targets.iter().zip(record) {
            let cell = crate::domain::customer_csv::unguard(cell.trim());
            let Some(target) = target else { continue };
            if cell.is_empty() {
                continue;
            }
            match target {
                Target::Email => {}
                Target::Phones => values.phones.extend(split_many(cell, &[])),
                Target::AlternateEmails => values
                    .alternate_emails
                    .extend(split_many(cell, &[',', ' '])),
                Target::Tags => values.tags.extend(split_many(cell, &[',', ' '])),
                Target::Company => values.company = Some(cell.to_string()),
                Target::FullName => full_name = Some(cell.to_string()),
                Target::SocialLinks => values.single.extend(social_links(cell)),
                other => values.single.push((other.clone(), cell.to_string())),
            }
        }
        if let Some(name) = full_name {
            let (first, last) = crate::services::customers::split_full_name(&name);
            for (target, value) in [(Target::FirstName, first), (Target::LastName, last)] {
                if let Some(value) = value {
                    values.single.push((target, value));
                }
            }
        }
        values
    }

    /// Whether the row gives a value for `target` (for the `required` option).
    pub fn has(&self, target: &Target) -> bool {
        match target {
            Target::Email => !self.email.is_empty(),
            Target::Phones => !self.phones.is_empty(),
            Target::AlternateEmails => !self.alternate_emails.is_empty(),
            Target::Tags => !self.tags.is_empty(),
            Target::Company => self.company.is_some(),
            Target::FullName => self
                .single
                .iter()
                .any(|(t, _)| matches!(t, Target::FirstName | Target::LastName)),
            other => self.single.iter().any(|(t, _)| t == other),
        }
    }

    /// A new customer's input, built directly (no JSON round trip on the import's hot path);
    /// it is validated like any other input. `None` when a value cannot even be typed (an
    /// unknown portal access): the caller then goes through [`RowValues::patch`], whose parse
    /// names the problem.
    pub fn new_customer_input(
        &self,
        fields: &FieldSet,
        company_id: Option<&str>,
    ) -> Option<CustomerInput> {
        let mut input = CustomerInput {
            email: Some(self.email.to_string()),
            company_id: company_id.map(|id| Some(id.to_string())),
            ..CustomerInput::default()
        };
        let primary = self.email.as_str();
        let distinct = |values: &[String], normalise: fn(&str) -> String| {
            let mut all: Vec<String> = Vec::new();
            for value in values.iter().map(|v| normalise(v)) {
                if !all.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
                    all.push(value);
                }
            }
            (!all.is_empty()).then_some(all)
        };
        input.phones = distinct(&self.phones, |v| v.to_string());
        input.tags = distinct(&self.tags, str::to_lowercase);
        input.alternate_emails = distinct(&self.alternate_emails, |v| v.to_string()).map(|all| {
            all.into_iter()
                .filter(|e| !e.eq_ignore_ascii_case(primary))
                .collect()
        });
        for (target, value) in &self.single {
            let value = value.clone();
            match target {
                Target::FirstName => input.first_name = Some(value),
                Target::LastName => input.last_name = Some(value),
                Target::Notes => input.notes = Some(value),
                Target::Avatar => input.avatar = Some(value),
                Target::PortalAccess => {
                    input.portal_access =
                        Some(serde_json::from_value(json!(value.to_lowercase())).ok()?);
                }
                Target::Address(part) => {
                    let address = input.address.get_or_insert_with(Address::default);
                    let slot = match *part {
                        "line1" => &mut address.line1,
                        "line2" => &mut address.line2,
                        "city" => &mut address.city,
                        "region" => &mut address.region,
                        "postal_code" => &mut address.postal_code,
                        _ => &mut address.country,
                    };
                    *slot = Some(value);
                }
                Target::Social(network) => {
                    input
                        .social
                        .get_or_insert_with(Default::default)
                        .insert(network.clone(), value);
                }
                Target::Custom(key) => {
                    let converted = custom_value(fields, key, &value);
                    input
                        .custom_fields
                        .get_or_insert_with(Default::default)
                        .insert(key.clone(), converted);
                }
                _ => {}
            }
        }
        Some(input)
    }

    /// The merge patch this row applies to `existing` (None: a new customer).
    pub fn patch(
        &self,
        existing: Option<&Customer>,
        fields: &FieldSet,
        company_id: Option<&str>,
    ) -> Value {
        let mut patch = Map::new();
        if existing.is_none() {
            patch.insert("email".into(), json!(self.email));
        }
        let union = |current: &[String], new: &[String]| {
            let mut all: Vec<String> = current.to_vec();
            for value in new {
                if !all.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                    all.push(value.clone());
                }
            }
            all
        };
        let profile = existing.map(|c| &c.profile);
        if !self.phones.is_empty() {
            patch.insert(
                "phones".into(),
                json!(union(
                    profile.map(|p| p.phones.as_slice()).unwrap_or(&[]),
                    &self.phones
                )),
            );
        }
        if !self.alternate_emails.is_empty() {
            let primary = existing
                .map(|c| c.email())
                .unwrap_or(&self.email)
                .to_string();
            let new: Vec<String> = self
                .alternate_emails
                .iter()
                .filter(|e| !e.eq_ignore_ascii_case(&primary))
                .cloned()
                .collect();
            let current: Vec<String> = profile
                .map(|p| p.alternate_emails.iter().map(Email::to_string).collect())
                .unwrap_or_default();
            let all = union(&current, &new);
            patch.insert("alternate_emails".into(), json!(all));
        }
        if !self.tags.is_empty() {
            let lower: Vec<String> = self.tags.iter().map(|t| t.to_lowercase()).collect();
            patch.insert(
                "tags".into(),
                json!(union(
                    profile.map(|p| p.tags.as_slice()).unwrap_or(&[]),
                    &lower
                )),
            );
        }
        if let Some(company) = company_id {
            patch.insert("company_id".into(), json!(company));
        }
        for (target, value) in &self.single {
            match target {
                Target::FirstName => insert(&mut patch, &["first_name"], json!(value)),
                Target::LastName => insert(&mut patch, &["last_name"], json!(value)),
                Target::Notes => insert(&mut patch, &["notes"], json!(value)),
                Target::Avatar => insert(&mut patch, &["avatar"], json!(value)),
                Target::PortalAccess => {
                    insert(&mut patch, &["portal_access"], json!(value.to_lowercase()))
                }
                Target::Address(part) => insert(&mut patch, &["address", part], json!(value)),
                Target::Social(network) => insert(&mut patch, &["social", network], json!(value)),
                Target::Custom(key) => insert(
                    &mut patch,
                    &["custom_fields", key],
                    custom_value(fields, key, value),
                ),
                _ => {}
            }
        }
        Value::Object(patch)
    }
}

fn insert(patch: &mut Map<String, Value>, path: &[&str], value: Value) {
    match path {
        [key] => {
            patch.insert((*key).to_string(), value);
        }
        [key, rest @ ..] => {
            let entry = patch
                .entry((*key).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert(inner, rest, value);
            }
        }
        [] => {}
    }
}

/// A cell's text as the JSON value its custom field's type expects; what cannot be converted
/// stays text, and the field's own validation names the problem.
fn custom_value(fields: &FieldSet, key: &str, cell: &str) -> Value {
    let Some(definition) = fields.get(key) else {
        return json!(cell);
    };
    match definition.field_type {
        // As JSON reads it first, so `12` stays the integer the API stored (not 12.0) and an
        // exported number imports back equal; then anything Rust reads as a finite number.
        FieldType::Number => serde_json::from_str::<serde_json::Number>(cell)
            .ok()
            .map(Value::Number)
            .or_else(|| {
                cell.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(|n| json!(n))
            })
            .unwrap_or(json!(cell)),
        FieldType::Boolean => match cell.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => json!(true),
            "false" | "no" | "n" | "0" => json!(false),
            _ => json!(cell),
        },
        FieldType::Multiselect => json!(split_many(cell, &[',']).collect::<Vec<_>>()),
        _ => json!(cell),
    }
}
