//! Signing in: a code (and a link carrying a one-time token) mailed to a customer's address,
//! exchanged once for a session. Requests are queued and answered as due work, so the
//! request's answer takes the same time whether or not the address is a customer's.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::PortalService;
use crate::domain::customer::Customer;
use crate::domain::email::Email;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::patch::Command;
use crate::domain::portal::*;
use crate::domain::timestamp::Timestamp;
use crate::ports::mailer::{MailError, Mailer, OutgoingMail};
use crate::ports::portal::PortalStore;
use crate::ports::store::CustomerStore;
use crate::services::addresses::AddressBook;
use crate::services::limits::Limit;
use crate::services::notifications::SendOutcome;

/// `POST /portal/sign-in`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignInInput {
    /// The customer's email address (primary or alternate).
    pub email: String,
}

impl Command for SignInInput {}

/// `POST /portal/sessions`: the code with the address it was sent to, the link's token, or a
/// host application's single sign-on JWT.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    pub email: Option<String>,
    pub code: Option<String>,
    pub token: Option<String>,
    /// An HS256 JWT signed by the host application (`email`, `iat`, `jti`), when the operator
    /// has configured single sign-on.
    pub jwt: Option<String>,
}

impl Command for SessionInput {}

/// How sign-in codes are mailed: from whom, and the portal's address for the link.
#[derive(Debug, Clone)]
pub struct SignInMail {
    pub sender: String,
    /// The portal's base URL (`https://…`, no trailing slash).
    pub portal_url: String,
}

/// Compares two hashes in time that does not depend on where they differ.
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn random_hex(bytes: usize) -> String {
    hex::encode(
        (0..bytes)
            .map(|_| rand::random::<u8>())
            .collect::<Vec<u8>>(),
    )
}

fn wrong_code() -> HelpdeskError {
    HelpdeskError::Unauthorized
}

impl PortalService {
    /// Queues a sign-in code for `email`, limited per client (`client`: its network address)
    /// and per address. The answer does not depend on whether the address is known.
    pub async fn request_sign_in(
        &self,
        input: SignInInput,
        client: &str,
    ) -> Result<(), HelpdeskError> {
        self.require_enabled()?;
        let email = Email::parse(&input.email).map_err(|m| HelpdeskError::invalid("email", m))?;
        let hour = |events| {
            [Limit {
                events,
                seconds: 3600,
            }]
        };
        self.limits
            .allow(
                "sign-in requests from this network address",
                &format!("signin-client#{client}"),
                &hour(SIGN_INS_PER_CLIENT_HOUR),
            )
            .await?;
        let hash = self.addresses.hash(email.as_str()).await?;
        self.limits
            .allow(
                "sign-in codes for this address",
                &format!("signin-address#{hash}"),
                &hour(CODES_PER_ADDRESS_HOUR),
            )
            .await?;
        let request = SignInRequest {
            id: crate::domain::clock::new_id(),
            email: email.to_string(),
            requested_at: crate::domain::clock::now(),
        };
        self.portal.queue_sign_in(&request).await?;
        Ok(())
    }

    /// Exchanges a code (with its address) or a link's token for a session; answers it with
    /// its token. Five wrong tries use the code up; a right one is used once.
    pub async fn open_session(
        &self,
        input: SessionInput,
    ) -> Result<(PortalSession, String), HelpdeskError> {
        self.require_enabled()?;
        if let Some(jwt) = input.jwt {
            if input.email.is_some() || input.code.is_some() || input.token.is_some() {
                return Err(HelpdeskError::bad_request(
                    "body",
                    "send `jwt` alone, `email` and `code`, or `token`",
                ));
            }
            return self.open_sso_session(&jwt).await;
        }
        let (hash, secret, by_code) = match (input.email, input.code, input.token) {
            (Some(email), Some(code), None) => {
                let email = Email::parse(&email).map_err(|m| HelpdeskError::invalid("email", m))?;
                let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
                (self.addresses.hash(email.as_str()).await?, digits, true)
            }
            (None, None, Some(token)) => {
                let (hash, secret) = token.trim().split_once('.').ok_or_else(wrong_code)?;
                (hash.to_string(), secret.to_string(), false)
            }
            _ => {
                return Err(HelpdeskError::bad_request(
                    "body",
                    "send `email` and `code`, `token`, or `jwt`",
                ));
            }
        };
        let code = self.check_code(&hash, &secret, by_code).await?;
        let customer = self.customer_by_id(&code).await?;
        self.start_session(&customer).await
    }

