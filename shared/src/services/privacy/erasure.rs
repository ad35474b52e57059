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
use crate::domain::address::{AddressMark, MarkKind};
use crate::domain::caller::Caller;
use crate::domain::customer::{Customer, ERASURE_BLOCK};
use crate::domain::email::Email;
use crate::domain::erasure::*;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::patch::Command;
use crate::services::customers::find_customer;

/// Tickets, messages or records handled between two checkpoints.
pub(super) const PAGE: usize = 25;

/// How long a run waits for a merge of the person before it hands over to the next run.
const WAIT_FOR_MERGE: Duration = Duration::from_secs(1);

/// What a step did: moved the job on, or found it must wait.
enum Step {
    Next(Box<Erasure>),
    Wait,
}

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
        // Erasure and merges exclude each other: an erasure now would miss what a running
        // merge or undo is still moving.
        if self.merge_running(&customer.id).await? {
            return Err(HelpdeskError::conflict(
                "customer",
                "a merge or an undo of this customer is still moving tickets, notes and history; \
                 erase once it has finished (GET /merges/{id})",
            ));
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
            updated_at: now.clone(),
            version: 1,
        };
        if erasure.suppress {
            for hash in &erasure.email_hashes {
                self.addresses
                    .set_hashed(hash, MarkKind::Suppressed, Some(suppression(&erasure)))
                    .await?;
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
        let Some(id) = customer.erasure_under_way() else {
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
            let next = match self.step(&job).await? {
                Step::Next(next) => *next,
                Step::Wait => {
                    // A merge or an undo of this person is moving their things: wait for it.
                    // The checkpoint wakes the next run (the cloud's stream); locally the
                    // watcher comes back, after the merge ran.
                    tokio::time::sleep(WAIT_FOR_MERGE.min(budget)).await;
                    let next = job.clone();
                    return self.checkpoint(&job, next).await;
                }
            };
            job = self.checkpoint(&job, next).await?;
        }
        Ok(job)
    }

    /// Does one step of `job`; answers the job as the step leaves it.
    async fn step(&self, job: &Erasure) -> Result<Step, HelpdeskError> {
        let mut next = job.clone();
        match job.step {
            ErasureStep::Block => {
                if self.merge_running(&job.customer_id).await? {
                    return Ok(Step::Wait);
                }
                self.block_step(job, &mut next).await?;
            }
            ErasureStep::Tickets => self.tickets_step(job, &mut next).await?,
            ErasureStep::Inbound => self.inbound_step(job, &mut next).await?,
            ErasureStep::Merges => {
                next.counts.objects += self.erase_merges(job).await?;
                next.step = ErasureStep::Record;
            }
            ErasureStep::Record => {
                next.counts.customers += self.erase_record(job).await?;
                next.step = ErasureStep::Sent;
            }
            ErasureStep::Sent => {
                next.counts.objects += self.erase_sent(job).await?;
                next.counts.objects += self.erase_exports(job).await?;
                next.counts.objects += self.erase_avatars(&[job.customer_id.as_str()]).await?;
                self.erase_events(job).await?;
                next.step = ErasureStep::Verify;
            }
            ErasureStep::Verify => {
                if self.something_remains(job).await? {
                    // Written while the steps ran: they run again.
                    tracing::warn!(erasure = %job.id, "something of the person remained; erasing again");
                    next.step = ErasureStep::Tickets;
                    next.cursor = None;
                    next.email_index = 0;
                } else {
                    next.step = ErasureStep::Done;
                    next.status = ErasureStatus::Succeeded;
                    next.finished_at = Some(crate::domain::clock::now());
                    // The tombstone keeps the hashes only.
                    next.emails.clear();
                }
            }
            ErasureStep::Done => next.status = ErasureStatus::Succeeded,
        }
        Ok(Step::Next(Box::new(next)))
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
}

/// The mark an erasure that suppresses leaves on each of the person's addresses.
pub(super) fn suppression(erasure: &Erasure) -> AddressMark {
    AddressMark {
        at: Some(erasure.requested_at.clone()),
        by: format!("{ERASURE_BLOCK}{}", erasure.id),
        reason: None,
    }
}
