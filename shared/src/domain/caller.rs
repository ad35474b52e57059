//! Who is calling: roles and the permissions they carry. How a caller is recognised (JWT claims,
//! API keys) is the HTTP layer's business.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::error::HelpdeskError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Admin, Role::Agent];

    pub fn parse(raw: &str) -> Option<Role> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "admin" | "admins" => Some(Role::Admin),
            "agent" | "agents" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Stable identity (JWT `sub`, or the API key's label); recorded as the author of notes.
    pub subject: String,
    pub roles: BTreeSet<Role>,
    /// The `manage_companies` permission an agent may hold (admins always have it).
    pub manage_companies: bool,
    /// The display name their replies go out under (the token's `name` claim), if known.
    pub name: Option<String>,
    /// Scopes of an integration's key or token (`changes:read`), beside or instead of a role.
    pub scopes: BTreeSet<String>,
}

/// The scope that lets an integration read the change feed without any role.
pub const CHANGES_READ: &str = "changes:read";

impl Caller {
    pub fn new(
        subject: impl Into<String>,
        roles: impl IntoIterator<Item = Role>,
        manage_companies: bool,
    ) -> Self {
        Self {
            subject: subject.into(),
            roles: roles.into_iter().collect(),
            manage_companies,
            name: None,
            scopes: BTreeSet::new(),
        }
    }
    /// The caller, holding these scopes too.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = String>) -> Self {
        self.scopes.extend(scopes);
        self
    }
    /// Admins, and integrations holding `changes:read`, may read the change feed.
    pub fn require_changes_read(&self) -> Result<(), HelpdeskError> {
        if self.is_admin() || self.scopes.contains(CHANGES_READ) {
            Ok(())
        } else {
            Err(HelpdeskError::forbidden(
                None,
                "the admin role or the changes:read scope is required",
            ))
        }
    }
    /// The caller, with the display name their replies go out under.
    pub fn with_name(mut self, name: Option<String>) -> Self {
        self.name = name
            .map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect())
            .filter(|n: &String| !n.trim().is_empty());
        self
    }
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
    pub fn is_staff(&self) -> bool {
        !self.roles.is_empty()
    }
    /// Admins, and agents holding `manage_companies`, may change companies and memberships.
    pub fn can_manage_companies(&self) -> bool {
        self.is_admin() || (self.roles.contains(&Role::Agent) && self.manage_companies)
    }
    pub fn has_any_role(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }

    pub fn require_staff(&self) -> Result<(), HelpdeskError> {
        if self.is_staff() {
            Ok(())
        } else {
            Err(HelpdeskError::forbidden(
                None,
                "an admin or agent role is required",
            ))
        }
    }
    pub fn require_admin(&self) -> Result<(), HelpdeskError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(HelpdeskError::forbidden(None, "the admin role is required"))
        }
    }
    pub fn require_manage_companies(&self, field: Option<&str>) -> Result<(), HelpdeskError> {
        if self.can_manage_companies() {
            Ok(())
        } else {
            Err(HelpdeskError::forbidden(
                field,
                "only admins and agents with the manage_companies permission may change companies",
            ))
        }
    }
}
