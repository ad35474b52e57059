//! Sending queued replies, exactly once: the notifier calls [`ReplySender::send`] for each
//! stream record of a reply due (locally, the watcher for each queued reply).
//!
//! The message record is the ledger. The sender claims the reply (`delivery.sending_since`) at
//! its delivery revision before sending, so of two deliveries of one record only one sends; a
//! redelivered record finds the claim, or the final status, and sends nothing. A transient
//! failure leaves the reply queued with the error and a count (the change is itself the next
//! stream record); after [`MAX_SEND_ATTEMPTS`] it is `failed`.

use crate::domain::email::Email;
use crate::domain::ids::TicketId;
use std::sync::Arc;

use crate::domain::delivery::{DeliveryStatus, MAX_SEND_ATTEMPTS};
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::ticket::TicketMessage;
use crate::ports::mailer::{MailError, Mailer, OutgoingMail, Sent};
use crate::ports::store::{CustomerStore, TicketStore};
use crate::services::notifications::{SendOutcome, send_with_retries};
use crate::services::retry::{Attempt, retry_on_conflict};

#[derive(Clone)]
pub struct ReplySender {
    pub tickets: Arc<dyn TicketStore>,
    pub customers: Arc<dyn CustomerStore>,
    pub mailer: Arc<dyn Mailer>,
    /// Recipients' address marks, read again at send.
    pub addresses: crate::services::addresses::AddressBook,
}

enum Settle {
    Sent(Sent),
    Failed(String),
    Retry(String),
}

impl ReplySender {
    /// Sends the reply at `key` (its [`TicketMessage::list_key`]) of ticket `ticket_id`, if it
    /// is due. An error means the store was unavailable: the caller retries the record.
    pub async fn send(
        &self,
        ticket_id: &TicketId,
        key: &str,
    ) -> Result<SendOutcome, HelpdeskError> {
        let Some(claimed) = self.claim(ticket_id, key).await? else {
            return Ok(SendOutcome::NotDue);
        };
        if let Some(why) = self.barred(&claimed).await? {
            tracing::info!(ticket = %ticket_id, message = %claimed.id, reason = %why, "reply not sent");
            return self.settle(&claimed, Settle::Failed(why)).await;
        }
        let mail = outgoing(&claimed);
        match send_with_retries(self.mailer.as_ref(), &mail).await {
            Ok(sent) => {
                tracing::info!(ticket = %ticket_id, message = %claimed.id, provider_id = %sent.provider_id, "reply sent");
                self.settle(&claimed, Settle::Sent(sent)).await
            }
            Err(error @ (MailError::Rejected(_) | MailError::Refused { .. })) => {
                tracing::warn!(ticket = %ticket_id, message = %claimed.id, %error, "reply rejected");
                self.settle(&claimed, Settle::Failed(error.reason())).await
            }
            Err(MailError::Unavailable(why)) => {
                tracing::warn!(ticket = %ticket_id, message = %claimed.id, error = %why, "reply not sent yet");
                self.settle(&claimed, Settle::Retry(why)).await
            }
        }
    }

    /// Why the reply may no longer go out: its customer was blocked, or an address of it was
    /// marked (blocked, erased, bouncing), after it was written.
    async fn barred(&self, reply: &TicketMessage) -> Result<Option<String>, HelpdeskError> {
        let Some(to) = reply.to.first() else {
            return Ok(Some("not sent: the reply has no recipient".into()));
        };
        let recipients: Vec<&str> = reply
            .to
            .iter()
            .chain(&reply.cc)
            .map(|m| m.email.as_str())
            .collect();
        let marks = self.addresses.marks_of(&recipients).await?;
        let copied = |index: usize| index >= reply.to.len();
        let barred =
            recipients
                .iter()
                .zip(&marks)
                .enumerate()
                .find_map(|(index, (address, marks))| {
                    let why = if copied(index) {
                        marks.bars_copies()
                    } else {
                        marks.bars_replies()
                    };
                    why.map(|why| (address, why))
                });
        if let Some((address, why)) = barred {
            return Ok(Some(format!("not sent: {address}: {why}")));
        }
        let Some(customer) = self
            .customers
            .find_customer(&Email::stored(&to.email))
            .await?
        else {
            return Ok(None);
        };
        Ok(if customer.blocked.is_some() {
            Some("not sent: the customer is blocked".into())
        } else if customer.undeliverable.is_some() {
            Some(format!(
                "not sent: the address {} is undeliverable",
                to.email
            ))
        } else {
            None
        })
    }

