//! How callers are recognised: JWT claims forwarded by API Gateway (cloud) or API keys (local).

use std::collections::HashMap;

use lambda_http::request::RequestContext;

use crate::domain::caller::Caller;
use crate::domain::caller::{CHANGES_READ, Role};
use crate::domain::error::HelpdeskError;

/// Turns a request's credentials into a [`Caller`].
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, request: &http::request::Parts) -> Result<Caller, HelpdeskError>;
}

/// Trusts the claims that API Gateway's JWT authorizer verified and forwarded in the request
/// context. Roles come from `cognito:groups`, `groups` or `roles`; `manage_companies` may be a
/// group, a role or an OAuth scope.
#[derive(Debug, Default, Clone)]
pub struct JwtClaimsAuthenticator;

const ROLE_CLAIMS: [&str; 3] = ["cognito:groups", "groups", "roles"];
const MANAGE_COMPANIES: &str = "manage_companies";
const CHANGES_READ_GROUP: &str = "changes_read";

impl Authenticator for JwtClaimsAuthenticator {
    fn authenticate(&self, request: &http::request::Parts) -> Result<Caller, HelpdeskError> {
        let Some(RequestContext::ApiGatewayV2(context)) =
            request.extensions.get::<RequestContext>()
        else {
            return Err(HelpdeskError::Unauthorized);
        };
        let Some(jwt) = context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()) else {
            return Err(HelpdeskError::Unauthorized);
        };
        let claims = &jwt.claims;
        let subject = claims
            .get("sub")
            .or_else(|| claims.get("email"))
            .filter(|s| !s.is_empty())
            .ok_or(HelpdeskError::Unauthorized)?;
        let mut words: Vec<String> = ROLE_CLAIMS
            .iter()
            .filter_map(|name| claims.get(*name))
            .flat_map(|value| claim_list(value))
            .collect();
        if let Some(scope) = claims.get("scope") {
            words.extend(claim_list(scope));
        }
        words.extend(jwt.scopes.iter().flatten().cloned());
        let roles = words.iter().filter_map(|w| Role::parse(w));
        let manage = words
            .iter()
            .any(|w| w == MANAGE_COMPANIES || w.ends_with(&format!("/{MANAGE_COMPANIES}")));
        // The scope arrives as an OAuth scope (`changes:read`, or `<resource server>/changes:read`
        // for a client-credentials app) or as the Cognito group `changes_read`.
        let scopes: Vec<String> = words
            .iter()
            .filter(|w| {
                *w == CHANGES_READ
                    || *w == CHANGES_READ_GROUP
                    || w.ends_with(&format!("/{CHANGES_READ}"))
            })
            .map(|_| CHANGES_READ.to_string())
            .collect();
        let name = claims.get("name").cloned().or_else(|| {
            let given = claims.get("given_name").map(String::as_str).unwrap_or("");
            let family = claims.get("family_name").map(String::as_str).unwrap_or("");
            Some(format!("{given} {family}").trim().to_string())
        });
        Ok(Caller::new(subject.clone(), roles, manage)
            .with_name(name)
            .with_scopes(scopes))
    }
}

