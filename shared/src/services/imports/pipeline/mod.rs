//! One run of an import job.
//!
//! Pass 1 streams the file once: header, column plan, and for every email the number of its last
//! row (memory: 16 bytes per distinct email), so the last row wins and the others count as
//! duplicates. A bad file (empty, header only, no email column, not UTF-8) fails here, before
//! anything is written. Pass 2 streams the rows again from the checkpoint: a blocking thread
//! parses, async workers map, validate and upsert batches with bounded concurrency, and progress
//! is checkpointed (byte offset, counts, error-report parts) so a run past its deadline, or a
//! crashed one, continues where it stopped. Customers written by the import carry the row that
//! wrote them, so rows re-processed after a crash are recognised and counted once.

mod csv_read;
mod lease;
mod limits;
mod report;
mod workers;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::ImportContext;
use super::rows::RowValues;
use crate::domain::access::CustomerAccess;
use crate::domain::company::Company;
use crate::domain::company::name_key;
use crate::domain::customer::Customer;
use crate::domain::customer::CustomerInput;
use crate::domain::customer::ImportMark;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::import_job::MAX_IMPORT_FILE_BYTES;
use crate::domain::import_job::{
    Checkpoint, Counts, ImportJob, ImportStatus, REPORT_PREFIX, RowOutcome, report_key,
};
use crate::domain::import_mapping::{ColumnPlan, Target};
use crate::domain::patch::parse_input;
use crate::domain::validation::email_domain;

use crate::ports::objects::ObjectError;
use crate::ports::store::CustomerWrite;
use csv_read::*;
use lease::*;
use limits::BoundedFields;
use report::*;
use workers::*;

/// Rows handed to one worker at a time.
pub(super) const BATCH_ROWS: usize = 1_000;

/// How often progress (counts, position, report part) is saved.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// A report part is also cut when this many failed rows are waiting.
pub(super) const REPORT_PART_ROWS: usize = 20_000;

/// ... or when the failed rows waiting hold this many bytes.
pub(super) const REPORT_PART_BYTES: usize = 16 * 1024 * 1024;

/// A batch is also cut at this many bytes of fields, so batches in flight stay small whatever
/// the rows hold (rows are up to [`limits::MAX_ROW_BYTES`]).
pub(super) const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Rounds of re-reading for rows whose customer changed between read and write.
pub(super) const WRITE_ATTEMPTS: usize = 4;

/// Lookup caches (company names, email domains) are emptied past this many entries.
pub(super) const CACHE_LIMIT: usize = 100_000;

pub struct RunOptions {
    /// Stop, checkpoint and answer `Paused` once this passes (a Lambda's remaining time).
    pub deadline: Option<Instant>,
    /// How long the run holds the job; a run that dies is taken over after it.
    pub lease: Duration,
    pub progress: Option<ProgressFn>,
    /// Who runs it (the Lambda request id): a run of the same owner takes over its own lease.
    pub owner: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            deadline: None,
            lease: Duration::from_secs(120),
            progress: None,
            owner: None,
        }
    }
}

/// Called after every batch.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Reported after every batch, for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub counts: Counts,
    pub total_rows: u64,
}

#[derive(Debug)]
pub enum RunOutcome {
    /// Succeeded or failed; nothing more to do.
    Finished(ImportJob),
    /// Stopped at the deadline with a checkpoint: run again to continue.
    Paused(ImportJob),
    /// Another run holds the job.
    Busy(ImportJob),
}

impl RunOutcome {
    pub fn job(&self) -> &ImportJob {
        match self {
            RunOutcome::Finished(job) | RunOutcome::Paused(job) | RunOutcome::Busy(job) => job,
        }
    }
}

/// A problem with the file as a whole; the job fails with this text.
pub(super) type FileError = String;

pub async fn run_import(
    ctx: &ImportContext,
    job_id: &str,
    options: RunOptions,
) -> Result<RunOutcome, HelpdeskError> {
    let store = &ctx.jobs;
    let job = store
        .get_import_job(job_id)
        .await?
        .ok_or_else(|| HelpdeskError::NotFound(format!("import {job_id}")))?;
    if job.is_finished() {
        return Ok(RunOutcome::Finished(job));
    }
    let Some(job) = claim(ctx, job, options.lease, options.owner.as_deref()).await? else {
        let current = store
            .get_import_job(job_id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("import {job_id}")))?;
        return Ok(RunOutcome::Busy(current));
    };
    let mut run = Run { ctx, job, options };
    match run.execute().await {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            // Give the job back so a retry can take over at once from the last checkpoint.
            run.release().await;
            Err(error)
        }
    }
}

