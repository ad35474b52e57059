//! The company record: named groups of customers, matched by email domain, and its input rules.

use crate::domain::customer::PortalAccess;
use crate::domain::provenance::Actor;
use crate::domain::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::error::HelpdeskError;
use crate::domain::patch::Command;
use crate::domain::validation::Errors;
use crate::domain::validation::is_webmail_domain;
use crate::domain::validation::normalize_domain;
use crate::domain::validation::optional_text;
use crate::domain::validation::single_line_text;

pub const MAX_DOMAINS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub notes: Option<String>,
    /// The portal access a customer gets on joining the company (by domain, import or
    /// assignment), unless theirs was set explicitly.
    #[serde(default)]
    pub portal_default_access: PortalAccess,
    /// Who created the company; `None` on companies created before history was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Actor>,
    /// Who made this version: the store files the change under their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<Actor>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    name: Option<String>,
    domains: Option<Vec<String>>,
    notes: Option<String>,
    /// `none`, `own` (default), `company_read` or `company`: what a customer joining the
    /// company may see in the portal, unless their own access was set.
    portal_default_access: Option<PortalAccess>,
}

/// A company as a request leaves it: validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCompany {
    pub name: String,
    pub domains: Vec<String>,
    pub notes: Option<String>,
    pub portal_default_access: PortalAccess,
}

impl Command for CompanyInput {
    const READ_ONLY: &'static [&'static str] = &["id", "created_at", "updated_at", "version"];
}

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
    pub(crate) fn validate(self) -> Result<ValidCompany, HelpdeskError> {
        let mut errors = Errors::default();
        let name = match errors.check("name", single_line_text(self.name, 200)) {
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
        Ok(ValidCompany {
            name,
            domains,
            notes,
            portal_default_access: self.portal_default_access.unwrap_or_default(),
        })
    }
}

/// A domain added to a company, with how many customers the back-fill assigned.
#[derive(Debug, Serialize)]
pub struct DomainAdded {
    pub company: Company,
    /// Existing customers without a company that were assigned by the back-fill.
    pub assigned_customers: u64,
}

/// A domain to add to a company.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    pub domain: String,
    /// Also assign the existing customers of this domain that have no company.
    #[serde(default)]
    pub apply_to_existing: bool,
}

impl Command for AddDomain {}
