//! `POST /customers/{email}/erase`, `GET /erasures/{id}`, and the job that does the erasing.
//!
//! The request blocks the customer (so no new mail lands in a ticket), suppresses the
//! addresses if asked, and queues the job. The job runs in steps that are idempotent and each
//! shrink what is left (`ErasureStep`), checkpointing as it goes: a runner stopped anywhere
//! (deadline, crash) is followed by one that does the step again.

use crate::domain::ids::JobId;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::PrivacyService;
use crate::domain::caller::Caller;
use crate::domain::customer::{Block, Customer};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::email::Email;
use crate::domain::erasure::*;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::history::Actor;
use crate::domain::inbound::InboundRecord;
use crate::domain::patch::Command;
use crate::domain::ticket::{Mailbox, MessageBody, Ticket, TicketMessage};
use crate::services::customers::find_customer;
use crate::services::retry::{Attempt, retry_on_conflict};

/// Tickets, messages or records handled between two checkpoints.
const PAGE: usize = 25;
/// `blocked.by` of a customer under erasure names the erasure after this.
const ERASURE_BLOCK: &str = "erasure ";

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EraseInput {
    /// Ignore later mail from the person's addresses (reason `erased`) instead of creating
    /// the customer again.
    #[serde(default)]
    pub suppress: bool,
    /// `delete` (default) or `anonymise`.
    #[serde(default)]
    pub tickets: TicketErasure,
}

impl Command for EraseInput {}

impl PrivacyService {
    /// Queues the erasure of the customer with this email (admins). A customer already under
    /// erasure answers that erasure.
    pub async fn request_erasure(
        &self,
        caller: &Caller,
        email: &Email,
        input: EraseInput,
    ) -> Result<Erasure, HelpdeskError> {
        caller.require_admin()?;
        let customer = find_customer(self.customers.as_ref(), email).await?;
        if let Some(running) = self.erasure_of(&customer).await? {
            return Ok(running);
        }
        let salt = self.erasures.erasure_salt().await?;
        let emails: Vec<String> = customer.all_emails().map(str::to_string).collect();
        let now = crate::domain::clock::now();
        let erasure = Erasure {
            id: crate::domain::clock::new_id(),
            status: ErasureStatus::Running,
            step: ErasureStep::Block,
            customer_id: customer.id.clone(),
            email_hashes: emails.iter().map(|e| email_hash(&salt, e)).collect(),
            emails,
            suppress: input.suppress,
            tickets: input.tickets,
            requested_by: caller.subject.clone(),
            requested_at: now.clone(),
            finished_at: None,
            counts: ErasureCounts::default(),
            cursor: None,
            email_index: 0,
            updated_at: now,
            version: 1,
        };
        if erasure.suppress {
            for hash in &erasure.email_hashes {
                self.erasures.suppress(hash, &erasure.id).await?;
            }
        }
        self.erasures.insert_job(&erasure).await?;
        // Blocked now, so mail arriving while the job is queued makes no ticket.
        self.block(&erasure).await?;
        tracing::info!(erasure = %erasure.id, "erasure requested");
        Ok(erasure)
    }

    /// The erasure under way for `customer`, if one is.
    async fn erasure_of(&self, customer: &Customer) -> Result<Option<Erasure>, HelpdeskError> {
        let Some(id) = customer
            .blocked
            .as_ref()
            .and_then(|b| b.by.strip_prefix(ERASURE_BLOCK))
        else {
            return Ok(None);
        };
        Ok(self.erasures.get_job(id).await?.filter(|e| !e.is_done()))
    }