pub(super) struct Run<'a> {
    pub(super) ctx: &'a ImportContext,
    pub(super) job: ImportJob,
    pub(super) options: RunOptions,
}

impl Run<'_> {
    pub(super) async fn execute(&mut self) -> Result<RunOutcome, HelpdeskError> {
        let access = CustomerAccess::new(
            &self.job.run_as.caller(),
            &self.ctx.customers.field_set().await?,
        );

        // The file's size first: a file over the limit is refused before any of it is read.
        match self.ctx.sources.size(&self.job.source_key).await {
            Ok(size) if size > MAX_IMPORT_FILE_BYTES => {
                return self
                    .fail(format!(
                        "the file is {size} bytes; an import takes at most {} bytes ({} GiB)",
                        MAX_IMPORT_FILE_BYTES,
                        MAX_IMPORT_FILE_BYTES >> 30
                    ))
                    .await;
            }
            Ok(_) => {}
            Err(ObjectError::NotFound(key)) => {
                return self.fail(format!("the file {key} does not exist")).await;
            }
            Err(ObjectError::Unavailable(message)) => {
                return Err(HelpdeskError::Unavailable(message));
            }
        }
        // Pass 1: plan and duplicate index; nothing is written before it accepts the file.
        let reader = match self.ctx.sources.reader(&self.job.source_key, 0).await {
            Ok(reader) => reader,
            Err(ObjectError::NotFound(key)) => {
                return self.fail(format!("the file {key} does not exist")).await;
            }
            Err(ObjectError::Unavailable(message)) => {
                return Err(HelpdeskError::Unavailable(message));
            }
        };
        // The job's options were checked when it was created; a stored job whose options no
        // longer parse fails with the reason rather than running with parts left out.
        let checked = self.job.options.parse().and_then(|options| {
            options.check_custom_fields(&access)?;
            Ok(options)
        });
        let options = match checked {
            Ok(options) => options,
            Err(error) => {
                let reasons = error
                    .field_errors()
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                return self
                    .fail(format!("invalid import options: {reasons}"))
                    .await;
            }
        };
        let (mapping, plan_access) = (options.mapping.clone(), access.clone());
        let scan = tokio::task::spawn_blocking(move || {
            scan(reader, |headers| {
                // Columns map only to fields the import's author sees: a hidden field is, for
                // them, an undefined one.
                let mut plan = ColumnPlan::resolve(
                    headers,
                    &mapping,
                    plan_access.visible_fields(),
                    plan_access.caller().can_manage_companies(),
                )?;
                // Custom fields the import's author sees but may not edit are not written.
                for target in plan.targets.iter_mut() {
                    if let Some(Target::Custom(key)) = target
                        && plan_access.visible_fields().get(key).is_some()
                        && plan_access.editable_fields().get(key).is_none()
                    {
                        *target = None;
                    }
                }
                plan.ignored_columns = plan
                    .headers
                    .iter()
                    .zip(&plan.targets)
                    .filter(|(_, target)| target.is_none())
                    .map(|(header, _)| header.clone())
                    .collect();
                Ok(plan)
            })
        })
        .await
        .map_err(|e| HelpdeskError::Unavailable(format!("import scan: {e}")))?;
        let scan = match scan {
            Ok(scan) => scan,
            Err(error) => return self.fail(error).await,
        };
        let required = options.required;
        if self.job.ignored_columns != scan.plan.ignored_columns {
            let ignored = scan.plan.ignored_columns.clone();
            self.save(|job| job.ignored_columns = ignored).await?;
        }
        tracing::info!(job = %self.job.id, rows = scan.data_rows, "import running");

        // Pass 2: from the checkpoint (or the first data row) to the end or the deadline.
        let start = self.job.checkpoint.unwrap_or(Checkpoint {
            offset: 0,
            row: 2,
            report_parts: 0,
        });
        let reader = self
            .ctx
            .sources
            .reader(&self.job.source_key, start.offset)
            .await
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        let total_rows = scan.data_rows;
        let bom = scan.bom_len;
        let last_row_of = Arc::new(scan.last_row_of);
        let plan = Arc::new(scan.plan);
        // Batches in flight at once (parsed and waiting, or being mapped and written): bounds
        // both memory and concurrency against the store, which knows what it gains from more.
        let in_flight = self.ctx.customers.store().bulk_batches_in_flight().max(1);
        let (sender, receiver) = mpsc::channel::<Batch>(in_flight);
        let producer = {
            let (plan, last_row_of) = (Arc::clone(&plan), Arc::clone(&last_row_of));
            tokio::task::spawn_blocking(move || {
                produce(reader, start, bom, &plan, &last_row_of, sender)
            })
        };
        let worker = Arc::new(Worker {
            ctx: self.ctx.clone(),
            job_id: self.job.id.clone(),
            dry_run: self.job.dry_run,
            create_missing_companies: self.job.options.create_missing_companies,
            send_welcome: self.job.options.send_welcome,
            plan: Arc::clone(&plan),
            required,
            access,
            companies: Mutex::new(HashMap::new()),
            domains: Mutex::new(HashMap::new()),
        });
        let mut receiver = receiver;
        // Boxed (not pinned on the stack) so that dropping it really drops the receiver.
        let mut batches = Box::pin(
            futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
                .map(|batch| {
                    let worker = Arc::clone(&worker);
                    // A task per batch: the CPU work of mapping and validation runs on every core,
                    // while `buffered` still hands results back in file order for the checkpoints.
                    let task = tokio::spawn(crate::budget::inherit(async move {
                        worker.process(batch).await
                    }));
                    async move {
                        task.await
                            .map_err(|e| HelpdeskError::Unavailable(format!("import batch: {e}")))?
                    }
                })
                .buffered(in_flight),
        );

        let mut position = start;
        let mut pending_failures: Vec<Failure> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut last_checkpoint = Instant::now();
        let mut paused = false;
        while let Some(done) = batches.next().await {
            let done = done?;
            self.job.counts.add(&done.counts);
            pending_bytes += done.failures.iter().map(Failure::bytes).sum::<usize>();
            // A batch covers consecutive rows, and batches come back in file order: sorted
            // within the batch, the report lists rows in file order.
            let mut failures = done.failures;
            failures.sort_by_key(|failure| failure.row);
            pending_failures.extend(failures);
            position = Checkpoint {
                report_parts: position.report_parts,
                ..done.end
            };
            if let Some(progress) = &self.options.progress {
                progress(&Progress {
                    counts: self.job.counts,
                    total_rows,
                });
            }
            let past_deadline = self.options.deadline.is_some_and(|d| Instant::now() >= d);
            if past_deadline
                || last_checkpoint.elapsed() >= CHECKPOINT_EVERY
                || pending_failures.len() >= REPORT_PART_ROWS
                || pending_bytes >= REPORT_PART_BYTES
            {
                position = self
                    .checkpoint(position, &mut pending_failures, !past_deadline)
                    .await?;
                pending_bytes = 0;
                last_checkpoint = Instant::now();
            }
            if past_deadline {
                paused = true;
                break;
            }
        }
        // Dropping the stream closes the channel; the parser thread sees that and stops.
        drop(batches);
        let produced = producer
            .await
            .map_err(|e| HelpdeskError::Unavailable(format!("import parser: {e}")))?;
        if paused {
            tracing::info!(job = %self.job.id, row = position.row, "import paused at its deadline");
            return Ok(RunOutcome::Paused(self.job.clone()));
        }
        if let Err(error) = produced {
            return self.fail(error).await;
        }
        position = self
            .checkpoint(position, &mut pending_failures, true)
            .await?;
        // Before the job says it succeeded: its customers are then found by every listing
        // at full speed.
        self.ctx.customers.store().finish_bulk_writes().await?;
        let report = self
            .combine_report(position.report_parts, &plan.headers)
            .await?;
        let counts = self.job.counts;
        self.save(|job| {
            job.status = ImportStatus::Succeeded;
            job.error_report = report;
            job.lease_until = None;
        })
        .await?;
        tracing::info!(job = %self.job.id, ?counts, "import finished");
        Ok(RunOutcome::Finished(self.job.clone()))
    }
}

#[expect(
    clippy::large_enum_variant,
    reason = "short-lived, moved once into the batch's write list"
)]
pub(super) enum Plan {
    /// Nothing to write (unchanged, or already written by this row before a restart).
    Counted(RowOutcome),
    Write(CustomerWrite, RowOutcome),
}
