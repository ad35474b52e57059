//! What SES says about sent mail after it left: a hard bounce marks the reply `failed` and the
//! customer's address `undeliverable`; a complaint marks the customer `complained`, and no more
//! automated mail goes to them. Feedback is applied idempotently: a redelivered event finds the
//! marks in place and changes nothing.

use crate::domain::email::Email;
use std::sync::Arc;

use crate::domain::customer::Customer;
use crate::domain::delivery::{
    AddressProblem, DeliveryFeedback, DeliveryStatus, FeedbackKind, ReplyRef,
};
use crate::domain::error::HelpdeskError;
use crate::domain::history::Actor;
use crate::domain::ticket::TicketMessage;
use crate::domain::timestamp::Timestamp;
use crate::ports::store::{CustomerStore, TicketStore};
use crate::services::retry::{Attempt, retry_on_conflict};

/// What one piece of feedback changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedbackOutcome {
    /// Customers newly marked undeliverable or complained.
    pub customers_marked: usize,
    /// Replies newly marked failed.
    pub replies_failed: usize,
}

#[derive(Clone)]
pub struct FeedbackService {
    tickets: Arc<dyn TicketStore>,
    customers: Arc<dyn CustomerStore>,
    /// The marks belong to the address, whoever holds it now or later.
    addresses: crate::services::addresses::AddressBook,
}

/// Which mark a customer gets.
#[derive(Clone, Copy)]
enum Mark {
    Undeliverable,
    Complained,
}

impl FeedbackService {
    pub fn new(
        tickets: Arc<dyn TicketStore>,
        customers: Arc<dyn CustomerStore>,
        addresses: crate::services::addresses::AddressBook,
    ) -> Self {
        Self {
            tickets,
            customers,
            addresses,
        }
    }

    /// Applies one notification. An error means the store was unavailable: the caller retries
    /// the event, and what was applied already is not applied twice.
    pub async fn apply(
        &self,
        feedback: &DeliveryFeedback,
    ) -> Result<FeedbackOutcome, HelpdeskError> {
        let mut outcome = FeedbackOutcome::default();
        let (mark, recipients, failure) = match &feedback.kind {
            FeedbackKind::HardBounce(recipients) => {
                (Some(Mark::Undeliverable), recipients, Some("bounced"))
            }
            FeedbackKind::SoftBounce(recipients) => (None, recipients, Some("bounced (temporary)")),
            FeedbackKind::Complaint(recipients) => (Some(Mark::Complained), recipients, None),
        };
        if let Some(mark) = mark {
            for (address, reason) in recipients {
                if self.mark(address, reason, &feedback.at, mark).await? {
                    outcome.customers_marked += 1;
                }
            }
        }
        if let (Some(failure), Some(reply)) = (failure, &feedback.reply) {
            let failed = self.fail_reply(reply, recipients, failure).await?;
            outcome.replies_failed += usize::from(failed);
        }
        tracing::info!(provider_id = %feedback.provider_id, ?outcome, "delivery feedback applied");
        Ok(outcome)
    }

    /// Marks the customer whose primary address is `address`; false when there is none, or
    /// the mark is there already.
    async fn mark(
        &self,
        address: &str,
        reason: &str,
        at: &Timestamp,
        mark: Mark,
    ) -> Result<bool, HelpdeskError> {
        let store = &self.customers;
        // The address comes from SES's event: one that is no address of ours marks nobody.
        let Ok(address) = Email::parse(address) else {
            return Ok(false);
        };
        let address = &address;
        let kind = match mark {
            Mark::Undeliverable => crate::domain::address::MarkKind::Undeliverable,
            Mark::Complained => crate::domain::address::MarkKind::Complained,
        };
        let on_address = crate::domain::address::AddressMark {
            at: Some(at.clone()),
            by: "delivery-feedback".into(),
            reason: Some(reason.chars().take(500).collect()),
        };
        self.addresses.set(address, kind, Some(on_address)).await?;
        retry_on_conflict("customer", || async {
            let Some(customer) = store.find_customer(address).await? else {
                return Ok(Attempt::Done(false));
            };
            // Mail goes to primary addresses only; an alternate's bounce says nothing of it.
            if customer.profile.email != *address {
                return Ok(Attempt::Done(false));
            }
            let slot = |c: &Customer| match mark {
                Mark::Undeliverable => c.undeliverable.clone(),
                Mark::Complained => c.complained.clone(),
            };
            // Marked already, or under erasure (which changes the record no more).
            if slot(&customer).is_some() || customer.erasure_under_way().is_some() {
                return Ok(Attempt::Done(false));
            }
            let problem = AddressProblem {
                email: customer.email().to_string(),
                at: at.clone(),
                reason: reason.chars().take(500).collect(),
            };
            let now = crate::domain::clock::now();
            let by = Actor::System {
                name: "delivery-feedback".into(),
            };
            let mut next = customer.next_version(customer.profile.clone(), &now, by);
            match mark {
                Mark::Undeliverable => next.undeliverable = Some(problem),
                Mark::Complained => next.complained = Some(problem),
            }
            let written = store.replace_customer(&customer, &next).await;
            if written.is_ok() {
                tracing::info!(customer = %next.email(), "address marked after delivery feedback");
            }
            Attempt::of_write(written, || true)
        })
        .await
    }

    /// Marks a reply failed when its customer's address bounced.
    async fn fail_reply(
        &self,
        reply: &ReplyRef,
        recipients: &[(String, String)],
        failure: &str,
    ) -> Result<bool, HelpdeskError> {
        retry_on_conflict("reply", || async {
            let Some(message) = self.find_message(reply).await? else {
                return Ok(Attempt::Done(false));
            };
            let Some(to) = message.to.first() else {
                return Ok(Attempt::Done(false));
            };
            let Some((address, reason)) = recipients
                .iter()
                .find(|(address, _)| address.eq_ignore_ascii_case(&to.email))
            else {
                // Only a Cc bounced: the customer got the reply.
                return Ok(Attempt::Done(false));
            };
            let Some(delivery) = message.delivery.as_ref() else {
                return Ok(Attempt::Done(false));
            };
            if delivery.status == DeliveryStatus::Failed {
                return Ok(Attempt::Done(false));
            }
            let mut state = delivery.next();
            state.status = DeliveryStatus::Failed;
            state.at = crate::domain::clock::now();
            state.error = Some(format!("{failure}: {address}: {reason}"));
            let mut next = message.clone();
            next.delivery = Some(state);
            let written = self.tickets.replace_delivery(&message, &next).await;
            Attempt::of_write(written, || true)
        })
        .await
    }

    /// The reply feedback names by its tags: one read by its place in the ticket; a reply
    /// sent before it was tagged with when it was written is looked for page by page.
    async fn find_message(&self, reply: &ReplyRef) -> Result<Option<TicketMessage>, HelpdeskError> {
        let (ticket_id, message_id) = (reply.ticket_id.as_str(), reply.message_id.as_str());
        if let Some(written) = reply.written.as_deref().and_then(Timestamp::from_compact) {
            let key = format!("{written}#{message_id}");
            return Ok(self.tickets.get_message(ticket_id, &key).await?);
        }
        let mut after: Option<String> = None;
        loop {
            let page = self
                .tickets
                .list_messages(
                    ticket_id,
                    after.as_deref(),
                    crate::domain::ticket::MAX_MESSAGES_PER_READ,
                )
                .await?;
            if let Some(found) = page.items.into_iter().find(|m| m.id == message_id) {
                return Ok(Some(found));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(None),
            }
        }
    }
}
