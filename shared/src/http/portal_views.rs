//! The portal's views: what a customer sees of themselves, tickets and messages, and nothing
//! more (no internal note, no address but their own, no delivery state).

use super::*;
use crate::domain::customer::Customer;
use crate::domain::portal::{Visibility, customer_status};
use crate::domain::ticket::{Attachment, TicketMessage, TicketStatus};
use crate::services::portal::{PortalCaller, PortalMessage, PortalTicket};

/// A customer's own profile in the portal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalMe)]
pub struct PortalMeView<'a> {
    pub email: &'a str,
    pub first_name: &'a Option<String>,
    pub last_name: &'a Option<String>,
    pub phones: &'a [String],
    /// Their uploaded avatar (`PUT /portal/me/avatar`).
    pub avatar_image: Option<super::AvatarImageView>,
    /// `own`, `company_read` or `company`.
    pub portal_access: crate::domain::customer::PortalAccess,
    /// Whether the company tab is theirs to see.
    pub sees_company: bool,
}

impl<'a> PortalMeView<'a> {
    pub(super) fn new(customer: &'a Customer) -> Self {
        let sees_company =
            crate::domain::portal::Principal::of(customer).is_some_and(|p| p.sees_company());
        PortalMeView {
            email: customer.email(),
            first_name: &customer.profile.first_name,
            last_name: &customer.profile.last_name,
            phones: &customer.profile.phones,
            avatar_image: customer
                .avatar_image
                .as_ref()
                .map(super::AvatarImageView::new),
            portal_access: customer.profile.portal_access,
            sees_company,
        }
    }
}

/// A ticket in the portal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalTicket)]
pub struct PortalTicketView<'a> {
    pub id: &'a str,
    pub subject: &'a str,
    /// `open`, `pending`, `solved`, `closed`.
    pub status: TicketStatus,
    /// The status as the customer reads it ("waiting for support", …).
    pub status_text: &'static str,
    /// The customer asked it themselves (else a colleague did, or they are Cc'd).
    pub yours: bool,
    pub can_reply: bool,
    pub can_solve: bool,
    pub created_at: &'a str,
    /// The newest message they can see.
    pub last_activity_at: &'a str,
}

impl<'a> From<&'a PortalTicket> for PortalTicketView<'a> {
    fn from(shown: &'a PortalTicket) -> Self {
        let ticket = &shown.ticket;
        PortalTicketView {
            id: &ticket.id,
            subject: &ticket.subject,
            status: ticket.status,
            status_text: customer_status(ticket.status),
            yours: shown.requested,
            can_reply: shown.visibility == Visibility::Reply
                && ticket.status != TicketStatus::Closed,
            can_solve: shown.may_solve,
            created_at: &ticket.created_at,
            last_activity_at: ticket
                .last_public_at
                .as_deref()
                .unwrap_or(&ticket.last_message_at),
        }
    }
}

/// A message in the portal: who wrote it by display name only (support's agents under the
/// team's name, colleagues by name), its text, its files.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalMessage)]
pub struct PortalMessageView<'a> {
    pub id: &'a str,
    /// A display name: never an address.
    pub from: String,
    /// Written by support (an agent's reply) rather than a customer.
    pub from_support: bool,
    /// Written by the customer who reads it.
    pub yours: bool,
    pub at: &'a str,
    pub text: &'a str,
    pub attachments: Vec<PortalAttachmentView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalAttachment)]
pub struct PortalAttachmentView<'a> {
    pub id: &'a str,
    pub filename: &'a str,
    pub size: u64,
    /// `GET` it for a 303 to the file.
    pub link: String,
}

impl<'a> PortalMessageView<'a> {
    pub(super) fn new(message: &'a TicketMessage, reader: &PortalCaller) -> Self {
        let from_support = !message.kind.is_inbound();
        let yours = !from_support && message.from.email == reader.customer.email();
        let from = match (&message.from.name, from_support) {
            (Some(name), _) if !name.trim().is_empty() => name.clone(),
            (_, true) => "Support".to_string(),
            (_, false) => "A colleague".to_string(),
        };
        let attachment = |a: &'a Attachment| PortalAttachmentView {
            id: &a.id,
            filename: &a.filename,
            size: a.size,
            link: format!("/portal/tickets/{}/attachments/{}", message.ticket_id, a.id),
        };
        PortalMessageView {
            id: &message.id,
            from,
            from_support,
            yours,
            at: &message.received_at,
            text: if message.body.reply_text.trim().is_empty() {
                &message.body.text
            } else {
                &message.body.reply_text
            },
            attachments: message
                .attachments
                .iter()
                .filter(|a| !a.inline)
                .map(attachment)
                .collect(),
        }
    }
}

/// A ticket with its conversation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalConversation)]
pub struct PortalConversationView<'a> {
    #[serde(flatten)]
    pub ticket: PortalTicketView<'a>,
    pub messages: Vec<PortalMessageView<'a>>,
    /// More messages than one read holds (the oldest are shown).
    pub more: bool,
}

impl<'a> PortalConversationView<'a> {
    pub(super) fn new(shown: &'a PortalMessage, reader: &PortalCaller) -> Self {
        PortalConversationView {
            ticket: PortalTicketView::from(&shown.ticket),
            messages: shown
                .messages
                .iter()
                .map(|m| PortalMessageView::new(m, reader))
                .collect(),
            more: shown.more,
        }
    }
}

/// A page of portal tickets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalTicketPage)]
pub struct PortalTicketPageView<'a> {
    pub items: Vec<PortalTicketView<'a>>,
    pub next_cursor: Option<&'a str>,
}

/// The answer to `POST /portal/sessions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PortalSessionOpened)]
pub struct SessionView<'a> {
    pub expires_at: &'a str,
    /// Only when asked for (`"return_token": true`): send it as `Authorization: Bearer …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
}
