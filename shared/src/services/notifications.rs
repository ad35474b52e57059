//! Notifications: the welcome email of a customer created with `send_welcome: true`, sent once.
//!
//! The customer record is the ledger. `welcome.status` is `pending` until the email went out
//! (`sent`) or could not (`failed`). Before sending, the notifier claims the email by setting
//! `welcome.sending_since` at the record's version, so of two deliveries of one event only one
//! sends. A redelivered event finds the claim, or the final status, and sends nothing.

use crate::domain::email::Email;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::customer::Customer;
use crate::domain::customer::WelcomeStatus;
use crate::domain::error::HelpdeskError;
use crate::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use crate::ports::store::CustomerStore;
use crate::services::retry::{Attempt, retry_on_conflict};

/// Sends per event before a transient failure is handed back to the event source to retry.
const SEND_ATTEMPTS: u32 = 3;

/// Sends `mail`, retrying throttling and outages [`SEND_ATTEMPTS`] times with jittered backoff.
/// Welcome emails and replies both go out this way; a refusal is answered at once, the last
/// transient error after the attempts.
pub(crate) async fn send_with_retries(
    mailer: &dyn Mailer,
    mail: &OutgoingMail,
) -> Result<Sent, MailError> {
    let mut attempt = 0;
    loop {
        match mailer.send(mail).await {
            Err(MailError::Unavailable(why)) if attempt + 1 < SEND_ATTEMPTS => {
                tracing::debug!(error = %why, attempt, "mail provider unavailable; retrying");
                let wait = 200u64 << attempt;
                tokio::time::sleep(Duration::from_millis(rand::random_range(0..=wait))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
/// Failed attempts (across events) after which the welcome email is given up as `failed`.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;

/// Sender, subject and body of the welcome email. `{{first_name}}`, `{{last_name}}`,
/// `{{name}}` (first name, or "there") and `{{email}}` are replaced in subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeTemplate {
    pub sender: String,
    pub subject: String,
    pub body: String,
    /// The customer portal's address when the portal is on: the welcome email then invites
    /// the customer to it (the seed's "Customer Portal welcome email"), and sign-in codes
    /// link to it.
    pub portal_url: Option<String>,
}

pub const DEFAULT_SUBJECT: &str = "Welcome, {{name}}";
pub const DEFAULT_BODY: &str = "Hello {{name}},\n\nwelcome! You can reach our support team any time by replying to this email or writing to us.\n\nKind regards,\nThe support team\n";

impl WelcomeTemplate {
    /// From `WELCOME_SENDER`, `WELCOME_SUBJECT` and `WELCOME_BODY`; the sender is required.
    pub fn from_env() -> Result<Self, String> {
        let sender = std::env::var("WELCOME_SENDER")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .ok_or("WELCOME_SENDER is not set")?;
        Ok(Self::with_sender(sender))
    }

    /// The configured subject and body (or the defaults) with `sender`.
    pub fn with_sender(sender: String) -> Self {
        let configured = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|s| !s.trim().is_empty())
                // Template parameters arrive on one line; `\n` stands for a line break.
                .map(|s| s.replace("\\n", "\n"))
                .unwrap_or_else(|| default.to_string())
        };
        Self {
            sender,
            subject: configured("WELCOME_SUBJECT", DEFAULT_SUBJECT),
            body: configured("WELCOME_BODY", DEFAULT_BODY),
            portal_url: None,
        }
    }

    /// This template with the portal at `url` (`None`: the portal is off).
    pub fn with_portal(mut self, url: Option<String>) -> Self {
        self.portal_url = url.map(|u| u.trim_end_matches('/').to_string());
        self
    }

    pub fn render(&self, customer: &Customer) -> OutgoingMail {
        let first = customer.profile.first_name.clone().unwrap_or_default();
        let last = customer.profile.last_name.clone().unwrap_or_default();
        let name = if first.is_empty() {
            "there".to_string()
        } else {
            first.clone()
        };
        let fill = |text: &str| {
            text.replace("{{first_name}}", &first)
                .replace("{{last_name}}", &last)
                .replace("{{name}}", &name)
                .replace("{{email}}", customer.email())
        };
        let mut text = fill(&self.body);
        if let Some(portal) = &self.portal_url {
            text.push_str(&format!(
                "\nYou can follow your requests, answer them and open new ones in our support \
                 portal: sign in with this address at {portal}/portal\n"
            ));
        }
        OutgoingMail {
            from: self.sender.clone(),
            to: customer.email().to_string(),
            subject: fill(&self.subject),
            text,
            automated: true,
            tags: vec![("kind".into(), "welcome".into())],
            ..OutgoingMail::default()
        }
    }
}

/// What one attempt to send a message (a welcome email, a reply) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    Sent,
    /// The provider refused it for good, or it failed too often.
    Failed,
    /// Not sent this time and still pending: the record's change (or the next scan, locally)
    /// brings it back for another try.
    Retrying,
    /// Not due: never requested, already sent or failed, or being sent by another delivery.
    NotDue,
}

#[derive(Clone)]
pub struct Notifier {
    pub customers: Arc<dyn CustomerStore>,
    pub mailer: Arc<dyn Mailer>,
    pub template: WelcomeTemplate,
    /// The address's marks: a complaint, a bounce or a block outlives the customer record.
    pub addresses: crate::services::addresses::AddressBook,
}

impl Notifier {
    /// Sends the welcome email of the customer at `email`, if it is due. A transient failure
    /// leaves it pending with the error and a count of failed attempts (the change is itself
    /// the next event); after [`MAX_FAILED_ATTEMPTS`] it is `failed`. An error means the store
    /// was unavailable: the caller retries the event.
    pub async fn welcome(&self, email: &Email) -> Result<SendOutcome, HelpdeskError> {
        let Some(claimed) = self.claim(email).await? else {
            return Ok(SendOutcome::NotDue);
        };
        let marks = self.addresses.marks(claimed.email()).await?;
        let barred = automated_mail_barred(&claimed).or(marks.bars_automated_mail());
        if let Some(why) = barred {
            // Nothing automated goes to a blocked customer, one who complained, or an address
            // that bounced; lifting the bar does not send it later.
            let why = format!("not sent: {why}");
            tracing::info!(customer = %claimed.email(), reason = %why, "welcome email not sent");
            self.settle(&claimed, Settle::Failed(why)).await?;
            return Ok(SendOutcome::Failed);
        }
        let mail = self.template.render(&claimed);
        match send_with_retries(self.mailer.as_ref(), &mail).await {
            Ok(id) => {
                self.settle(&claimed, Settle::Sent).await?;
                tracing::info!(customer = %claimed.email(), provider_id = %id.provider_id, "welcome email sent");
                Ok(SendOutcome::Sent)
            }
            Err(error @ (MailError::Rejected(_) | MailError::Refused { .. })) => {
                let why = error.reason();
                self.settle(&claimed, Settle::Failed(why.clone())).await?;
                tracing::warn!(customer = %claimed.email(), error = %why, "welcome email rejected");
                Ok(SendOutcome::Failed)
            }
            Err(MailError::Unavailable(why)) => {
                tracing::warn!(customer = %claimed.email(), error = %why, "welcome email not sent yet");
                self.settle(&claimed, Settle::Retry(why)).await
            }
        }
    }

    /// Marks the welcome email as being sent, at the record's version: one claimant wins.
    async fn claim(&self, email: &Email) -> Result<Option<Customer>, HelpdeskError> {
        let store = &self.customers;
        retry_on_conflict("customer", || async {
            let Some(customer) = store.find_customer(email).await? else {
                return Ok(Attempt::Done(None));
            };
            // A customer under erasure changes no more, and is owed nothing.
            if !customer.welcome.as_ref().is_some_and(|w| w.is_due())
                || customer.erasure_under_way().is_some()
            {
                return Ok(Attempt::Done(None));
            }
            let now = crate::domain::clock::now();
            let mut next = customer.next_version(customer.profile.clone(), &now, notifier());
            if let Some(welcome) = next.welcome.as_mut() {
                welcome.sending_since = Some(now);
            }
            let outcome = store.replace_customer(&customer, &next).await;
            Attempt::of_write(outcome, || Some(next))
        })
        .await
    }

    /// Records the result on the current record (agents may have edited it since the claim).
    async fn settle(
        &self,
        claimed: &Customer,
        result: Settle,
    ) -> Result<SendOutcome, HelpdeskError> {
        let store = &self.customers;
        retry_on_conflict("customer", || async {
            // The record as it is now: agents or imports may have changed it since the claim.
            let Some(current) = store.find_customer(&claimed.profile.email).await? else {
                return Ok(Attempt::Done(SendOutcome::NotDue));
            };
            if current.id != claimed.id || current.erasure_under_way().is_some() {
                return Ok(Attempt::Done(SendOutcome::NotDue));
            }
            let now = crate::domain::clock::now();
            let mut next = current.next_version(current.profile.clone(), &now, notifier());
            let Some(welcome) = next.welcome.as_mut() else {
                return Ok(Attempt::Done(SendOutcome::NotDue));
            };
            welcome.sending_since = None;
            let outcome = match &result {
                Settle::Sent => {
                    welcome.status = WelcomeStatus::Sent;
                    welcome.at = now.clone();
                    welcome.error = None;
                    SendOutcome::Sent
                }
                Settle::Failed(why) => {
                    welcome.status = WelcomeStatus::Failed;
                    welcome.at = now.clone();
                    welcome.failed_attempts += 1;
                    welcome.error = Some(why.clone());
                    SendOutcome::Failed
                }
                Settle::Retry(why) => {
                    welcome.failed_attempts += 1;
                    welcome.error = Some(why.clone());
                    if welcome.failed_attempts >= MAX_FAILED_ATTEMPTS {
                        welcome.status = WelcomeStatus::Failed;
                        welcome.at = now.clone();
                        SendOutcome::Failed
                    } else {
                        SendOutcome::Retrying
                    }
                }
            };
            let written = store.replace_customer(&current, &next).await;
            Attempt::of_write(written, || outcome)
        })
        .await
    }
}

/// Why no automated mail may go to `customer` now, if it may not.
fn automated_mail_barred(customer: &Customer) -> Option<&'static str> {
    if customer.blocked.is_some() {
        Some("the customer is blocked")
    } else if customer.complained.is_some() {
        Some("the customer marked our mail as spam")
    } else if customer.undeliverable.is_some() {
        Some("the customer's address bounced")
    } else {
        None
    }
}

enum Settle {
    Sent,
    Failed(String),
    Retry(String),
}

/// The notifier's changes (welcome state) are its own, not anyone's edit of the customer.
fn notifier() -> crate::domain::history::Actor {
    crate::domain::history::Actor::System {
        name: "notifier".into(),
    }
}
