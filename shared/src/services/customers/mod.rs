//! Customers: the record, its rules, and the service operations on it.

mod address_admin;
mod marks;

pub use address_admin::AddressService;

use serde::Serialize;
use serde_json::Value;

use crate::domain::access::CustomerAccess;
use crate::domain::address::{AddressMark, MarkKind};
use crate::domain::caller::Caller;
use crate::domain::customer::*;
use crate::domain::customer_input::{CustomerBatch, CustomerInput, NoteInput};
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::field::FieldSet;
use crate::domain::history::{Actor, HistoryEntry};
use crate::domain::patch::Command;
use crate::domain::patch::Precondition;
use crate::domain::patch::merge_patch;
use crate::domain::validation::FieldError;
use crate::domain::validation::optional_text;
use crate::ports::store::CustomerQuery;
use crate::ports::store::Page;
use crate::ports::store::{CompanyStore, CustomerStore, FieldStore, HistoryStore};
use crate::services::addresses::AddressBook;
use crate::services::companies::require_company;
use crate::services::fields::FieldService;
use crate::services::history::history_page;
use crate::services::retry::{Attempt, retry_on_conflict};
use std::sync::Arc;

/// The outcome of one item of a batch.
#[derive(Debug, Clone)]
pub struct BatchItemResult {
    pub index: usize,
    pub email: Option<String>,
    pub status: BatchStatus,
    pub customer: Option<Customer>,
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Created,
    Updated,
    Unchanged,
    Error,
}

/// Customers and their notes. Companies are read (a named company must exist, a new customer
/// joins the company owning its domain) and field definitions decide who sees and edits what.
#[derive(Clone)]
pub struct CustomerService {
    store: Arc<dyn CustomerStore>,
    companies: Arc<dyn CompanyStore>,
    history: Arc<dyn HistoryStore>,
    fields: FieldService,
    /// Marks on addresses: read by every create and change that gives a customer an email.
    addresses: AddressBook,
}

/// The customer with this primary or alternate email, or a 404 naming it.
pub(crate) async fn find_customer(
    store: &dyn CustomerStore,
    email: &Email,
) -> Result<Customer, HelpdeskError> {
    store
        .find_customer(email)
        .await?
        .ok_or_else(|| HelpdeskError::NotFound(format!("customer {email}")))
}

impl CustomerService {
    pub fn new(
        store: Arc<dyn CustomerStore>,
        companies: Arc<dyn CompanyStore>,
        history: Arc<dyn HistoryStore>,
        fields: Arc<dyn FieldStore>,
        addresses: AddressBook,
    ) -> Self {
        Self {
            store,
            companies,
            history,
            fields: FieldService::new(fields),
            addresses,
        }
    }

    /// The address book, for the paths that create customers in bulk or from mail.
    pub(crate) fn addresses(&self) -> &AddressBook {
        &self.addresses
    }

    /// The store, for bulk paths (imports) that batch what the operations here do one by one.
    pub(crate) fn store(&self) -> &Arc<dyn CustomerStore> {
        &self.store
    }

    /// The company store, for bulk paths that resolve and create companies by the batch.
    pub(crate) fn companies(&self) -> &Arc<dyn CompanyStore> {
        &self.companies
    }

    /// The field definitions in force: responses are shaped by them.
    pub async fn field_set(&self) -> Result<FieldSet, HelpdeskError> {
        self.fields.field_set().await
    }

    /// Creates a customer from `input`, as far as the caller may set each part.
    pub async fn create_customer(
        &self,
        caller: &Caller,
        input: CustomerInput,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let access = CustomerAccess::new(caller, &self.field_set().await?);
        access.check_input(&input)?;
        let send_welcome = input.send_welcome.unwrap_or(false);
        let access_set = input.portal_access.is_some();
        let profile = input
            .into_profile(access.editable_fields())
            .map_err(HelpdeskError::Validation)?;
        let profile = access.confine(None, profile);
        let by = Actor::caller(&caller.subject);
        let customer = self
            .new_customer(profile, send_welcome, by, access_set)
            .await?;
        self.store.insert_customer(&customer).await?;
        tracing::info!(customer = %customer.email(), "customer created");
        Ok(customer)
    }

