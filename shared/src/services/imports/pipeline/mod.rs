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
mod run;
mod tickets;
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
use crate::domain::customer::ImportMark;
use crate::domain::customer_input::CustomerInput;
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
use run::Run;
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
        .get_job(job_id)
        .await?
        .ok_or_else(|| HelpdeskError::NotFound(format!("import {job_id}")))?;
    if job.is_finished() {
        return Ok(RunOutcome::Finished(job));
    }
    let Some(job) = claim(ctx, job, options.lease, options.owner.as_deref()).await? else {
        let current = store
            .get_job(job_id)
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

#[expect(
    clippy::large_enum_variant,
    reason = "short-lived, moved once into the batch's write list"
)]
pub(super) enum Plan {
    /// Nothing to write (unchanged, or already written by this row before a restart).
    Counted(RowOutcome),
    Write(CustomerWrite, RowOutcome),
}
