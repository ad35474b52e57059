//! The customer portal: customers sign in with a code sent to their address and see, answer
//! and open tickets. Every ticket a portal route touches goes through
//! `domain::portal::visible`; a ticket the customer may not see is answered as one that does
//! not exist.

mod me;
mod sign_in;
mod sso;
mod tickets;

use std::sync::Arc;

pub use sign_in::{SessionInput, SignInInput, SignInMail, SignInSender};
pub use sso::{MIN_SSO_SECRET_BYTES, PortalSso, SSO_MAX_AGE_SECONDS};
pub use tickets::{
    MAX_PORTAL_ATTACHMENT_BYTES, MAX_PORTAL_ATTACHMENTS, NewAttachment, PortalMessage, PortalReply,
    PortalTicket, PortalTicketInput, TicketScope,
};

use crate::domain::customer::Customer;
use crate::domain::email::Email;
use crate::domain::error::HelpdeskError;
use crate::domain::portal::{PortalSession, Principal};
use crate::ports::objects::ObjectStore;
use crate::ports::portal::PortalStore;
use crate::ports::store::{CustomerStore, TicketStore};
use crate::services::addresses::AddressBook;
use crate::services::customers::CustomerService;
use crate::services::limits::RateLimiter;
use crate::services::replies::SupportAddress;

/// The portal over the stores it reads and writes.
#[derive(Clone)]
pub struct PortalService {
    customers: Arc<dyn CustomerStore>,
    tickets: Arc<dyn TicketStore>,
    portal: Arc<dyn PortalStore>,
    addresses: AddressBook,
    limits: RateLimiter,
    /// Where attachments are kept (the mail bucket).
    mail: Arc<dyn ObjectStore>,
    support: SupportAddress,
    /// Creates customers a host's single sign-on names (when the operator allows it).
    creator: CustomerService,
    /// Off: every portal route answers 404.
    pub enabled: bool,
    /// Single sign-on for a host application; `None` (the default) is off.
    pub sso: Option<PortalSso>,
}

/// What [`PortalService`] reaches.
pub struct PortalPorts {
    pub customers: Arc<dyn CustomerStore>,
    pub tickets: Arc<dyn TicketStore>,
    pub portal: Arc<dyn PortalStore>,
    pub addresses: AddressBook,
    pub limits: RateLimiter,
    pub mail: Arc<dyn ObjectStore>,
    pub support: SupportAddress,
    pub creator: CustomerService,
    pub enabled: bool,
}

/// A signed-in customer, as read for this request.
#[derive(Debug, Clone)]
pub struct PortalCaller {
    pub principal: Principal,
    pub customer: Customer,
    pub session: PortalSession,
}

impl PortalService {
    pub fn new(ports: PortalPorts) -> Self {
        Self {
            customers: ports.customers,
            tickets: ports.tickets,
            portal: ports.portal,
            addresses: ports.addresses,
            limits: ports.limits,
            mail: ports.mail,
            support: ports.support,
            creator: ports.creator,
            enabled: ports.enabled,
            sso: None,
        }
    }

    /// The name the portal carries: the support address's display name.
    pub fn brand(&self) -> String {
        self.support
            .mailbox
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Support".into())
    }

    /// 404 for every portal route while the portal is off.
    pub fn require_enabled(&self) -> Result<(), HelpdeskError> {
        if self.enabled {
            Ok(())
        } else {
            Err(HelpdeskError::NotFound("portal".into()))
        }
    }

    /// The customer a session token signs in, as they are now: a session holds only while
    /// it is the same person at the same primary email, allowed the portal, not revoked and
    /// not expired (see `PortalSession::holds_for`). One that no longer holds is deleted.
    pub async fn caller(&self, token: &str) -> Result<PortalCaller, HelpdeskError> {
        self.require_enabled()?;
        let hash = crate::domain::portal::token_hash(token);
        let session = self
            .portal
            .get_session(&hash)
            .await?
            .ok_or(HelpdeskError::Unauthorized)?;
        let customer = self
            .customers
            .find_customer(&Email::stored(&session.email))
            .await?;
        let now = crate::domain::clock::now();
        let holding = customer.filter(|c| session.holds_for(c, &now));
        let Some(customer) = holding else {
            self.portal.delete_session(&hash).await?;
            return Err(HelpdeskError::Unauthorized);
        };
        let principal = Principal::of(&customer).ok_or(HelpdeskError::Unauthorized)?;
        Ok(PortalCaller {
            principal,
            customer,
            session,
        })
    }
}