/// API Gateway forwards list claims as strings: `[admin agent]`, `["admin","agent"]` or `admin,agent`.
fn claim_list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_matches(|c| c == '[' || c == ']' || c == '"'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A key of integrations: no role, only scopes.
const INTEGRATION: &str = "integration";

/// `KEY` and the grant after it: the first `:` followed by a role (keys may hold `:`, and
/// scopes such as `changes:read` do).
fn split_grant(entry: &str) -> Option<(&str, &str)> {
    entry.match_indices(':').find_map(|(at, _)| {
        let (key, grant) = (&entry[..at], &entry[at + 1..]);
        let first = grant.split(['+', '=']).next().unwrap_or_default().trim();
        (first == INTEGRATION || Role::parse(first).is_some()).then_some((key, grant))
    })
}

/// Local mode: `Authorization: Bearer KEY`, keys configured as `KEY:ROLE[+manage_companies],…`.
#[derive(Clone)]
pub struct ApiKeyAuthenticator {
    keys: HashMap<String, Caller>,
}

impl std::fmt::Debug for ApiKeyAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the keys themselves.
        f.debug_struct("ApiKeyAuthenticator")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl ApiKeyAuthenticator {
    /// Parses `HELPDESK_API_KEYS`: comma-separated `KEY:ROLE` entries, a role optionally followed
    /// by `+manage_companies`, then optionally by `=Display Name` (for the key's replies).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for (index, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (key, grant) = split_grant(entry)
                .ok_or_else(|| format!("entry {} has no ':ROLE' part", index + 1))?;
            if key.len() < 16 {
                return Err(format!(
                    "entry {}: keys must be at least 16 characters",
                    index + 1
                ));
            }
            // `=Display Name` after the grant: the name the key's replies go out under.
            let (grant, name) = match grant.split_once('=') {
                Some((grant, name)) => (grant, Some(name.trim().to_string())),
                None => (grant, None),
            };
            let mut parts = grant.split('+');
            let first = parts.next().unwrap_or_default().trim();
            // `integration`: a key with no role, only the scopes that follow it.
            let role = match first {
                INTEGRATION => None,
                _ => Some(Role::parse(first).ok_or_else(|| {
                    format!(
                        "entry {}: role must be admin, agent or integration",
                        index + 1
                    )
                })?),
            };
            let mut manage = false;
            let mut scopes = Vec::new();
            for extra in parts.map(str::trim) {
                match extra {
                    MANAGE_COMPANIES => manage = true,
                    CHANGES_READ => scopes.push(extra.to_string()),
                    _ => return Err(format!("entry {}: unknown permission '{extra}'", index + 1)),
                }
            }
            if role.is_none() && scopes.is_empty() {
                return Err(format!(
                    "entry {}: an integration key needs a scope (+changes:read)",
                    index + 1
                ));
            }
            let label = format!("api-key-{}", index + 1);
            keys.insert(
                key.to_string(),
                Caller::new(label, role, manage)
                    .with_name(name)
                    .with_scopes(scopes),
            );
        }
        if keys.is_empty() {
            return Err("no API keys given".into());
        }
        Ok(Self { keys })
    }

    pub fn with_key(key: &str, caller: Caller) -> Self {
        Self {
            keys: HashMap::from([(key.to_string(), caller)]),
        }
    }

    /// Accepts `key` too, as `caller` (local mode's admin key beside the configured ones).
    pub fn add_key(&mut self, key: &str, caller: Caller) {
        self.keys.insert(key.to_string(), caller);
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Authenticator for ApiKeyAuthenticator {
    fn authenticate(&self, request: &http::request::Parts) -> Result<Caller, HelpdeskError> {
        let presented = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(HelpdeskError::Unauthorized)?;
        // Compare against every key in constant time so response timing does not leak prefixes.
        let mut found = None;
        for (key, caller) in &self.keys {
            if constant_time_eq(key.as_bytes(), presented.as_bytes()) {
                found = Some(caller);
            }
        }
        found.cloned().ok_or(HelpdeskError::Unauthorized)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_lists_in_every_shape() {
        assert_eq!(
            claim_list("[admin manage_companies]"),
            vec!["admin", "manage_companies"]
        );
        assert_eq!(claim_list("[\"agent\",\"x\"]"), vec!["agent", "x"]);
        assert_eq!(claim_list("agent"), vec!["agent"]);
    }

    #[test]
    fn api_key_specs() {
        let auth = ApiKeyAuthenticator::parse(
            "k1k1k1k1k1k1k1k1:admin, k2k2k2k2k2k2k2k2:agent+manage_companies",
        )
        .unwrap();
        assert_eq!(auth.keys.len(), 2);
        let named = ApiKeyAuthenticator::parse("k3k3k3k3k3k3k3k3:agent=Sam Agent").unwrap();
        let caller = named.keys.values().next().unwrap();
        assert_eq!(caller.name.as_deref(), Some("Sam Agent"));
        assert!(caller.roles.contains(&Role::Agent));
        assert!(ApiKeyAuthenticator::parse("short:admin").is_err());
        assert!(ApiKeyAuthenticator::parse("k1k1k1k1k1k1k1k1:boss").is_err());
        assert!(ApiKeyAuthenticator::parse("").is_err());
    }

    #[test]
    fn integration_keys_hold_scopes_only() {
        let auth =
            ApiKeyAuthenticator::parse("sync:key:0123456789:integration+changes:read").unwrap();
        let caller = auth.keys.get("sync:key:0123456789").unwrap();
        assert!(caller.roles.is_empty());
        assert!(caller.require_changes_read().is_ok());
        assert!(caller.require_staff().is_err());
        let admin = ApiKeyAuthenticator::parse("k1k1k1k1k1k1k1k1:admin").unwrap();
        assert!(
            admin
                .keys
                .values()
                .all(|c| c.require_changes_read().is_ok())
        );
        let agent = ApiKeyAuthenticator::parse("k1k1k1k1k1k1k1k1:agent").unwrap();
        assert!(
            agent
                .keys
                .values()
                .all(|c| c.require_changes_read().is_err())
        );
        assert!(ApiKeyAuthenticator::parse("k1k1k1k1k1k1k1k1:integration").is_err());
        assert!(ApiKeyAuthenticator::parse("k1k1k1k1k1k1k1k1:integration+write:all").is_err());
    }
}
