//! What clients send for customers: a new customer (or the whole record a change makes), a
//! note, a batch; parsed as [`Command`]s and validated into a [`Profile`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::domain::customer::*;
use crate::domain::email::Email;
use crate::domain::field::FieldSet;
use crate::domain::patch::Command;
use crate::domain::validation::{
    Errors, FieldError, check_url, dedup_in_order, normalize_phone, optional_text, parse_date,
    single_line_text,
};

/// What a client may send for a customer. Unknown fields are refused, so typos do not vanish.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phones: Option<Vec<String>>,
    pub alternate_emails: Option<Vec<String>>,
    // `Some(_)` whenever the document names it, `null` included: naming it at all needs the
    // permission to manage companies.
    #[serde(default, deserialize_with = "crate::domain::patch::present")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub company_id: Option<Option<String>>,
    pub address: Option<Address>,
    pub social: Option<BTreeMap<String, String>>,
    pub avatar: Option<String>,
    pub custom_fields: Option<BTreeMap<String, Value>>,
    pub tags: Option<Vec<String>>,
    pub portal_access: Option<PortalAccess>,
    pub notes: Option<String>,
    pub entitlements: Option<Vec<Entitlement>>,
    /// Only on create: queue a welcome email (sent by the notifier).
    pub send_welcome: Option<bool>,
}

impl Command for CustomerInput {
    const READ_ONLY: &'static [&'static str] =
        &["id", "created_at", "updated_at", "version", "welcome"];
}

impl CustomerInput {
    /// Normalises and validates every field, reporting all problems at once.
    pub fn into_profile(self, fields: &FieldSet) -> Result<Profile, Vec<FieldError>> {
        let mut errors = Errors::default();
        let email = match self.email {
            Some(raw) => errors.check("email", Email::parse(&raw)),
            None => {
                errors.add("email", "is required");
                None
            }
        };
        let first_name = name(&mut errors, "first_name", self.first_name);
        let last_name = name(&mut errors, "last_name", self.last_name);
        let phones = list_of(
            &mut errors,
            "phones",
            self.phones.unwrap_or_default(),
            MAX_PHONES,
            normalize_phone,
        );
        let mut alternate_emails = list_of(
            &mut errors,
            "alternate_emails",
            self.alternate_emails.unwrap_or_default(),
            MAX_ALTERNATE_EMAILS,
            Email::parse,
        );
        if let Some(primary) = &email {
            alternate_emails.retain(|alt| alt != primary);
        }
        let company_id = self
            .company_id
            .flatten()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let address = self.address.and_then(|a| validate_address(&mut errors, a));
        let social = validate_social(&mut errors, self.social.unwrap_or_default());
        let avatar = validate_avatar(&mut errors, self.avatar);
        let custom_fields =
            validate_custom_fields(&mut errors, self.custom_fields.unwrap_or_default(), fields);
        let tags = list_of(
            &mut errors,
            "tags",
            self.tags.unwrap_or_default(),
            MAX_TAGS,
            normalize_tag,
        );
        let notes = errors
            .check("notes", optional_text(self.notes, MAX_NOTES_CHARS))
            .flatten();
        let entitlements =
            validate_entitlements(&mut errors, self.entitlements.unwrap_or_default());
        if !errors.is_empty() {
            return Err(errors.into_vec());
        }
        Ok(Profile {
            email: email.unwrap_or_default(),
            first_name,
            last_name,
            phones,
            alternate_emails,
            company_id,
            address,
            social,
            avatar,
            custom_fields,
            tags,
            portal_access: self.portal_access.unwrap_or_default(),
            notes,
            entitlements,
        })
    }
}

fn name(errors: &mut Errors, field: &str, value: Option<String>) -> Option<String> {
    errors
        .check(field, single_line_text(value, MAX_NAME_CHARS))
        .flatten()
}

/// Links by network name (`linkedin`, `x`, …): at most [`MAX_SOCIAL_LINKS`], each a URL.
fn validate_social(
    errors: &mut Errors,
    links: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut social = BTreeMap::new();
    if links.len() > MAX_SOCIAL_LINKS {
        errors.add("social", format!("at most {MAX_SOCIAL_LINKS} links"));
    }
    for (network, link) in links {
        let key = network.trim().to_ascii_lowercase();
        let key_ok = !key.is_empty()
            && key.len() <= 32
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !key_ok {
            errors.add(
                format!("social.{network}"),
                "network names are 1-32 letters, digits, _ or -",
            );
        } else if let Some(url) = errors.check(format!("social.{network}"), check_url(&link)) {
            social.insert(key, url);
        }
    }
    social
}

