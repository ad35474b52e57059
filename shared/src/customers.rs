//! Customers: the record, its rules, and the service operations on it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Helpdesk;
use crate::auth::Caller;
use crate::error::HelpdeskError;
use crate::fields::{FieldDefinition, FieldSet};
use crate::patch::{Precondition, merge_patch, parse_input, reject_read_only};
use crate::store::{CustomerQuery, Page, StoreError};
use crate::validation::{
    Errors, FieldError, check_url, dedup_in_order, normalize_email, normalize_phone, optional_text,
    parse_date,
};

pub const MAX_ALTERNATE_EMAILS: usize = 20;
pub const MAX_PHONES: usize = 20;
pub const MAX_TAGS: usize = 100;
pub const MAX_ENTITLEMENTS: usize = 50;
pub const MAX_SOCIAL_LINKS: usize = 20;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_NOTES_CHARS: usize = 20_000;
pub const MAX_BATCH: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalAccess {
    /// The customer sees only their own tickets.
    #[default]
    Own,
    /// The customer sees every ticket of their company.
    Company,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    pub name: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WelcomeStatus {
    Pending,
    Sent,
    Failed,
}

/// The state of the welcome email requested with `send_welcome: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub status: WelcomeStatus,
    /// When it was requested (pending) or sent or given up (sent, failed).
    pub at: String,
    /// Set while the notifier sends it: a redelivered event then sends nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_since: Option<String>,
    /// Sending attempts that failed so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Welcome {
    /// Requested and not yet being sent.
    pub fn is_due(&self) -> bool {
        self.status == WelcomeStatus::Pending && self.sending_since.is_none()
    }
}

/// Everything about a customer that clients write. Normalised and validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phones: Vec<String>,
    pub alternate_emails: Vec<String>,
    pub company_id: Option<String>,
    pub address: Option<Address>,
    pub social: BTreeMap<String, String>,
    pub avatar: Option<String>,
    pub custom_fields: BTreeMap<String, Value>,
    pub tags: Vec<String>,
    pub portal_access: PortalAccess,
    pub notes: Option<String>,
    pub entitlements: Vec<Entitlement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Immutable; notes (and later tickets) hang off it so a change of email keeps them.
    pub id: String,
    #[serde(flatten)]
    pub profile: Profile,
    #[serde(default)]
    pub welcome: Option<Welcome>,
    /// The import row that last wrote this record, so a resumed import recognises its own
    /// writes and counts them once. Internal: never shown by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_mark: Option<ImportMark>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl Customer {
    pub fn email(&self) -> &str {
        &self.profile.email
    }
    /// Every email this customer owns: primary first.
    pub fn all_emails(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.profile.email.as_str())
            .chain(self.profile.alternate_emails.iter().map(String::as_str))
    }
    pub fn first_name_key(&self) -> Option<String> {
        self.profile.first_name.as_deref().map(str::to_lowercase)
    }
    pub fn last_name_key(&self) -> Option<String> {
        self.profile.last_name.as_deref().map(str::to_lowercase)
    }
    /// The successor of this record carrying `profile`, one version on.
    pub fn next_version(&self, profile: Profile, now: &str) -> Customer {
        Customer {
            profile,
            updated_at: now.to_string(),
            version: self.version + 1,
            ..self.clone()
        }
    }
}

// Shortcut so list keys can read `customer.email`.
impl std::ops::Deref for Customer {
    type Target = Profile;
    fn deref(&self) -> &Profile {
        &self.profile
    }
}

/// Which import row wrote a customer, and what that write was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMark {
    pub job: String,
    pub row: u64,
    pub outcome: crate::imports::RowOutcome,
}

/// An internal note on a customer: visible to agents, never to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub author: String,
    pub text: String,
    pub created_at: String,
}

/// What a client may send for a customer. Unknown fields are refused, so typos do not vanish.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phones: Option<Vec<String>>,
    pub alternate_emails: Option<Vec<String>>,
    pub company_id: Option<String>,
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

