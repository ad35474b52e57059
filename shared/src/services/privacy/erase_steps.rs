//! The steps of an erasure, each idempotent: what a run does between two checkpoints.

use super::PrivacyService;
use super::erasure::{PAGE, suppression};
use crate::domain::address::MarkKind;
use crate::domain::avatar::folder_of;
use crate::domain::customer::{Block, Customer, ERASURE_BLOCK};
use crate::domain::email::Email;
use crate::domain::erasure::*;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::history::Actor;
use crate::domain::inbound::InboundRecord;
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::ports::objects::ObjectError;
use crate::services::retry::{Attempt, retry_on_conflict};

impl PrivacyService {
    /// Whether a merge or an undo of this customer is still moving tickets, notes or history.
    pub(super) async fn merge_running(&self, customer_id: &str) -> Result<bool, HelpdeskError> {
        for id in self.merges.merges_of(customer_id).await? {
            if self
                .merges
                .get_job(&id)
                .await?
                .is_some_and(|m| m.is_running())
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A page of the person's tickets, each erased (or anonymised) whole.
    pub(super) async fn tickets_step(
        &self,
        job: &Erasure,
        next: &mut Erasure,
    ) -> Result<(), HelpdeskError> {
        let page = self
            .tickets
            .list_tickets(&job.customer_id, job.cursor.as_deref(), PAGE)
            .await?;
        // Read again by id (consistently): the listing may lag behind.
        let ids: Vec<String> = page.items.iter().map(|t| t.id.clone()).collect();
        let current = self.tickets.get_tickets(&ids).await?;
        for ticket in current.iter().flatten() {
            if ticket.customer_id == job.customer_id {
                self.erase_ticket(job, ticket, &mut next.counts).await?;
            }
        }
        next.cursor = page.next;
        if next.cursor.is_none() {
            next.step = ErasureStep::Inbound;
        }
        Ok(())
    }

    /// A page of the inbound records of mail from one of the person's addresses.
    pub(super) async fn inbound_step(
        &self,
        job: &Erasure,
        next: &mut Erasure,
    ) -> Result<(), HelpdeskError> {
        let Some(email) = job.emails.get(job.email_index) else {
            next.step = ErasureStep::Merges;
            return Ok(());
        };
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
        Ok(())
    }

    /// The merge records holding a copy of the person: they go whole (nobody will undo the
    /// merge of a person who is erased).
    pub(super) async fn erase_merges(&self, job: &Erasure) -> Result<u64, HelpdeskError> {
        let mut pictures = 0;
        for id in self.merges.merges_of(&job.customer_id).await? {
            if let Some(merge) = self.merges.get_job(&id).await? {
                // The merged customers were the same person: their pictures go too.
                let sources: Vec<&str> = merge.sources.iter().map(|s| s.id.as_str()).collect();
                pictures += self.erase_avatars(&sources).await?;
                self.merges.delete_merge(&merge).await?;
            }
        }
        Ok(pictures)
    }

    /// Every avatar picture ever stored for these customers; answers how many went.
    pub(super) async fn erase_avatars(&self, customer_ids: &[&str]) -> Result<u64, HelpdeskError> {
        let unavailable = |e: ObjectError| HelpdeskError::Unavailable(format!("avatars: {e}"));
        let mut deleted = 0;
        for id in customer_ids {
            for key in self.mail.list(&folder_of(id)).await.map_err(unavailable)? {
                match self.mail.delete(&key).await {
                    Ok(()) => deleted += 1,
                    Err(ObjectError::NotFound(_)) => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
        }
        Ok(deleted)
    }

    /// Copies of mail sent to the person that the mailer keeps; answers how many went.
    pub(super) async fn erase_sent(&self, job: &Erasure) -> Result<u64, HelpdeskError> {
        let Some(sent) = &self.sent else {
            return Ok(0);
        };
        let addresses: Vec<String> = job.emails.iter().map(|e| e.to_ascii_lowercase()).collect();
        sent.forget_sent_to(&addresses)
            .await
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))
    }

    /// Whether anything keyed to the person is still stored: their record (by any address),
    /// tickets, notes, history, merges.
    pub(super) async fn something_remains(&self, job: &Erasure) -> Result<bool, HelpdeskError> {
        let id = &job.customer_id;
        let pictures = self
            .mail
            .list(&folder_of(id))
            .await
            .map_err(|e| HelpdeskError::Unavailable(format!("avatars: {e}")))?;
        Ok(self.current_customer(job).await?.is_some()
            || !pictures.is_empty()
            || !self
                .tickets
                .list_tickets(id, None, 1)
                .await?
                .items
                .is_empty()
            || !self
                .customers
                .list_notes(id, None, 1)
                .await?
                .items
                .is_empty()
            || !self
                .history
                .list_history(id, None, 1)
                .await?
                .items
                .is_empty()
            || !self.merges.merges_of(id).await?.is_empty())
    }

    /// Takes the person's events out of the change log, and their changes not yet logged out
    /// of what waits to be (local mode's queue); `customer.erased` says they went.
    pub(super) async fn erase_events(&self, job: &Erasure) -> Result<(), HelpdeskError> {
        let mut owners = vec![job.customer_id.clone()];
        for id in self.merges.merges_of(&job.customer_id).await? {
            if let Some(merge) = self.merges.get_job(&id).await?
                && merge.target_after.id == job.customer_id
            {
                owners.extend(merge.sources.iter().map(|s| s.id.clone()));
            }
        }
        let mut mentions = owners.clone();
        mentions.extend(job.emails.iter().cloned());
        let erased = crate::domain::events::erased_event(&job.customer_id);
        Ok(self
            .changes
            .erase_from_log(&owners, &mentions, &erased)
            .await?)
    }

    /// Blocks the customer in the erasure's name (mail then makes no ticket); answers the
    /// addresses the record holds now (none once it is gone).
    pub(super) async fn block(&self, job: &Erasure) -> Result<Vec<String>, HelpdeskError> {
        let by = format!("{ERASURE_BLOCK}{}", job.id);
        retry_on_conflict("customer", || async {
            let Some(current) = self.current_customer(job).await? else {
                return Ok(Attempt::Done(Vec::new()));
            };
            let emails = current.all_emails().map(str::to_string).collect();
            if current.blocked.as_ref().is_some_and(|b| b.by == by) {
                return Ok(Attempt::Done(emails));
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
            Attempt::of_write(outcome, || emails)
        })
        .await
    }

    /// The erasure's first step, once no merge of the person runs: the record is blocked,
    /// and every address it holds now is the erasure's too (a merge that finished since the
    /// request may have brought more; their mail and marks are the person's).
    pub(super) async fn block_step(
        &self,
        job: &Erasure,
        next: &mut Erasure,
    ) -> Result<(), HelpdeskError> {
        let held = self.block(job).await?;
        let salt = self.erasures.erasure_salt().await?;
        for email in held {
            if !next.emails.contains(&email) {
                next.email_hashes.push(email_hash(&salt, &email));
                next.emails.push(email);
            }
        }
        if job.suppress {
            // Already marked at the request; again for what came since (an address kept
            // marked is left as it is).
            for hash in &next.email_hashes {
                self.addresses
                    .set_hashed(hash, MarkKind::Suppressed, Some(suppression(job)))
                    .await?;
            }
        }
        next.step = ErasureStep::Tickets;
        Ok(())
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

    /// The record, its alternate emails, notes and history; 1 when it was still there. Notes
    /// and history keyed to the person's id go even when the record went first.
    pub(super) async fn erase_record(&self, job: &Erasure) -> Result<u64, HelpdeskError> {
        let erased = retry_on_conflict("customer", || async {
            let Some(current) = self.current_customer(job).await? else {
                return Ok(Attempt::Done(0));
            };
            // A picture a merge brought from another customer's folder goes with the record.
            if let Some(avatar) = &current.avatar_image {
                for key in avatar.object_keys() {
                    match self.mail.delete(&key).await {
                        Ok(()) | Err(ObjectError::NotFound(_)) => {}
                        Err(e) => return Err(HelpdeskError::Unavailable(format!("avatars: {e}"))),
                    }
                }
            }
            let outcome = self.customers.delete_customer(&current).await;
            Attempt::of_write(outcome, || 1)
        })
        .await?;
        let id = &job.customer_id;
        // The portal's sign-in codes and sessions name the person's addresses.
        for hash in &job.email_hashes {
            self.portal.delete_code(hash).await?;
        }
        self.portal.delete_sessions_of(id).await?;
        loop {
            let notes = self.customers.list_notes(id, None, PAGE).await?;
            for note in &notes.items {
                self.customers.delete_note(id, note).await?;
            }
            let entries = self.history.list_history(id, None, PAGE).await?;
            for entry in &entries.items {
                self.history.delete_history(id, entry).await?;
            }
            if notes.items.is_empty() && entries.items.is_empty() {
                return Ok(erased);
            }
        }
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
                    let anonymous = super::anonymise::anonymised(message, &job.emails);
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