    /// An erasure and where it stands (admins).
    pub async fn get_erasure(&self, caller: &Caller, id: &JobId) -> Result<Erasure, HelpdeskError> {
        caller.require_admin()?;
        self.erasures
            .get_job(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("erasure {id}")))
    }

    /// Runs erasure `id` until it is done or `budget` is spent; answers it as it was left.
    /// Stopped early, it has written a checkpoint, which wakes the next run in the cloud.
    pub async fn run_erasure(
        &self,
        id: &JobId,
        budget: Duration,
    ) -> Result<Erasure, HelpdeskError> {
        let started = Instant::now();
        let mut job = self
            .erasures
            .get_job(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("erasure {id}")))?;
        while !job.is_done() {
            if started.elapsed() >= budget {
                // A checkpoint even without progress: it is what wakes the next run.
                let next = job.clone();
                return self.checkpoint(&job, next).await;
            }
            let mut next = job.clone();
            match job.step {
                ErasureStep::Block => {
                    self.block(&job).await?;
                    next.step = ErasureStep::Tickets;
                }
                ErasureStep::Tickets => {
                    let page = self
                        .tickets
                        .list_tickets(&job.customer_id, job.cursor.as_deref(), PAGE)
                        .await?;
                    // Read again by id (consistently): the listing may lag behind.
                    let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
                    let current = self.tickets.get_tickets(&ids).await?;
                    for ticket in current.iter().flatten() {
                        if ticket.customer_id == job.customer_id {
                            self.erase_ticket(&job, ticket, &mut next.counts).await?;
                        }
                    }
                    next.cursor = page.next;
                    if next.cursor.is_none() {
                        next.step = ErasureStep::Inbound;
                    }
                }
                ErasureStep::Inbound => match job.emails.get(job.email_index) {
                    Some(email) => {
                        let page = self
                            .inbound
                            .list_inbound_from(email, job.cursor.as_deref(), PAGE)
                            .await?;
                        // Read again by id (consistently): the listing may lag behind.
                        let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
                        let records = self.inbound.get_inbounds(&ids).await?;
                        self.erase_inbound(records.into_iter().flatten(), &mut next.counts)
                            .await?;
                        next.cursor = page.next;
                        if next.cursor.is_none() {
                            next.email_index += 1;
                        }
                    }
                    None => next.step = ErasureStep::Record,
                },
                ErasureStep::Record => {
                    next.counts.customers += self.erase_record(&job).await?;
                    next.step = ErasureStep::Done;
                    next.status = ErasureStatus::Succeeded;
                    next.finished_at = Some(crate::domain::clock::now());
                    // The tombstone keeps the hashes only.
                    next.emails.clear();
                }
                ErasureStep::Done => {
                    next.status = ErasureStatus::Succeeded;
                }
            }
            job = self.checkpoint(&job, next).await?;
        }
        Ok(job)
    }

    /// Writes `next` one version on. Another runner got there first: its record is answered,
    /// and this run goes on from it.
    async fn checkpoint(&self, job: &Erasure, mut next: Erasure) -> Result<Erasure, HelpdeskError> {
        next.version = job.version + 1;
        next.updated_at = crate::domain::clock::now();
        match self.erasures.replace_job(job, &next).await {
            Ok(()) => Ok(next),
            Err(StoreError::VersionMismatch) => self
                .erasures
                .get_job(&job.id)
                .await?
                .ok_or_else(|| HelpdeskError::Unavailable("erasure vanished".into())),
            Err(other) => Err(other.into()),
        }
    }

    /// Blocks the customer in the erasure's name (mail then makes no ticket).
    async fn block(&self, job: &Erasure) -> Result<(), HelpdeskError> {
        let by = format!("{ERASURE_BLOCK}{}", job.id);
        retry_on_conflict("customer", || async {
            let Some(current) = self.current_customer(job).await? else {
                return Ok(Attempt::Done(()));
            };
            if current.blocked.as_ref().is_some_and(|b| b.by == by) {
                return Ok(Attempt::Done(()));
            }
            let now = crate::domain::clock::now();
            let actor = Actor::System {
                name: format!("erasure {}", job.id),
            };
            let mut next = current.next_version(current.profile.clone(), &now, actor);
            next.blocked = Some(Block {
                at: now,
                by: by.clone(),
            });
            let outcome = self.customers.replace_customer(&current, &next).await;
            Attempt::of_write(outcome, || ())
        })
        .await
    }

    /// The erased customer's record, found by any of their addresses.
    async fn current_customer(&self, job: &Erasure) -> Result<Option<Customer>, HelpdeskError> {
        let emails: Vec<Email> = job.emails.iter().map(Email::stored).collect();
        let found = self.customers.find_customers(&emails).await?;
        Ok(found
            .into_iter()
            .flatten()
            .find(|c| c.id == job.customer_id))
    }

    /// The record, its alternate emails, notes and history; 1 when it was still there.
    async fn erase_record(&self, job: &Erasure) -> Result<u64, HelpdeskError> {
        retry_on_conflict("customer", || async {
            let Some(current) = self.current_customer(job).await? else {
                return Ok(Attempt::Done(0));
            };
            let outcome = self.customers.delete_customer(&current).await;
            Attempt::of_write(outcome, || 1)
        })
        .await
    }

    /// A ticket's messages, their stored bodies, attachments, raw mail and inbound records;
    /// then the ticket itself, or (anonymising) the ticket without the person in it.
    async fn erase_ticket(
        &self,
        job: &Erasure,
        ticket: &Ticket,
        counts: &mut ErasureCounts,
    ) -> Result<(), HelpdeskError> {
        let mut after: Option<String> = None;
        let mut message_ids = Vec::new();
        loop {
            let page = self
                .tickets
                .list_messages(&ticket.id, after.as_deref(), 100)
                .await?;
            // Each message came in as an inbound record of the same id.
            let ids: Vec<String> = page.items.iter().map(|m| m.id.clone()).collect();
            let records = self.inbound.get_inbounds(&ids).await?;
            self.erase_inbound(records.into_iter().flatten(), counts)
                .await?;
            for message in &page.items {
                self.erase_message_objects(message, counts).await?;
                if job.tickets == TicketErasure::Anonymise {
                    let anonymous = anonymised(message, &job.emails);
                    self.tickets.rewrite_message(&anonymous).await?;
                }
                message_ids.push(message.message_id.clone());
                // The Message-ID SES gave a sent reply is claimed for the ticket too.
                if let Some(id) = message
                    .delivery
                    .as_ref()
                    .and_then(|d| d.delivered_as.clone())
                {
                    message_ids.push(id);
                }
                counts.messages += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        match job.tickets {
            TicketErasure::Delete => self.tickets.delete_ticket(ticket).await?,
            TicketErasure::Anonymise => {
                for chunk in message_ids.chunks(100) {
                    self.tickets.release_message_ids(chunk).await?;
                }
                let mut next = ticket.clone();
                next.version = ticket.version + 1;
                next.updated_at = crate::domain::clock::now();
                next.subject = ERASED_TEXT.into();
                next.customer_id = format!("erased:{}", job.id);
                next.customer_email = ERASED_ADDRESS.into();
                match self.tickets.replace_ticket(ticket, &next).await {
                    // A message arrived meanwhile: the next round reads the ticket again.
                    Err(StoreError::VersionMismatch) => return Ok(()),
                    other => other?,
                }
            }
        }
        counts.tickets += 1;
        Ok(())
    }

    async fn erase_message_objects(
        &self,
        message: &TicketMessage,
        counts: &mut ErasureCounts,
    ) -> Result<(), HelpdeskError> {
        let keys = message
            .body_key
            .iter()
            .chain(message.attachments.iter().map(|a| &a.key));
        for key in keys {
            self.delete_object(key).await?;
            counts.objects += 1;
        }
        Ok(())
    }

    /// The raw mail, then the records.
    async fn erase_inbound(
        &self,
        records: impl Iterator<Item = InboundRecord>,
        counts: &mut ErasureCounts,
    ) -> Result<(), HelpdeskError> {
        let mut ids = Vec::new();
        for record in records {
            self.delete_object(&record.raw_key).await?;
            counts.objects += 1;
            ids.push(record.id);
        }
        self.inbound.delete_inbounds(&ids).await?;
        counts.inbound_records += ids.len() as u64;
        Ok(())
    }

    async fn delete_object(&self, key: &str) -> Result<(), HelpdeskError> {
        self.mail
            .delete(key)
            .await
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))
    }
}