/// Fields the server owns; a client that sends them is told so instead of being ignored.
const READ_ONLY: [&str; 5] = ["id", "created_at", "updated_at", "version", "welcome"];

impl CustomerInput {
    /// Normalises and validates every field, reporting all problems at once.
    pub fn into_profile(self, fields: &FieldSet) -> Result<Profile, Vec<FieldError>> {
        let mut errors = Errors::default();
        let email = match self.email {
            Some(raw) => errors.check("email", normalize_email(&raw)),
            None => {
                errors.add("email", "is required");
                None
            }
        };
        let first_name = errors
            .check("first_name", optional_text(self.first_name, MAX_NAME_CHARS))
            .flatten();
        let last_name = errors
            .check("last_name", optional_text(self.last_name, MAX_NAME_CHARS))
            .flatten();

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
            normalize_email,
        );
        if let Some(primary) = &email {
            alternate_emails.retain(|alt| alt != primary);
        }

        let company_id = self
            .company_id
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        let address = self.address.and_then(|a| validate_address(&mut errors, a));

        let mut social = BTreeMap::new();
        let links = self.social.unwrap_or_default();
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

        let avatar = self
            .avatar
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

        let mut custom_fields = BTreeMap::new();
        for (key, value) in self.custom_fields.unwrap_or_default() {
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

        let entitlements = self.entitlements.unwrap_or_default();
        if entitlements.len() > MAX_ENTITLEMENTS {
            errors.add(
                "entitlements",
                format!("at most {MAX_ENTITLEMENTS} entitlements"),
            );
        }
        let entitlements = entitlements
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| validate_entitlement(&mut errors, i, e))
            .collect();

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

fn list_of(
    errors: &mut Errors,
    field: &str,
    values: Vec<String>,
    max: usize,
    check: impl Fn(&str) -> Result<String, String>,
) -> Vec<String> {
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
fn normalize_tag(raw: &str) -> Result<String, String> {
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

fn validate_address(errors: &mut Errors, address: Address) -> Option<Address> {
    let mut part = |name: &str, value: Option<String>| {
        errors
            .check(format!("address.{name}"), optional_text(value, 200))
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

fn validate_entitlement(
    errors: &mut Errors,
    index: usize,
    entitlement: Entitlement,
) -> Option<Entitlement> {
    let field = format!("entitlements[{index}]");
    let name = errors.check(
        format!("{field}.name"),
        optional_text(Some(entitlement.name), MAX_NAME_CHARS),
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

/// The outcome of one item of `POST /customers/batch`.
#[derive(Debug, Clone, Serialize)]
pub struct BatchItemResult {
    pub index: usize,
    pub email: Option<String>,
    pub status: BatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Created,
    Updated,
    Unchanged,
    Error,
}

/// How many times a write is retried when another writer got in between read and write.
const WRITE_ATTEMPTS: usize = 5;

impl Helpdesk {
    /// `POST /customers`.
    pub async fn create_customer(
        &self,
        caller: &Caller,
        body: Value,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let fields = self.field_set().await?;
        let input: CustomerInput = parse_input(body)?;
        let send_welcome = input.send_welcome.unwrap_or(false);
        check_custom_field_edits(
            caller,
            &fields,
            input.custom_fields.iter().flat_map(|m| m.keys()),
        )?;
        if input.company_id.is_some() {
            caller.require_manage_companies(Some("company_id"))?;
        }
        let profile = input
            .into_profile(&fields)
            .map_err(HelpdeskError::Validation)?;
        let customer = self.new_customer(profile, send_welcome).await?;
        self.store.insert_customer(&customer).await?;
        tracing::info!(customer = %customer.email(), "customer created");
        Ok(customer)
    }

    /// Builds a new record: checks the company and applies domain matching when none is given.
    pub(crate) async fn new_customer(
        &self,
        mut profile: Profile,
        send_welcome: bool,
    ) -> Result<Customer, HelpdeskError> {
        match &profile.company_id {
            Some(id) => self.require_company(id, "company_id").await?,
            None => {
                profile.company_id = self
                    .store
                    .company_for_domain(crate::validation::email_domain(&profile.email))
                    .await?
            }
        }
        Ok(customer_record(profile, send_welcome))
    }

    /// `GET /customers/{email}`: by primary or alternate email, case-insensitively.
    pub async fn get_customer(
        &self,
        caller: &Caller,
        email: &str,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        self.find_customer(email).await
    }

    pub(crate) async fn find_customer(&self, email: &str) -> Result<Customer, HelpdeskError> {
        let not_found = || HelpdeskError::NotFound(format!("customer {}", email.trim()));
        let email = normalize_email(email).map_err(|_| not_found())?;
        self.store
            .find_customer(&email)
            .await?
            .ok_or_else(not_found)
    }

    /// `PATCH /customers/{email}`: JSON Merge Patch (RFC 7396) at the version named by If-Match.
    pub async fn update_customer(
        &self,
        caller: &Caller,
        email: &str,
        precondition: Option<Precondition>,
        patch: Value,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let precondition = precondition.ok_or(HelpdeskError::PreconditionRequired)?;
        let fields = self.field_set().await?;
        check_patch(caller, &fields, &patch)?;
        let current = self.find_customer(email).await?;
        if !precondition.matches(current.version) {
            return Err(HelpdeskError::PreconditionFailed);
        }
        let next = self.patched(&current, &fields, patch).await?;
        if next.profile == current.profile {
            return Ok(current);
        }
        self.store.replace_customer(&current, &next).await?;
        Ok(next)
    }

    /// Applies a merge patch to `current` and validates the result as a whole.
    pub(crate) async fn patched(
        &self,
        current: &Customer,
        fields: &FieldSet,
        patch: Value,
    ) -> Result<Customer, HelpdeskError> {
        let base = serde_json::to_value(&current.profile)
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        let merged = merge_patch(base, patch);
        let input: CustomerInput = parse_input(merged)?;
        let profile = input
            .into_profile(fields)
            .map_err(HelpdeskError::Validation)?;
        if profile.company_id != current.profile.company_id
            && let Some(id) = &profile.company_id
        {
            self.require_company(id, "company_id").await?;
        }
        Ok(current.next_version(profile, &crate::now()))
    }

    /// `DELETE /customers/{email}`; with If-Match only at that version.
    pub async fn delete_customer(
        &self,
        caller: &Caller,
        email: &str,
        precondition: Option<Precondition>,
    ) -> Result<(), HelpdeskError> {
        caller.require_staff()?;
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.find_customer(email).await?;
            if let Some(p) = &precondition
                && !p.matches(current.version)
            {
                return Err(HelpdeskError::PreconditionFailed);
            }
            match self.store.delete_customer(&current).await {
                Err(StoreError::VersionMismatch) if precondition.is_none() => continue,
                other => return Ok(other?),
            }
        }
        Err(HelpdeskError::Unavailable(
            "the customer kept changing; try again".into(),
        ))
    }

    /// `GET /customers`: ordered by email, or by the matching key when searching.
    pub async fn list_customers(
        &self,
        caller: &Caller,
        query: &CustomerQuery,
    ) -> Result<Page<Customer>, HelpdeskError> {
        caller.require_staff()?;
        Ok(self.store.list_customers(query).await?)
    }

    /// `POST /customers/batch`: create-or-update up to 100 customers, one result per item.
    pub async fn batch_upsert(
        &self,
        caller: &Caller,
        body: Value,
    ) -> Result<Vec<BatchItemResult>, HelpdeskError> {
        caller.require_staff()?;
        let items = batch_items(body)?;
        let fields = self.field_set().await?;
        let mut results = Vec::with_capacity(items.len());
        // Items run one after another: a batch may name one email twice, and the second must
        // see the first. Each item is its own atomic write; a bad item never stops the others.
        for (index, item) in items.into_iter().enumerate() {
            let email = item
                .get("email")
                .and_then(Value::as_str)
                .map(|e| e.trim().to_ascii_lowercase());
            let result = match self.upsert_one(caller, &fields, item).await {
                Ok((status, customer)) => BatchItemResult {
                    index,
                    email: Some(customer.email().to_string()),
                    status,
                    customer: Some(fields.present(caller, &customer)),
                    errors: vec![],
                },
                Err(error) => BatchItemResult {
                    index,
                    email,
                    status: BatchStatus::Error,
                    customer: None,
                    errors: crate::api::problem_errors(&error),
                },
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn upsert_one(
        &self,
        caller: &Caller,
        fields: &FieldSet,
        item: Value,
    ) -> Result<(BatchStatus, Customer), HelpdeskError> {
        check_patch(caller, fields, &item)?;
        let mut patch = item.clone();
        if let Some(object) = patch.as_object_mut() {
            object.remove("send_welcome");
            // Absent or null values in a batch item mean "leave as is", not "clear".
            object.retain(|_, v| !v.is_null());
        }
        let input: CustomerInput = parse_input(item)?;
        let send_welcome = input.send_welcome.unwrap_or(false);
        let raw_email = input
            .email
            .clone()
            .ok_or_else(|| HelpdeskError::invalid("email", "is required"))?;
        let email = normalize_email(&raw_email).map_err(|m| HelpdeskError::invalid("email", m))?;
        for _ in 0..WRITE_ATTEMPTS {
            match self.store.find_customer(&email).await? {
                None => {
                    let profile = input_clone(&patch)?
                        .into_profile(fields)
                        .map_err(HelpdeskError::Validation)?;
                    let customer = self.new_customer(profile, send_welcome).await?;
                    match self.store.insert_customer(&customer).await {
                        // Someone created it meanwhile: go round again and update it instead.
                        Err(StoreError::EmailTaken(taken)) if taken == email => continue,
                        other => {
                            return other
                                .map(|()| (BatchStatus::Created, customer))
                                .map_err(Into::into);
                        }
                    }
                }
                Some(current) => {
                    let mut item_patch = patch.clone();
                    if let Some(object) = item_patch.as_object_mut() {
                        // The item names the customer by any of its emails; keep its primary.
                        object.remove("email");
                    }
                    let next = self.patched(&current, fields, item_patch).await?;
                    if next.profile == current.profile {
                        return Ok((BatchStatus::Unchanged, current));
                    }
                    match self.store.replace_customer(&current, &next).await {
                        Err(StoreError::VersionMismatch) => continue,
                        other => {
                            return other
                                .map(|()| (BatchStatus::Updated, next))
                                .map_err(Into::into);
                        }
                    }
                }
            }
        }
        Err(HelpdeskError::Unavailable(
            "the customer kept changing; try again".into(),
        ))
    }

    /// `POST /customers/{email}/notes`.
    pub async fn add_note(
        &self,
        caller: &Caller,
        email: &str,
        body: Value,
    ) -> Result<Note, HelpdeskError> {
        caller.require_staff()?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NoteInput {
            text: String,
        }
        let input: NoteInput = parse_input(body)?;
        let text = optional_text(Some(input.text), MAX_NOTES_CHARS)
            .map_err(|m| HelpdeskError::invalid("text", m))?
            .ok_or_else(|| HelpdeskError::invalid("text", "must not be empty"))?;
        let customer = self.find_customer(email).await?;
        let note = Note {
            id: crate::new_id(),
            author: caller.subject.clone(),
            text,
            created_at: crate::now(),
        };
        self.store.add_note(&customer.id, &note).await?;
        Ok(note)
    }

    /// `GET /customers/{email}/notes`, newest first.
    pub async fn list_notes(
        &self,
        caller: &Caller,
        email: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Note>, HelpdeskError> {
        caller.require_staff()?;
        let customer = self.find_customer(email).await?;
        Ok(self.store.list_notes(&customer.id, after, limit).await?)
    }
}

/// Splits a display name into first and last name: "Lee, Ann" is last-first; "Ann Marie Lee"
/// is first names then the last word; a single word is a first name.
pub fn split_full_name(name: &str) -> (Option<String>, Option<String>) {
    let (first, last) = match name.split_once(',') {
        Some((last, first)) => (first, last),
        None => match name.trim().rsplit_once(char::is_whitespace) {
            Some((first, last)) => (first, last),
            None => (name, ""),
        },
    };
    let part = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    (part(first), part(last))
}

/// A new customer record at version 1; `send_welcome` queues the welcome email.
pub fn customer_record(profile: Profile, send_welcome: bool) -> Customer {
    let now = crate::now();
    Customer {
        id: crate::new_id(),
        profile,
        welcome: send_welcome.then(|| Welcome {
            status: WelcomeStatus::Pending,
            at: now.clone(),
            sending_since: None,
            failed_attempts: 0,
            error: None,
        }),
        import_mark: None,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    }
}

fn input_clone(patch: &Value) -> Result<CustomerInput, HelpdeskError> {
    parse_input(patch.clone())
}

/// Refuses read-only fields, company changes without permission and edits of custom fields the
/// caller may not edit, before anything else is looked at.
fn check_patch(caller: &Caller, fields: &FieldSet, patch: &Value) -> Result<(), HelpdeskError> {
    let object = patch
        .as_object()
        .ok_or_else(|| HelpdeskError::bad_request("body", "must be a JSON object"))?;
    reject_read_only(object, &READ_ONLY)?;
    if object.contains_key("company_id") {
        caller.require_manage_companies(Some("company_id"))?;
    }
    let edited = object
        .get("custom_fields")
        .and_then(Value::as_object)
        .map(|m| m.keys().collect::<Vec<_>>())
        .unwrap_or_default();
    check_custom_field_edits(caller, fields, edited)
}

fn check_custom_field_edits<'a>(
    caller: &Caller,
    fields: &FieldSet,
    keys: impl IntoIterator<Item = &'a String>,
) -> Result<(), HelpdeskError> {
    let denied: BTreeSet<&String> = keys
        .into_iter()
        .filter(|key| {
            fields
                .get(key)
                .is_some_and(|d: &FieldDefinition| !d.can_edit(caller))
        })
        .collect();
    if denied.is_empty() {
        return Ok(());
    }
    let errors: Vec<FieldError> = denied
        .iter()
        .map(|k| {
            FieldError::new(
                format!("custom_fields.{k}"),
                "your role may not edit this field",
            )
        })
        .collect();
    Err(HelpdeskError::Forbidden {
        detail: "your role may not edit some custom fields".into(),
        errors,
    })
}

/// The items of a batch: `{"customers": [...]}` or `{"emails": "a@x.com, b@y.com"}`.
fn batch_items(body: Value) -> Result<Vec<Value>, HelpdeskError> {
    let Value::Object(mut object) = body else {
        return Err(HelpdeskError::bad_request("body", "must be a JSON object"));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "customers" && *k != "emails") {
        return Err(HelpdeskError::bad_request(
            unknown.clone(),
            "unknown field; expected customers or emails",
        ));
    }
    let items: Vec<Value> = match (object.remove("customers"), object.remove("emails")) {
        (Some(Value::Array(items)), None) => items,
        (None, Some(Value::String(list))) => list
            .split([',', ';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::json!({ "email": e }))
            .collect(),
        (Some(_), None) => {
            return Err(HelpdeskError::bad_request(
                "customers",
                "must be an array of customers",
            ));
        }
        (None, Some(_)) => {
            return Err(HelpdeskError::bad_request(
                "emails",
                "must be a comma-separated string",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(HelpdeskError::bad_request(
                "body",
                "send either customers or emails, not both",
            ));
        }
        (None, None) => {
            return Err(HelpdeskError::invalid(
                "customers",
                "is required (or emails)",
            ));
        }
    };
    if items.is_empty() {
        return Err(HelpdeskError::invalid(
            "customers",
            "must hold at least one customer",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(HelpdeskError::invalid(
            "customers",
            format!("at most {MAX_BATCH} customers per batch"),
        ));
    }
    Ok(items)
}
