//! Companies: named groups of customers, matched by email domain.

use crate::domain::ids::CompanyId;
use serde_json::Value;

use crate::domain::caller::Caller;
use crate::domain::company::*;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::history::{Actor, HistoryEntry};
use crate::domain::patch::Command;
use crate::domain::patch::Precondition;
use crate::domain::patch::merge_patch;
use crate::domain::patch::reject_read_only;
use crate::domain::validation::FieldError;
use crate::domain::versioned::Versioned;
use crate::ports::store::CustomerQuery;
use crate::ports::store::Page;
use crate::ports::store::{CompanyStore, CustomerStore, HistoryStore};
use crate::services::history::history_page;
use crate::services::retry::{Attempt, retry_on_conflict};
use std::sync::Arc;

const PAGE: usize = 100;
/// Bounds the member release of one DELETE (100 customers a page).
const MAX_RELEASE_PAGES: usize = 10_000;

/// Companies, and the moves of customers in and out of them that company changes cause.
#[derive(Clone)]
pub struct CompanyService {
    store: Arc<dyn CompanyStore>,
    customers: Arc<dyn CustomerStore>,
    history: Arc<dyn HistoryStore>,
}

/// A company named by a client must exist: a 422 on `field` otherwise.
pub(crate) async fn require_company(
    store: &dyn CompanyStore,
    id: &str,
    field: &str,
) -> Result<(), HelpdeskError> {
    match store.get_company(id).await? {
        Some(_) => Ok(()),
        None => Err(HelpdeskError::Validation(vec![FieldError::new(
            field,
            format!("no company has id {id}"),
        )])),
    }
}

impl CompanyService {
    pub fn new(
        store: Arc<dyn CompanyStore>,
        customers: Arc<dyn CustomerStore>,
        history: Arc<dyn HistoryStore>,
    ) -> Self {
        Self {
            store,
            customers,
            history,
        }
    }

    pub async fn create_company(
        &self,
        caller: &Caller,
        input: CompanyInput,
    ) -> Result<Company, HelpdeskError> {
        caller.require_manage_companies(None)?;
        let valid = input.validate()?;
        let now = crate::domain::clock::now();
        let company = Company {
            id: crate::domain::clock::new_id(),
            name: valid.name,
            domains: valid.domains,
            notes: valid.notes,
            portal_default_access: valid.portal_default_access,
            created_by: Some(Actor::caller(&caller.subject)),
            changed_by: None,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        };
        self.store.insert_company(&company).await?;
        Ok(company)
    }

    pub async fn get_company(
        &self,
        caller: &Caller,
        id: &CompanyId,
    ) -> Result<Company, HelpdeskError> {
        caller.require_staff()?;
        self.find_company(id).await
    }