    /// Builds a new record: checks the company and applies domain matching when none is given;
    /// a customer in a company takes its portal default unless the request set the access
    /// (`portal_access_set`).
    pub(crate) async fn new_customer(
        &self,
        mut profile: Profile,
        send_welcome: bool,
        by: Actor,
        portal_access_set: bool,
    ) -> Result<Customer, HelpdeskError> {
        match &profile.company_id {
            Some(id) => require_company(self.companies.as_ref(), id, "company_id").await?,
            None => {
                profile.company_id = self
                    .companies
                    .company_for_domain(crate::domain::validation::email_domain(&profile.email))
                    .await?
            }
        }
        let mut customer = customer_record(profile, send_welcome, by);
        customer.portal.access_set = portal_access_set;
        self.follow_company(&mut customer, None).await?;
        self.addresses.admit(&mut customer, None).await?;
        Ok(customer)
    }

    /// A customer who joined a company (it differs from `previous_company`) takes its portal
    /// default, unless their access was set explicitly.
    pub(crate) async fn follow_company(
        &self,
        customer: &mut Customer,
        previous_company: Option<&str>,
    ) -> Result<(), HelpdeskError> {
        let joined = customer.profile.company_id.as_deref();
        if customer.portal.access_set || joined.is_none() || joined == previous_company {
            return Ok(());
        }
        if let Some(company) = self
            .companies
            .get_company(joined.unwrap_or_default())
            .await?
        {
            customer.profile.portal_access = company.portal_default_access;
        }
        Ok(())
    }

    /// A customer by primary or alternate email, case-insensitively.
    pub async fn get_customer(
        &self,
        caller: &Caller,
        email: &Email,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        self.find_customer(email).await
    }

    pub(crate) async fn find_customer(&self, email: &Email) -> Result<Customer, HelpdeskError> {
        find_customer(self.store.as_ref(), email).await
    }

    /// Changes a customer: a JSON Merge Patch (RFC 7396) at the version the precondition names.
    pub async fn update_customer(
        &self,
        caller: &Caller,
        email: &Email,
        precondition: Precondition,
        patch: Value,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        let access = CustomerAccess::new(caller, &self.field_set().await?);
        access.check_document(&patch)?;
        let current = self.find_customer(email).await?;
        if !precondition.matches(current.version) {
            return Err(HelpdeskError::PreconditionFailed);
        }
        let by = Actor::caller(&caller.subject);
        let next = self.patched(&current, &access, patch, by).await?;
        if next.profile == current.profile {
            return Ok(current);
        }
        self.store.replace_customer(&current, &next).await?;
        self.addresses.keep_block(&current, &next).await?;
        Ok(next)
    }

    /// Applies a merge patch to what the caller may edit of `current`, validates the result as
    /// a whole, and carries over what they may not edit.
    pub(crate) async fn patched(
        &self,
        current: &Customer,
        access: &CustomerAccess,
        patch: Value,
        by: Actor,
    ) -> Result<Customer, HelpdeskError> {
        let base = access.editable_document(&current.profile)?;
        let patch_names_portal_access = patch.get("portal_access").is_some();
        let merged = merge_patch(base, patch);
        let input = CustomerInput::parse(merged)?;
        let profile = input
            .into_profile(access.editable_fields())
            .map_err(HelpdeskError::Validation)?;
        let profile = access.confine(Some(&current.profile), profile);
        if profile.company_id != current.profile.company_id
            && let Some(id) = &profile.company_id
        {
            require_company(self.companies.as_ref(), id, "company_id").await?;
        }
        let mut next = current.next_version(profile, &crate::domain::clock::now(), by);
        if patch_names_portal_access {
            next.portal.access_set = true;
        }
        self.follow_company(&mut next, current.profile.company_id.as_deref())
            .await?;
        self.addresses.admit(&mut next, Some(current)).await?;
        Ok(next)
    }

