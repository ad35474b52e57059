//! Single sign-on for a host application: the host signs an HS256 JWT for its signed-in user
//! (`email`, `iat`, `jti`) with a secret it shares with the helpdesk, and the portal opens a
//! session for that customer without a mailed code. Off unless the operator configures the
//! secret; customers are created for unknown addresses only if the operator allows it.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::PortalService;
use crate::domain::customer::Profile;
use crate::domain::email::Email;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::portal::{PortalSession, Principal};
use crate::domain::provenance::Actor;

/// How old a token may be (seconds since its `iat`).
pub const SSO_MAX_AGE_SECONDS: i64 = 180;
/// How far ahead of this clock a host's `iat` may be.
const CLOCK_SKEW_SECONDS: i64 = 30;
/// The shortest secret accepted: an HS256 key as long as its hash.
pub const MIN_SSO_SECRET_BYTES: usize = 32;
/// The longest token read.
const MAX_JWT_BYTES: usize = 8 * 1024;
/// The longest `jti` kept.
const MAX_JTI_CHARS: usize = 200;

/// The operator's single sign-on settings.
#[derive(Clone)]
pub struct PortalSso {
    key: DecodingKey,
    /// Whether a token for an address without a customer creates one.
    pub create_customers: bool,
}

impl std::fmt::Debug for PortalSso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSso")
            .field("key", &"…")
            .field("create_customers", &self.create_customers)
            .finish()
    }
}

/// What a host's token says.
#[derive(Debug, Deserialize)]
struct SsoClaims {
    email: String,
    iat: i64,
    jti: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

impl PortalSso {
    /// Settings with `secret` (at least [`MIN_SSO_SECRET_BYTES`] bytes).
    pub fn new(secret: &[u8], create_customers: bool) -> Result<Self, String> {
        if secret.len() < MIN_SSO_SECRET_BYTES {
            return Err(format!(
                "the portal's single sign-on secret must be at least {MIN_SSO_SECRET_BYTES} bytes"
            ));
        }
        Ok(Self {
            key: DecodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            create_customers,
        })
    }

    /// The claims of `jwt` if it is signed with the secret (HS256 only), was issued within
    /// the last [`SSO_MAX_AGE_SECONDS`], has not expired (when it says when) and names a `jti`.
    fn claims(&self, jwt: &str, now: i64) -> Option<SsoClaims> {
        if jwt.len() > MAX_JWT_BYTES {
            return None;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["iat"]);
        validation.leeway = CLOCK_SKEW_SECONDS as u64;
        let claims = jsonwebtoken::decode::<SsoClaims>(jwt, &self.key, &validation)
            .ok()?
            .claims;
        let age = now - claims.iat;
        let fresh = (-CLOCK_SKEW_SECONDS..=SSO_MAX_AGE_SECONDS).contains(&age);
        let jti = claims.jti.trim();
        (fresh && !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS).then_some(claims)
    }
}

impl PortalService {
    /// A session for the host's user that `jwt` names. Each token opens one session: its
    /// `jti` is counted once, in a window that starts at its `iat` and outlasts its validity.
    pub(super) async fn open_sso_session(
        &self,
        jwt: &str,
    ) -> Result<(PortalSession, String), HelpdeskError> {
        let sso = self
            .sso
            .as_ref()
            .ok_or_else(|| HelpdeskError::invalid("jwt", "single sign-on is not configured"))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = sso.claims(jwt, now).ok_or(HelpdeskError::Unauthorized)?;
        let email = Email::parse(&claims.email).map_err(|_| HelpdeskError::Unauthorized)?;
        let key = format!("portal-sso-jti#{}", claims.jti.trim());
        let window = SSO_MAX_AGE_SECONDS + 2 * CLOCK_SKEW_SECONDS;
        if !self.limits.once(&key, claims.iat, window).await? {
            tracing::warn!(customer = %email, "portal single sign-on token used again");
            return Err(HelpdeskError::Unauthorized);
        }
        let customer = match self.customers.find_customer(&email).await? {
            Some(customer) => customer,
            None if sso.create_customers => self.create_for_sso(&email, claims).await?,
            None => return Err(HelpdeskError::Unauthorized),
        };
        if Principal::of(&customer).is_none() {
            return Err(HelpdeskError::Unauthorized);
        }
        tracing::info!(customer = %customer.email(), "portal single sign-on");
        self.start_session(&customer).await
    }

    /// The customer a host's token names, created with the names it carries; never for an
    /// erased or blocked address.
    async fn create_for_sso(
        &self,
        email: &Email,
        claims: SsoClaims,
    ) -> Result<crate::domain::customer::Customer, HelpdeskError> {
        let marks = self.addresses.marks(email.as_str()).await?;
        if marks.suppressed.is_some() || marks.blocked.is_some() {
            return Err(HelpdeskError::Unauthorized);
        }
        let name = |n: Option<String>| {
            n.map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect())
                .filter(|n: &String| !n.trim().is_empty())
        };
        let profile = Profile {
            email: email.clone(),
            first_name: name(claims.first_name),
            last_name: name(claims.last_name),
            ..Profile::default()
        };
        let by = Actor::System {
            name: "portal single sign-on".into(),
        };
        let customer = self.creator.new_customer(profile, false, by, false).await?;
        match self.customers.insert_customer(&customer).await {
            Ok(()) => Ok(customer),
            // Created a moment ago by another path: that customer.
            Err(StoreError::EmailTaken(_)) => self
                .customers
                .find_customer(email)
                .await?
                .ok_or_else(|| HelpdeskError::Unavailable("customer vanished; retry".into())),
            Err(other) => Err(other.into()),
        }
    }
}