    /// Marks the reply as being sent, at its delivery revision: one claimant wins.
    async fn claim(
        &self,
        ticket_id: &str,
        key: &str,
    ) -> Result<Option<TicketMessage>, HelpdeskError> {
        retry_on_conflict("reply", || async {
            let Some(message) = self.tickets.get_message(ticket_id, key).await? else {
                return Ok(Attempt::Done(None));
            };
            let Some(delivery) = message.delivery.as_ref().filter(|d| d.is_due()) else {
                return Ok(Attempt::Done(None));
            };
            let mut next = message.clone();
            let mut claimed = delivery.next();
            claimed.sending_since = Some(crate::domain::clock::now());
            next.delivery = Some(claimed);
            let outcome = self.tickets.replace_delivery(&message, &next).await;
            Attempt::of_write(outcome, || Some(next))
        })
        .await
    }

    /// Records the result on the current record, and claims the Message-ID the provider gave
    /// the mail, so that the customer's answer (which names it) joins the ticket.
    async fn settle(
        &self,
        claimed: &TicketMessage,
        result: Settle,
    ) -> Result<SendOutcome, HelpdeskError> {
        if let Settle::Sent(sent) = &result
            && sent.message_id != claimed.message_id
        {
            match self
                .tickets
                .claim_message_id(&sent.message_id, &claimed.ticket_id)
                .await
            {
                Ok(()) => {}
                // Another ticket holds it: the reply still threads by its token and References.
                Err(StoreError::MessageIdTaken(id)) => {
                    tracing::warn!(message_id = %id, "provider's Message-ID is another ticket's")
                }
                Err(other) => return Err(other.into()),
            }
        }
        let key = claimed.list_key();
        retry_on_conflict("reply", || async {
            let Some(current) = self.tickets.get_message(&claimed.ticket_id, &key).await? else {
                return Ok(Attempt::Done(SendOutcome::NotDue));
            };
            let Some(delivery) = current.delivery.as_ref() else {
                return Ok(Attempt::Done(SendOutcome::NotDue));
            };
            let now = crate::domain::clock::now();
            let mut state = delivery.next();
            state.sending_since = None;
            let outcome = match &result {
                Settle::Sent(sent) => {
                    state.status = DeliveryStatus::Sent;
                    state.at = now;
                    state.error = None;
                    state.provider_id = Some(sent.provider_id.clone());
                    state.delivered_as =
                        (sent.message_id != current.message_id).then(|| sent.message_id.clone());
                    SendOutcome::Sent
                }
                Settle::Failed(why) => {
                    state.status = DeliveryStatus::Failed;
                    state.at = now;
                    state.failed_attempts += 1;
                    state.error = Some(why.clone());
                    SendOutcome::Failed
                }
                Settle::Retry(why) => {
                    state.failed_attempts += 1;
                    state.error = Some(why.clone());
                    if state.failed_attempts >= MAX_SEND_ATTEMPTS {
                        state.status = DeliveryStatus::Failed;
                        state.at = now;
                        SendOutcome::Failed
                    } else {
                        SendOutcome::Retrying
                    }
                }
            };
            let mut next = current.clone();
            next.delivery = Some(state);
            let written = self.tickets.replace_delivery(&current, &next).await;
            Attempt::of_write(written, || outcome)
        })
        .await
    }
}

/// The mail of a reply: from the support address under the agent's name, to the customer
/// with the Cc, threaded; a person wrote it, so it is not marked automatic. Its tags name the
/// ticket and message for SES's feedback.
fn outgoing(reply: &TicketMessage) -> OutgoingMail {
    let header = |mailbox: &crate::domain::ticket::Mailbox| match &mailbox.name {
        Some(name) => format!("{} <{}>", name.replace(['"', '<', '>'], ""), mailbox.email),
        None => mailbox.email.clone(),
    };
    OutgoingMail {
        from: header(&reply.from),
        to: reply.to.first().map(header).unwrap_or_default(),
        cc: reply.cc.iter().map(header).collect(),
        subject: reply.subject.clone(),
        text: reply.body.text.clone(),
        html: reply.body.html.clone(),
        message_id: Some(reply.message_id.clone()),
        in_reply_to: reply.in_reply_to.clone(),
        references: reply.references.clone(),
        automated: false,
        tags: vec![
            ("kind".into(), "reply".into()),
            ("ticket".into(), reply.ticket_id.clone()),
            ("message".into(), reply.id.clone()),
            ("written".into(), reply.received_at.compact()),
        ],
    }
}