    /// Deletes a customer; with a precondition, only at that version. Answers the record as
    /// it was.
    pub async fn delete_customer(
        &self,
        caller: &Caller,
        email: &Email,
        precondition: Option<Precondition>,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_staff()?;
        retry_on_conflict("customer", || async {
            let current = self.find_customer(email).await?;
            if let Some(p) = &precondition
                && !p.matches(current.version)
            {
                return Err(HelpdeskError::PreconditionFailed);
            }
            match self.store.delete_customer(&current).await {
                Err(StoreError::VersionMismatch) if precondition.is_none() => Ok(Attempt::Conflict),
                Err(other) => Err(other.into()),
                Ok(()) => Ok(Attempt::Done(current)),
            }
        })
        .await
    }

    /// Lists customers, ordered by email, or by the matching key when searching.
    pub async fn list_customers(
        &self,
        caller: &Caller,
        query: &CustomerQuery,
    ) -> Result<Page<Customer>, HelpdeskError> {
        caller.require_staff()?;
        Ok(self.store.list_customers(query).await?)
    }

    /// Creates or updates up to [`MAX_BATCH`] customers, one result per item.
    pub async fn batch_upsert(
        &self,
        caller: &Caller,
        body: CustomerBatch,
    ) -> Result<Vec<BatchItemResult>, HelpdeskError> {
        caller.require_staff()?;
        let items = batch_items(body)?;
        let access = CustomerAccess::new(caller, &self.field_set().await?);
        let mut results = Vec::with_capacity(items.len());
        // Items run one after another: a batch may name one email twice, and the second must
        // see the first. Each item is its own atomic write; a bad item never stops the others.
        for (index, item) in items.into_iter().enumerate() {
            let email = item
                .get("email")
                .and_then(Value::as_str)
                .map(|e| e.trim().to_ascii_lowercase());
            let result = match self.upsert_one(&access, item).await {
                Ok((status, customer)) => BatchItemResult {
                    index,
                    email: Some(customer.email().to_string()),
                    status,
                    customer: Some(customer),
                    errors: vec![],
                },
                Err(error) => BatchItemResult {
                    index,
                    email,
                    status: BatchStatus::Error,
                    customer: None,
                    errors: error.field_errors(),
                },
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn upsert_one(
        &self,
        access: &CustomerAccess,
        item: Value,
    ) -> Result<(BatchStatus, Customer), HelpdeskError> {
        access.check_document(&item)?;
        let mut patch = item.clone();
        if let Some(object) = patch.as_object_mut() {
            object.remove("send_welcome");
            // Absent or null values in a batch item mean "leave as is", not "clear".
            object.retain(|_, v| !v.is_null());
        }
        let input = CustomerInput::parse(item)?;
        let send_welcome = input.send_welcome.unwrap_or(false);
        let raw_email = input
            .email
            .clone()
            .ok_or_else(|| HelpdeskError::invalid("email", "is required"))?;
        let email = Email::parse(&raw_email).map_err(|m| HelpdeskError::invalid("email", m))?;
        retry_on_conflict("customer", || async {
            match self.store.find_customer(&email).await? {
                None => {
                    let profile = input_clone(&patch)?
                        .into_profile(access.editable_fields())
                        .map_err(HelpdeskError::Validation)?;
                    let profile = access.confine(None, profile);
                    let by = Actor::caller(&access.caller().subject);
                    let access_set = patch.get("portal_access").is_some();
                    let customer = self
                        .new_customer(profile, send_welcome, by, access_set)
                        .await?;
                    match self.store.insert_customer(&customer).await {
                        // Someone created it meanwhile: go round again and update it instead.
                        Err(StoreError::EmailTaken(taken)) if taken == email => {
                            Ok(Attempt::Conflict)
                        }
                        other => Ok(Attempt::Done((
                            BatchStatus::Created,
                            other.map(|()| customer)?,
                        ))),
                    }
                }
                Some(current) => {
                    let mut item_patch = patch.clone();
                    if let Some(object) = item_patch.as_object_mut() {
                        // The item names the customer by any of its emails; keep its primary.
                        object.remove("email");
                    }
                    let by = Actor::caller(&access.caller().subject);
                    let next = self.patched(&current, access, item_patch, by).await?;
                    if next.profile == current.profile {
                        return Ok(Attempt::Done((BatchStatus::Unchanged, current)));
                    }
                    match self.store.replace_customer(&current, &next).await {
                        Ok(()) => {
                            self.addresses.keep_block(&current, &next).await?;
                            Ok(Attempt::Done((BatchStatus::Updated, next)))
                        }
                        failed => Attempt::of_write(failed, || (BatchStatus::Updated, next)),
                    }
                }
            }
        })
        .await
    }

    /// Who changed the customer and what, newest first, ending with the
    /// creation.
    pub async fn customer_history(
        &self,
        caller: &Caller,
        email: &Email,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<HistoryEntry>, HelpdeskError> {
        caller.require_staff()?;
        let customer = self.find_customer(email).await?;
        history_page(self.history.as_ref(), &customer, after, limit).await
    }

    /// Adds an internal note to the customer.
    pub async fn add_note(
        &self,
        caller: &Caller,
        email: &Email,
        input: NoteInput,
    ) -> Result<Note, HelpdeskError> {
        caller.require_staff()?;
        let text = optional_text(Some(input.text), MAX_NOTES_CHARS)
            .map_err(|m| HelpdeskError::invalid("text", m))?
            .ok_or_else(|| HelpdeskError::invalid("text", "must not be empty"))?;
        let note = Note {
            id: crate::domain::clock::new_id(),
            author: caller.subject.clone(),
            text,
            created_at: crate::domain::clock::now(),
            moved_by: None,
        };
        retry_on_conflict("customer", || async {
            // At the version read: a customer put under erasure meanwhile takes no note.
            let customer = self.find_customer(email).await?;
            let outcome = self.store.add_note(&customer, &note).await;
            Attempt::of_write(outcome, || ())
        })
        .await?;
        Ok(note)
    }

    /// The customer's internal notes, newest first.
    pub async fn list_notes(
        &self,
        caller: &Caller,
        email: &Email,
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

/// A new customer record at version 1, created by `by`; `send_welcome` queues the welcome email.
pub fn customer_record(profile: Profile, send_welcome: bool, by: Actor) -> Customer {
    let now = crate::domain::clock::now();
    Customer {
        id: crate::domain::clock::new_id(),
        profile,
        welcome: send_welcome.then(|| Welcome {
            status: WelcomeStatus::Pending,
            at: now.clone(),
            sending_since: None,
            failed_attempts: 0,
            error: None,
        }),
        import_mark: None,
        blocked: None,
        undeliverable: None,
        complained: None,
        portal: Default::default(),
        avatar_image: None,
        created_by: Some(by.clone()),
        changed_by: Some(by),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    }
}

fn input_clone(patch: &Value) -> Result<CustomerInput, HelpdeskError> {
    CustomerInput::parse(patch.clone())
}

/// The items of a batch: `{"customers": [...]}` or `{"emails": "a@x.com, b@y.com"}`.
fn batch_items(body: CustomerBatch) -> Result<Vec<Value>, HelpdeskError> {
    let items: Vec<Value> = match (body.customers, body.emails) {
        (Some(items), None) => items,
        (None, Some(list)) => list
            .split([',', ';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::json!({ "email": e }))
            .collect(),
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
