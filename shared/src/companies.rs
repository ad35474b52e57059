//! Companies: named groups of customers, matched by email domain.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Helpdesk;
use crate::auth::Caller;
use crate::error::HelpdeskError;
use crate::patch::{Precondition, merge_patch, parse_input, reject_read_only};
use crate::store::{CustomerQuery, Page, StoreError};
use crate::validation::{Errors, FieldError, is_webmail_domain, normalize_domain, optional_text};

pub const MAX_DOMAINS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub notes: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl Company {
    /// Names are unique case-insensitively.
    pub fn name_key(&self) -> String {
        name_key(&self.name)
    }
}

pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyInput {
    name: Option<String>,
    domains: Option<Vec<String>>,
    notes: Option<String>,
}

const READ_ONLY: [&str; 4] = ["id", "created_at", "updated_at", "version"];

/// Normalises one domain and refuses webmail domains, which never identify a company.
pub fn company_domain(raw: &str) -> Result<String, String> {
    let domain = normalize_domain(raw)?;
    if is_webmail_domain(&domain) {
        return Err(format!(
            "{domain} is a public webmail domain and cannot belong to a company"
        ));
    }
    Ok(domain)
}

impl CompanyInput {
    fn validate(self) -> Result<(String, Vec<String>, Option<String>), HelpdeskError> {
        let mut errors = Errors::default();
        let name = match errors.check("name", optional_text(self.name, 200)) {
            Some(Some(name)) => name,
            Some(None) => {
                errors.add("name", "is required");
                String::new()
            }
            None => String::new(),
        };
        let raw_domains = self.domains.unwrap_or_default();
        if raw_domains.len() > MAX_DOMAINS {
            errors.add("domains", format!("at most {MAX_DOMAINS} domains"));
        }
        let mut domains: Vec<String> = Vec::new();
        for (i, raw) in raw_domains.iter().enumerate() {
            if let Some(d) = errors.check(format!("domains[{i}]"), company_domain(raw))
                && !domains.contains(&d)
            {
                domains.push(d);
            }
        }
        let notes = errors
            .check("notes", optional_text(self.notes, 20_000))
            .flatten();
        if !errors.is_empty() {
            return Err(HelpdeskError::Validation(errors.into_vec()));
        }
        Ok((name, domains, notes))
    }
}

/// Result of `POST /companies/{id}/domains`.
#[derive(Debug, Serialize)]
pub struct DomainAdded {
    pub company: Company,
    /// Existing customers without a company that were assigned by the back-fill.
    pub assigned_customers: u64,
}

const PAGE: usize = 100;
/// Bounds the member release of one DELETE (100 customers a page).
const MAX_RELEASE_PAGES: usize = 10_000;

impl Helpdesk {
    pub async fn create_company(
        &self,
        caller: &Caller,
        body: Value,
    ) -> Result<Company, HelpdeskError> {
        caller.require_manage_companies(None)?;
        if let Some(object) = body.as_object() {
            reject_read_only(object, &READ_ONLY)?;
        }
        let (name, domains, notes) = parse_input::<CompanyInput>(body)?.validate()?;
        let now = crate::now();
        let company = Company {
            id: crate::new_id(),
            name,
            domains,
            notes,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        };
        self.store.insert_company(&company).await?;
        Ok(company)
    }

    pub async fn get_company(&self, caller: &Caller, id: &str) -> Result<Company, HelpdeskError> {
        caller.require_staff()?;
        self.find_company(id).await
    }

    async fn find_company(&self, id: &str) -> Result<Company, HelpdeskError> {
        self.store
            .get_company(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("company {id}")))
    }

    /// A company named by a client must exist: a 422 on `field` otherwise.
    pub(crate) async fn require_company(&self, id: &str, field: &str) -> Result<(), HelpdeskError> {
        match self.store.get_company(id).await? {
            Some(_) => Ok(()),
            None => Err(HelpdeskError::Validation(vec![FieldError::new(
                field,
                format!("no company has id {id}"),
            )])),
        }
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

    /// `PATCH /companies/{id}`: merge patch of name, domains and notes.
    pub async fn update_company(
        &self,
        caller: &Caller,
        id: &str,
        precondition: Option<Precondition>,
        patch: Value,
    ) -> Result<Company, HelpdeskError> {
        caller.require_manage_companies(None)?;
        let object = patch
            .as_object()
            .ok_or_else(|| HelpdeskError::bad_request("body", "must be a JSON object"))?;
        reject_read_only(object, &READ_ONLY)?;
        let current = self.find_company(id).await?;
        if precondition.is_some_and(|p| !p.matches(current.version)) {
            return Err(HelpdeskError::PreconditionFailed);
        }
        let base = serde_json::json!({ "name": current.name, "domains": current.domains, "notes": current.notes });
        let (name, domains, notes) =
            parse_input::<CompanyInput>(merge_patch(base, patch))?.validate()?;
        let next = Company {
            name,
            domains,
            notes,
            updated_at: crate::now(),
            version: current.version + 1,
            ..current.clone()
        };
        self.store.replace_company(&current, &next).await?;
        Ok(next)
    }

    /// `DELETE /companies/{id}`: its customers stay, without a company.
    pub async fn delete_company(
        &self,
        caller: &Caller,
        id: &str,
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
            let page = self.store.list_customers(&query).await?;
            for member in &page.items {
                self.set_company_if(member, Some(&company.id), None).await?;
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

    /// `POST /companies/{id}/domains` with `{"domain": "...", "apply_to_existing": bool}`.
    pub async fn add_company_domain(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
    ) -> Result<DomainAdded, HelpdeskError> {
        caller.require_manage_companies(None)?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct AddDomain {
            domain: String,
            #[serde(default)]
            apply_to_existing: bool,
        }
        let input: AddDomain = parse_input(body)?;
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
            let mut next = company.clone();
            next.domains.push(domain.clone());
            next.updated_at = crate::now();
            next.version += 1;
            self.store.replace_company(&company, &next).await?;
            company = next;
        }
        let mut assigned = 0;
        if input.apply_to_existing {
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .list_unassigned_by_domain(&domain, after.as_deref(), PAGE)
                    .await?;
                for customer in &page.items {
                    if self
                        .set_company_if(customer, None, Some(&company.id))
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
        customer: &crate::customers::Customer,
        from: Option<&String>,
        to: Option<&String>,
    ) -> Result<bool, HelpdeskError> {
        let mut current = customer.clone();
        for _ in 0..5 {
            if current.profile.company_id.as_ref() != from {
                return Ok(false);
            }
            let mut profile = current.profile.clone();
            profile.company_id = to.cloned();
            let next = current.next_version(profile, &crate::now());
            match self.store.replace_customer(&current, &next).await {
                Ok(()) => return Ok(true),
                Err(StoreError::VersionMismatch) => {
                    match self.store.find_customer(current.email()).await? {
                        Some(fresh) => current = fresh,
                        None => return Ok(false),
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(HelpdeskError::Unavailable(
            "a customer kept changing during the company update".into(),
        ))
    }
}