/// A client-given avatar: an object key (relative, no `..`), never fetched by the server.
fn validate_avatar(errors: &mut Errors, avatar: Option<String>) -> Option<String> {
    let avatar = avatar
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    if let Some(key) = &avatar {
        let ok = key.len() <= 1024
            && !key.starts_with('/')
            && !key.split('/').any(|p| p == "..")
            && !key.chars().any(char::is_control);
        if !ok {
            errors.add(
                "avatar",
                "must be an object key: at most 1024 characters, relative, without '..'",
            );
        }
    }
    avatar
}

/// Each value checked against its definition; required fields must have one.
fn validate_custom_fields(
    errors: &mut Errors,
    values: BTreeMap<String, Value>,
    fields: &FieldSet,
) -> BTreeMap<String, Value> {
    let mut custom_fields = BTreeMap::new();
    for (key, value) in values {
        if value.is_null() {
            continue;
        }
        let path = format!("custom_fields.{key}");
        match fields.get(&key) {
            None => errors.add(path, "is not a defined custom field"),
            Some(definition) => {
                if let Some(value) = errors.check(path, definition.check_value(value)) {
                    custom_fields.insert(key, value);
                }
            }
        }
    }
    for definition in fields.iter().filter(|d| d.required) {
        if !custom_fields.contains_key(&definition.key) {
            errors.add(format!("custom_fields.{}", definition.key), "is required");
        }
    }
    custom_fields
}

fn validate_entitlements(errors: &mut Errors, entitlements: Vec<Entitlement>) -> Vec<Entitlement> {
    if entitlements.len() > MAX_ENTITLEMENTS {
        errors.add(
            "entitlements",
            format!("at most {MAX_ENTITLEMENTS} entitlements"),
        );
    }
    entitlements
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| validate_entitlement(errors, i, e))
        .collect()
}

pub(crate) fn list_of<T: Ord + Clone>(
    errors: &mut Errors,
    field: &str,
    values: Vec<String>,
    max: usize,
    check: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    if values.len() > max {
        errors.add(field, format!("at most {max} items"));
        return Vec::new();
    }
    let checked = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| errors.check(format!("{field}[{i}]"), check(v)))
        .collect();
    dedup_in_order(checked)
}

/// Tags are case-insensitive single words, as in most helpdesks.
pub(crate) fn normalize_tag(raw: &str) -> Result<String, String> {
    let tag = raw.trim().to_lowercase();
    if tag.is_empty() || tag.chars().count() > 64 {
        return Err("tags are 1-64 characters".into());
    }
    if tag
        .chars()
        .any(|c| c.is_whitespace() || c == ',' || c.is_control())
    {
        return Err("tags may not contain spaces or commas".into());
    }
    Ok(tag)
}

pub(crate) fn validate_address(errors: &mut Errors, address: Address) -> Option<Address> {
    let mut part = |name: &str, value: Option<String>| {
        errors
            .check(format!("address.{name}"), single_line_text(value, 200))
            .flatten()
    };
    let address = Address {
        line1: part("line1", address.line1),
        line2: part("line2", address.line2),
        city: part("city", address.city),
        region: part("region", address.region),
        postal_code: part("postal_code", address.postal_code),
        country: part("country", address.country),
    };
    (address != Address::default()).then_some(address)
}

pub(crate) fn validate_entitlement(
    errors: &mut Errors,
    index: usize,
    entitlement: Entitlement,
) -> Option<Entitlement> {
    let field = format!("entitlements[{index}]");
    let name = errors.check(
        format!("{field}.name"),
        single_line_text(Some(entitlement.name), MAX_NAME_CHARS),
    );
    let name = match name {
        Some(Some(name)) => Some(name),
        Some(None) => {
            errors.add(format!("{field}.name"), "is required");
            None
        }
        None => None,
    };
    let mut date = |which: &str, raw: Option<String>| match raw
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
    {
        None => Some(None),
        Some(d) => errors
            .check(format!("{field}.{which}"), parse_date(&d))
            .map(|parsed| Some((d, parsed))),
    };
    let start = date("start", entitlement.start);
    let end = date("end", entitlement.end);
    let (name, start, end) = (name?, start?, end?);
    if let (Some((_, s)), Some((_, e))) = (&start, &end)
        && s > e
    {
        errors.add(format!("{field}.end"), "must not be before start");
        return None;
    }
    Some(Entitlement {
        name,
        start: start.map(|(d, _)| d),
        end: end.map(|(d, _)| d),
    })
}

/// A new internal note.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub text: String,
}

impl Command for NoteInput {}

/// Up to 100 customers created or updated at once: either `customers` (each created or
/// updated by email; an item changes only the fields it names) or `emails` (a comma-,
/// semicolon- or newline-separated list of addresses).
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "http", schema(as = BatchInput))]
#[serde(deny_unknown_fields)]
pub struct CustomerBatch {
    #[cfg_attr(feature = "http", schema(max_items = 100, value_type = Option<Vec<Object>>))]
    pub customers: Option<Vec<Value>>,
    pub emails: Option<String>,
}

impl Command for CustomerBatch {}
