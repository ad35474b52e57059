//! The customer portal's rules: who sees which ticket (one function, [`visible`], that every
//! portal path goes through), and the sign-in codes and sessions that say who is asking.

use serde::{Deserialize, Serialize};

use crate::domain::customer::{Customer, PortalAccess};
use crate::domain::ticket::{Ticket, TicketMessage, TicketStatus};
use crate::domain::timestamp::Timestamp;
use crate::domain::versioned::Versioned;

/// A sign-in code is valid this long.
pub const CODE_MINUTES: i64 = 15;
/// A code is given up after this many wrong tries.
pub const CODE_TRIES: u32 = 5;
/// Digits in a sign-in code.
pub const CODE_DIGITS: usize = 8;
/// A session lasts at most this long.
pub const SESSION_DAYS: i64 = 7;
/// Sign-in codes one address may be sent in an hour.
pub const CODES_PER_ADDRESS_HOUR: u32 = 5;
/// Sign-in requests one client (network address) may make in an hour.
pub const SIGN_INS_PER_CLIENT_HOUR: u32 = 30;
/// Customers one ticket may hold as Cc (colleagues who replied, customers agents copied).
pub const MAX_TICKET_CC: usize = 50;

/// The customer a portal session belongs to, as read for this request: what they see follows
/// the record as it is now (a change of company shows at once, in open sessions too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub customer_id: String,
    pub email: String,
    pub company_id: Option<String>,
    pub access: PortalAccess,
}

impl Principal {
    /// The portal's view of `customer`; `None` when they may not use the portal at all
    /// (access `none`, or blocked: a block or an erasure under way).
    pub fn of(customer: &Customer) -> Option<Principal> {
        let access = customer.profile.portal_access;
        if access == PortalAccess::None || customer.blocked.is_some() {
            return None;
        }
        Some(Principal {
            customer_id: customer.id.clone(),
            email: customer.email().to_string(),
            company_id: customer.profile.company_id.clone(),
            access,
        })
    }

    /// Whether they see their company's tickets: `company_read` or `company`, and a company.
    pub fn sees_company(&self) -> bool {
        self.company_id.is_some()
            && matches!(
                self.access,
                PortalAccess::CompanyRead | PortalAccess::Company
            )
    }
}

/// What a customer may do with a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    /// Not theirs to see: answered exactly as a ticket that does not exist.
    Hidden,
    /// A colleague's ticket under `company_read`.
    Read,
    /// Theirs (requested or Cc'd), or a colleague's under `company`.
    Reply,
}

/// The one rule of the portal: who sees which ticket. Their own tickets (requested, or Cc'd
/// on) they may answer; their company's they may read with `company_read` and answer with
/// `company`; nothing else exists for them.
pub fn visible(ticket: &Ticket, principal: &Principal) -> Visibility {
    if principal.access == PortalAccess::None {
        return Visibility::Hidden;
    }
    if ticket.customer_id == principal.customer_id
        || ticket.cc_customers.contains(&principal.customer_id)
    {
        return Visibility::Reply;
    }
    let same_company = principal.sees_company()
        && ticket.company_id.is_some()
        && ticket.company_id == principal.company_id;
    match (same_company, principal.access) {
        (true, PortalAccess::Company) => Visibility::Reply,
        (true, _) => Visibility::Read,
        (false, _) => Visibility::Hidden,
    }
}

/// Adds a customer to a ticket's Cc (once, and not its own customer), up to [`MAX_TICKET_CC`].
pub fn add_cc(ticket: &mut Ticket, customer_id: &str) {
    if ticket.customer_id != customer_id
        && !ticket.cc_customers.iter().any(|id| id == customer_id)
        && ticket.cc_customers.len() < MAX_TICKET_CC
    {
        ticket.cc_customers.push(customer_id.to_string());
    }
}

/// The ticket once a customer's public message (mail or portal) joined it, made by `by`: one
/// message more, its newest public activity, and support's turn (`open`), whatever agents were
/// waiting for.
pub fn answered_by_customer(
    ticket: &Ticket,
    message: &TicketMessage,
    by: crate::domain::provenance::Actor,
) -> Ticket {
    let mut next = ticket.bumped();
    next.message_count += 1;
    next.last_message_at = message
        .received_at
        .clone()
        .max(ticket.last_message_at.clone());
    next.last_public_at = Some(next.last_message_at.clone());
    next.status = TicketStatus::Open;
    next.changed_by = Some(by);
    next
}

/// Only the customer who asked may mark a ticket solved.
pub fn may_solve(ticket: &Ticket, principal: &Principal) -> bool {
    ticket.customer_id == principal.customer_id
}

/// A ticket's status as its customer reads it.
pub fn customer_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Open => "waiting for support",
        TicketStatus::Pending => "waiting for you",
        TicketStatus::Solved => "solved",
        TicketStatus::Closed => "closed",
    }
}

/// The portal listings a ticket is in, each a key with the ticket's newest public activity
/// and id as its position (newest first): its customer's and each Cc'd customer's own
/// listing, and its company's.
pub fn portal_scopes(ticket: &Ticket) -> Vec<String> {
    let mut scopes = vec![own_scope(&ticket.customer_id)];
    for id in &ticket.cc_customers {
        let scope = own_scope(id);
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if let Some(company) = &ticket.company_id {
        scopes.push(company_scope(company));
    }
    scopes
}

/// The listing of the tickets a customer requested or is Cc'd on.
pub fn own_scope(customer_id: &str) -> String {
    format!("C#{customer_id}")
}

/// The listing of a company's tickets.
pub fn company_scope(company_id: &str) -> String {
    format!("CO#{company_id}")
}

/// A ticket's position in the portal's listings: newest public activity first.
pub fn portal_position(ticket: &Ticket) -> String {
    let at = ticket
        .last_public_at
        .as_ref()
        .unwrap_or(&ticket.last_message_at);
    format!("{at}#{}", ticket.id)
}

/// SHA-256, hex: codes, token secrets and session tokens are kept as this only.
pub fn token_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// The sign-in code sent to one address, kept as hashes only. A new code replaces the last;
/// a used one is deleted; each wrong try counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInCode {
    /// The salted hash of the address it was sent to: its key.
    pub address_hash: String,
    /// The customer it signs in (their id when it was sent), and the address it went to.
    pub customer_id: String,
    pub email: String,
    /// SHA-256 of the code.
    pub code_hash: String,
    /// SHA-256 of the secret of the link's token.
    pub token_hash: String,
    pub expires_at: Timestamp,
    pub tries_left: u32,
    pub version: u64,
}

impl SignInCode {
    pub fn is_expired(&self, now: &Timestamp) -> bool {
        *now >= self.expires_at
    }
}

/// A request for a sign-in code, queued so that answering it takes the same time whether or
/// not the address is a customer's: the mail goes out as due work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    pub id: String,
    /// The address as typed, normalised.
    pub email: String,
    pub requested_at: Timestamp,
}

/// A portal session, kept under the hash of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    pub token_hash: String,
    pub customer_id: String,
    /// The primary email it was opened for: a change of primary email ends it.
    pub email: String,
    /// The customer's `portal_epoch` when it was opened: revoking every session moves it on.
    pub epoch: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl PortalSession {
    /// Whether the session still holds for `customer` (read now): the same person at the same
    /// primary email, sessions not revoked since, not expired, and allowed the portal.
    pub fn holds_for(&self, customer: &Customer, now: &Timestamp) -> bool {
        *now < self.expires_at
            && customer.id == self.customer_id
            && customer.email() == self.email
            && customer.portal.epoch == self.epoch
            && Principal::of(customer).is_some()
    }
}