    /// The stored code for `hash` if `secret` is its code (or token secret); counts a wrong
    /// try; uses a right one up.
    async fn check_code(
        &self,
        hash: &str,
        secret: &str,
        by_code: bool,
    ) -> Result<SignInCode, HelpdeskError> {
        let now = crate::domain::clock::now();
        let code = self
            .portal
            .get_code(hash)
            .await?
            .filter(|c| !c.is_expired(&now) && c.tries_left > 0)
            .ok_or_else(wrong_code)?;
        let expected = if by_code {
            &code.code_hash
        } else {
            &code.token_hash
        };
        if !same_hash(expected, &token_hash(secret)) {
            let mut next = code.clone();
            next.tries_left = code.tries_left.saturating_sub(1);
            next.version += 1;
            let counted = match next.tries_left {
                0 => self.portal.use_code(&code).await,
                _ => self.portal.replace_code(&code, &next).await,
            };
            return match counted {
                Ok(()) | Err(StoreError::VersionMismatch) => Err(wrong_code()),
                Err(other) => Err(other.into()),
            };
        }
        match self.portal.use_code(&code).await {
            Ok(()) => Ok(code),
            Err(StoreError::VersionMismatch) => Err(wrong_code()),
            Err(other) => Err(other.into()),
        }
    }

    /// The customer a code was sent for, if they may still sign in.
    async fn customer_by_id(&self, code: &SignInCode) -> Result<Customer, HelpdeskError> {
        let found = self
            .customers
            .find_customer(&Email::stored(&code.email))
            .await?
            .filter(|c| c.id == code.customer_id && Principal::of(c).is_some());
        found.ok_or_else(wrong_code)
    }

    pub(super) async fn start_session(
        &self,
        customer: &Customer,
    ) -> Result<(PortalSession, String), HelpdeskError> {
        let token = format!("hdp_{}", random_hex(32));
        let now = crate::domain::clock::now();
        let session = PortalSession {
            token_hash: token_hash(&token),
            customer_id: customer.id.clone(),
            email: customer.email().to_string(),
            epoch: customer.portal.epoch,
            created_at: now,
            expires_at: Timestamp::after(Duration::from_secs(SESSION_DAYS as u64 * 86_400)),
        };
        self.portal.put_session(&session).await?;
        tracing::info!(customer = %customer.email(), "portal session opened");
        Ok((session, token))
    }

    /// Ends the caller's session (signing out).
    pub async fn close_session_of(
        &self,
        caller: &super::PortalCaller,
    ) -> Result<(), HelpdeskError> {
        Ok(self
            .portal
            .delete_session(&caller.session.token_hash)
            .await?)
    }

    /// Ends every portal session of the customer at `email` (admins): their `portal.epoch`
    /// moves on, which no open session matches.
    pub async fn revoke_sessions(
        &self,
        caller: &crate::domain::caller::Caller,
        email: &Email,
    ) -> Result<(), HelpdeskError> {
        caller.require_admin()?;
        crate::services::retry::retry_on_conflict("customer", || async {
            let current =
                crate::services::customers::find_customer(self.customers.as_ref(), email).await?;
            let mut next = current.clone();
            next.portal.epoch += 1;
            next.version += 1;
            next.updated_at = crate::domain::clock::now();
            next.changed_by = Some(crate::domain::history::Actor::caller(&caller.subject));
            let outcome = self.customers.replace_customer(&current, &next).await;
            crate::services::retry::Attempt::of_write(outcome, || ())
        })
        .await?;
        tracing::info!(customer = %email, "portal sessions revoked");
        Ok(())
    }
}