    async fn find_company(&self, id: &str) -> Result<Company, HelpdeskError> {
        self.store
            .get_company(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("company {id}")))
    }

    pub async fn list_companies(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Company>, HelpdeskError> {
        caller.require_staff()?;
        Ok(self.store.list_companies(after, limit).await?)
    }

    /// Changes a company: a merge patch of name, domains and notes.
    pub async fn update_company(
        &self,
        caller: &Caller,
        id: &CompanyId,
        precondition: Option<Precondition>,
        patch: Value,
    ) -> Result<Company, HelpdeskError> {
        caller.require_manage_companies(None)?;
        let object = patch
            .as_object()
            .ok_or_else(|| HelpdeskError::bad_request("body", "must be a JSON object"))?;
        reject_read_only(object, CompanyInput::READ_ONLY)?;
        let current = self.find_company(id).await?;
        if precondition.is_some_and(|p| !p.matches(current.version)) {
            return Err(HelpdeskError::PreconditionFailed);
        }
        let base = serde_json::json!({
            "name": current.name,
            "domains": current.domains,
            "notes": current.notes,
            "portal_default_access": current.portal_default_access,
        });
        let valid = CompanyInput::parse(merge_patch(base, patch))?.validate()?;
        let mut next = current.bumped();
        next.changed_by = Some(Actor::caller(&caller.subject));
        next.name = valid.name;
        next.domains = valid.domains;
        next.notes = valid.notes;
        next.portal_default_access = valid.portal_default_access;
        self.store.replace_company(&current, &next).await?;
        Ok(next)
    }

    /// Who changed the company and what, newest first, ending with the creation.
    pub async fn company_history(
        &self,
        caller: &Caller,
        id: &CompanyId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<HistoryEntry>, HelpdeskError> {
        caller.require_staff()?;
        let company = self.find_company(id).await?;
        history_page(self.history.as_ref(), &company, after, limit).await
    }

    /// Deletes a company: its customers stay, without a company.
    pub async fn delete_company(
        &self,
        caller: &Caller,
        id: &CompanyId,
        precondition: Option<Precondition>,
    ) -> Result<(), HelpdeskError> {
        caller.require_manage_companies(None)?;
        let company = self.find_company(id).await?;
        if precondition.is_some_and(|p| !p.matches(company.version)) {
            return Err(HelpdeskError::PreconditionFailed);
        }
        // Members are released first, so a crash half-way leaves a company that a retried
        // DELETE finishes. The walk goes forward by cursor: index reads may lag behind writes
        // (DynamoDB GSIs are eventually consistent), and a released member must not come back.
        let mut after: Option<String> = None;
        for _ in 0..MAX_RELEASE_PAGES {
            let query = CustomerQuery {
                company_id: Some(company.id.clone()),
                after: after.take(),
                limit: PAGE,
                ..Default::default()
            };
            let page = self.customers.list_customers(&query).await?;
            for member in &page.items {
                self.set_company_if(caller, member, Some(&company.id), None)
                    .await?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // A customer assigned to this company between the release above and this delete keeps
        // a company_id that no longer resolves (a narrow race, noted in the README).
        match self.store.delete_company(&company).await {
            Err(StoreError::VersionMismatch) => Err(HelpdeskError::PreconditionFailed),
            other => Ok(other?),
        }
    }

    /// Adds a domain to a company and, if asked, assigns the company-less customers of it.
    pub async fn add_company_domain(
        &self,
        caller: &Caller,
        id: &CompanyId,
        input: AddDomain,
    ) -> Result<DomainAdded, HelpdeskError> {
        caller.require_manage_companies(None)?;
        let domain =
            company_domain(&input.domain).map_err(|m| HelpdeskError::invalid("domain", m))?;
        let mut company = self.find_company(id).await?;
        if !company.domains.contains(&domain) {
            if company.domains.len() >= MAX_DOMAINS {
                return Err(HelpdeskError::invalid(
                    "domain",
                    format!("a company has at most {MAX_DOMAINS} domains"),
                ));
            }
            let mut next = company.bumped();
            next.changed_by = Some(Actor::caller(&caller.subject));
            next.domains.push(domain.clone());
            self.store.replace_company(&company, &next).await?;
            company = next;
        }
        let mut assigned = 0;
        if input.apply_to_existing {
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .customers
                    .list_unassigned_by_domain(&domain, after.as_deref(), PAGE)
                    .await?;
                for customer in &page.items {
                    if self
                        .set_company_if(caller, customer, None, Some(&company.id))
                        .await?
                    {
                        assigned += 1;
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Ok(DomainAdded {
            company,
            assigned_customers: assigned,
        })
    }

    /// Moves `customer` from company `from` to `to`, re-reading on concurrent changes; false when
    /// the customer no longer belongs to `from` (someone else decided meanwhile).
    async fn set_company_if(
        &self,
        caller: &Caller,
        customer: &crate::domain::customer::Customer,
        from: Option<&String>,
        to: Option<&String>,
    ) -> Result<bool, HelpdeskError> {
        // The first attempt uses the record the caller read; later ones read it again.
        let first = std::sync::Mutex::new(Some(customer.clone()));
        retry_on_conflict("customer", || async {
            let given = first.lock().ok().and_then(|mut c| c.take());
            let current = match given {
                Some(current) => current,
                None => match self
                    .customers
                    .find_customer(&customer.profile.email)
                    .await?
                {
                    Some(fresh) => fresh,
                    None => return Ok(Attempt::Done(false)),
                },
            };
            // A customer under erasure is left as it is: its record is about to go.
            if current.profile.company_id.as_ref() != from || current.erasure_under_way().is_some()
            {
                return Ok(Attempt::Done(false));
            }
            let mut profile = current.profile.clone();
            profile.company_id = to.cloned();
            let next = current.next_version(
                profile,
                &crate::domain::clock::now(),
                Actor::caller(&caller.subject),
            );
            let outcome = self.customers.replace_customer(&current, &next).await;
            Attempt::of_write(outcome, || true)
        })
        .await
    }
}