/// The message without the person: their addresses and names, the subject, bodies and
/// attachments are gone; when it was and how it threaded stay.
fn anonymised(message: &TicketMessage, emails: &[String]) -> TicketMessage {
    let erase = |mailbox: &Mailbox| {
        if emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(&mailbox.email))
        {
            Mailbox {
                name: None,
                email: ERASED_ADDRESS.into(),
            }
        } else {
            mailbox.clone()
        }
    };
    let mut next = message.clone();
    next.from = Mailbox {
        name: None,
        email: ERASED_ADDRESS.into(),
    };
    next.reply_to = message.reply_to.iter().map(erase).collect();
    next.to = message.to.iter().map(erase).collect();
    next.cc = message.cc.iter().map(erase).collect();
    next.subject = ERASED_TEXT.into();
    next.body = MessageBody {
        text: ERASED_TEXT.into(),
        html: None,
        reply_text: ERASED_TEXT.into(),
    };
    next.body_key = None;
    next.attachments.clear();
    // A reply's thread headers name the person's own Message-IDs.
    next.in_reply_to = None;
    next.references.clear();
    // A reply still queued is not sent any more: there is nobody left to send it to.
    if let Some(delivery) = &message.delivery
        && delivery.status == DeliveryStatus::Queued
    {
        let mut state = delivery.next();
        state.status = DeliveryStatus::Failed;
        state.sending_since = None;
        state.at = crate::domain::clock::now();
        state.error = Some("not sent: the customer was erased".into());
        next.delivery = Some(state);
    }
    next
}