/// Answers queued sign-in requests: the due work that mails codes.
#[derive(Clone)]
pub struct SignInSender {
    pub customers: Arc<dyn CustomerStore>,
    pub portal: Arc<dyn PortalStore>,
    pub addresses: AddressBook,
    pub mailer: Arc<dyn Mailer>,
    pub mail: SignInMail,
}

impl SignInSender {
    /// Mails a code for request `id` if its address is an eligible customer's; an unknown or
    /// barred address gets nothing. Done requests leave the queue; a transient failure of
    /// the mailer leaves it for another try.
    pub async fn send(&self, id: &str) -> Result<SendOutcome, HelpdeskError> {
        let Some(request) = self.portal.get_sign_in(id).await? else {
            return Ok(SendOutcome::NotDue);
        };
        let outcome = match self.eligible(&request.email).await? {
            Some(customer) => self.mail_code(&customer, &request.email).await?,
            None => SendOutcome::NotDue,
        };
        if outcome != SendOutcome::Retrying {
            self.portal.delete_sign_in(id).await?;
        }
        Ok(outcome)
    }

    /// The customer a code for `email` may go to: one allowed the portal, not blocked or
    /// being erased, whose address takes automated mail (not suppressed, blocked,
    /// bouncing or complained).
    async fn eligible(&self, email: &str) -> Result<Option<Customer>, HelpdeskError> {
        let Some(customer) = self.customers.find_customer(&Email::stored(email)).await? else {
            return Ok(None);
        };
        if Principal::of(&customer).is_none() {
            return Ok(None);
        }
        let marks = self.addresses.marks(email).await?;
        let own_problem = customer.email() == email
            && (customer.undeliverable.is_some() || customer.complained.is_some());
        Ok((marks.bars_automated_mail().is_none() && !own_problem).then_some(customer))
    }

    async fn mail_code(
        &self,
        customer: &Customer,
        email: &str,
    ) -> Result<SendOutcome, HelpdeskError> {
        let digits: String = (0..CODE_DIGITS)
            .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
            .collect();
        let secret = random_hex(32);
        let address_hash = self.addresses.hash(email).await?;
        let code = SignInCode {
            address_hash: address_hash.clone(),
            customer_id: customer.id.clone(),
            email: email.to_string(),
            code_hash: token_hash(&digits),
            token_hash: token_hash(&secret),
            expires_at: Timestamp::after(Duration::from_secs(CODE_MINUTES as u64 * 60)),
            tries_left: CODE_TRIES,
            version: 1,
        };
        self.portal.put_code(&code).await?;
        let link = format!(
            "{}/portal/link?token={address_hash}.{secret}",
            self.mail.portal_url
        );
        let mail = sign_in_mail(&self.mail.sender, email, &digits, &link);
        match self.mailer.send(&mail).await {
            Ok(_) => Ok(SendOutcome::Sent),
            Err(MailError::Unavailable(why)) => {
                tracing::warn!(error = %why, "sign-in code not sent; trying again");
                Ok(SendOutcome::Retrying)
            }
            Err(error @ (MailError::Rejected(_) | MailError::Refused { .. })) => {
                tracing::warn!(%error, "sign-in code refused by the mail provider");
                Ok(SendOutcome::Failed)
            }
        }
    }
}

/// The mail with a sign-in code and link.
fn sign_in_mail(sender: &str, to: &str, code: &str, link: &str) -> OutgoingMail {
    let spaced = format!("{} {}", &code[..4], &code[4..]);
    let text = format!(
        "Your sign-in code is {spaced}\n\nOr sign in with this link:\n{link}\n\n\
         The code and the link work once, for {CODE_MINUTES} minutes. If you did not ask to \
         sign in, you can ignore this message.\n"
    );
    OutgoingMail {
        from: sender.to_string(),
        to: to.to_string(),
        cc: Vec::new(),
        subject: format!("Your sign-in code: {spaced}"),
        text,
        html: None,
        message_id: None,
        in_reply_to: None,
        references: Vec::new(),
        automated: true,
        tags: vec![("kind".into(), "sign_in".into())],
    }
}
