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

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::ImportContext;
use super::rows::RowValues;
use crate::domain::company::Company;
use crate::domain::company::name_key;
use crate::domain::customer::Customer;
use crate::domain::customer::CustomerInput;
use crate::domain::customer::ImportMark;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::field::FieldSet;
use crate::domain::import_job::{
    Checkpoint, Counts, ImportJob, ImportStatus, REPORT_PREFIX, RowOutcome, report_key,
};
use crate::domain::import_mapping::{ColumnPlan, Target};
use crate::domain::patch::parse_input;
use crate::domain::validation::email_domain;
use crate::domain::validation::normalize_email;
use crate::ports::objects::ObjectError;
use crate::ports::store::CustomerWrite;

/// Rows handed to one worker at a time.
const BATCH_ROWS: usize = 1_000;
/// Batches in flight at once: bounds both memory and concurrency against the store.
const CONCURRENT_BATCHES: usize = 6;
/// How often progress (counts, position, report part) is saved.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);
/// A report part is also cut when this many failed rows are waiting.
const REPORT_PART_ROWS: usize = 20_000;
/// Rounds of re-reading for rows whose customer changed between read and write.
const WRITE_ATTEMPTS: usize = 4;
/// Lookup caches (company names, email domains) are emptied past this many entries.
const CACHE_LIMIT: usize = 100_000;

pub struct RunOptions {
    /// Stop, checkpoint and answer `Paused` once this passes (a Lambda's remaining time).
    pub deadline: Option<Instant>,
    /// How long the run holds the job; a run that dies is taken over after it.
    pub lease: Duration,
    pub progress: Option<ProgressFn>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            deadline: None,
            lease: Duration::from_secs(120),
            progress: None,
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
type FileError = String;

pub async fn run_import(
    ctx: &ImportContext,
    job_id: &str,
    options: RunOptions,
) -> Result<RunOutcome, HelpdeskError> {
    let store = ctx.helpdesk.store();
    let job = store
        .get_import_job(job_id)
        .await?
        .ok_or_else(|| HelpdeskError::NotFound(format!("import {job_id}")))?;
    if job.is_finished() {
        return Ok(RunOutcome::Finished(job));
    }
    let Some(job) = claim(ctx, job, options.lease).await? else {
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

/// Takes the job for this run unless another run holds an unexpired lease.
async fn claim(
    ctx: &ImportContext,
    job: ImportJob,
    lease: Duration,
) -> Result<Option<ImportJob>, HelpdeskError> {
    let now = crate::domain::clock::now();
    if job
        .lease_until
        .as_ref()
        .is_some_and(|until| until.as_str() > now.as_str())
    {
        return Ok(None);
    }
    let mut next = job.clone();
    next.status = ImportStatus::Running;
    next.lease_until = Some(crate::domain::clock::timestamp_after(lease));
    next.updated_at = now;
    next.version += 1;
    match ctx.helpdesk.store().replace_import_job(&job, &next).await {
        Ok(()) => Ok(Some(next)),
        Err(StoreError::VersionMismatch) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

struct Run<'a> {
    ctx: &'a ImportContext,
    job: ImportJob,
    options: RunOptions,
}

impl Run<'_> {
    async fn save(&mut self, change: impl FnOnce(&mut ImportJob)) -> Result<(), HelpdeskError> {
        let mut next = self.job.clone();
        change(&mut next);
        next.updated_at = crate::domain::clock::now();
        next.version += 1;
        self.ctx
            .helpdesk
            .store()
            .replace_import_job(&self.job, &next)
            .await?;
        self.job = next;
        Ok(())
    }

    async fn release(&mut self) {
        if let Err(error) = self.save(|job| job.lease_until = None).await {
            tracing::warn!(job = %self.job.id, %error, "could not release the import lease");
        }
    }

    async fn fail(&mut self, error: FileError) -> Result<RunOutcome, HelpdeskError> {
        tracing::info!(job = %self.job.id, %error, "import failed");
        self.save(|job| {
            job.status = ImportStatus::Failed;
            job.error = Some(error);
            job.lease_until = None;
        })
        .await?;
        Ok(RunOutcome::Finished(self.job.clone()))
    }

    async fn execute(&mut self) -> Result<RunOutcome, HelpdeskError> {
        let fields = self.ctx.helpdesk.field_set().await?;
        let caller = self.job.run_as.caller();

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
        let (mapping, plan_fields, plan_caller) = (
            self.job.options.mapping.clone(),
            fields.clone(),
            caller.clone(),
        );
        let scan = tokio::task::spawn_blocking(move || {
            scan(reader, |headers| {
                let mut plan = ColumnPlan::resolve(
                    headers,
                    &mapping,
                    &plan_fields,
                    plan_caller.can_manage_companies(),
                )?;
                // Custom fields the import's author may not edit are not written.
                for (header, target) in plan.headers.iter().zip(plan.targets.iter_mut()) {
                    if let Some(Target::Custom(key)) = target
                        && plan_fields
                            .get(key)
                            .is_some_and(|d| !d.can_edit(&plan_caller))
                    {
                        *target = None;
                        plan.ignored_columns.push(header.clone());
                    }
                }
                Ok(plan)
            })
        })
        .await
        .map_err(|e| HelpdeskError::Unavailable(format!("import scan: {e}")))?;
        let scan = match scan {
            Ok(scan) => scan,
            Err(error) => return self.fail(error).await,
        };
        let mut required = Vec::new();
        for property in &self.job.options.required {
            if let Ok(Some(target)) = Target::parse(property) {
                required.push(target);
            }
        }
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
        let (sender, receiver) = mpsc::channel::<Batch>(CONCURRENT_BATCHES);
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
            fields,
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
                    let task = tokio::spawn(async move { worker.process(batch).await });
                    async move {
                        task.await
                            .map_err(|e| HelpdeskError::Unavailable(format!("import batch: {e}")))?
                    }
                })
                .buffered(CONCURRENT_BATCHES),
        );

        let mut position = start;
        let mut pending_failures: Vec<Failure> = Vec::new();
        let mut last_checkpoint = Instant::now();
        let mut paused = false;
        while let Some(done) = batches.next().await {
            let done = done?;
            self.job.counts.add(&done.counts);
            pending_failures.extend(done.failures);
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
            {
                position = self
                    .checkpoint(position, &mut pending_failures, !past_deadline)
                    .await?;
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

    /// Saves counts and position; failed rows since the last checkpoint become a report part.
    /// With `hold`, the lease is renewed; without, it is released (the run stops here).
    async fn checkpoint(
        &mut self,
        mut position: Checkpoint,
        failures: &mut Vec<Failure>,
        hold: bool,
    ) -> Result<Checkpoint, HelpdeskError> {
        if !failures.is_empty() {
            // Failed rows may have any number of fields.
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_writer(Vec::new());
            for failure in failures.iter() {
                let mut record = vec![
                    failure.row.to_string(),
                    failure.email.clone(),
                    failure.reason.clone(),
                ];
                record.extend(failure.fields.iter().cloned());
                writer
                    .write_record(&record)
                    .map_err(|e| HelpdeskError::Unavailable(format!("report: {e}")))?;
            }
            let bytes = writer
                .into_inner()
                .map_err(|e| HelpdeskError::Unavailable(format!("report: {e}")))?;
            let key = part_key(&self.job.id, position.report_parts);
            self.ctx
                .reports
                .put(&key, bytes, "text/csv")
                .await
                .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
            position.report_parts += 1;
            failures.clear();
        }
        let lease = self.options.lease;
        self.save(|job| {
            job.checkpoint = Some(position);
            job.lease_until = hold.then(|| crate::domain::clock::timestamp_after(lease));
        })
        .await?;
        Ok(position)
    }

    /// Joins the report parts into `import-reports/{id}.errors.csv` (streamed through a temp file).
    async fn combine_report(
        &self,
        parts: u32,
        headers: &[String],
    ) -> Result<Option<String>, HelpdeskError> {
        if parts == 0 {
            return Ok(None);
        }
        let unavailable =
            |e: &dyn std::fmt::Display| HelpdeskError::Unavailable(format!("report: {e}"));
        let path = std::env::temp_dir().join(format!(
            "helpdesk-report-{}-{}.csv",
            self.job.id,
            crate::domain::clock::new_id()
        ));
        {
            use std::io::Write;
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| unavailable(&e))?);
            let mut header = csv::Writer::from_writer(Vec::new());
            let mut names = vec!["row".to_string(), "email".to_string(), "reason".to_string()];
            names.extend(headers.iter().cloned());
            header.write_record(&names).map_err(|e| unavailable(&e))?;
            file.write_all(&header.into_inner().map_err(|e| unavailable(&e))?)
                .map_err(|e| unavailable(&e))?;
            for part in 0..parts {
                let bytes = self
                    .ctx
                    .reports
                    .get(&part_key(&self.job.id, part))
                    .await
                    .map_err(|e| unavailable(&e))?;
                file.write_all(&bytes).map_err(|e| unavailable(&e))?;
            }
            file.flush().map_err(|e| unavailable(&e))?;
        }
        let key = report_key(&self.job.id);
        let uploaded = self.ctx.reports.put_file(&key, &path, "text/csv").await;
        let _ = std::fs::remove_file(&path);
        uploaded.map_err(|e| unavailable(&e))?;
        for part in 0..parts {
            // Leftover parts are harmless; the lifecycle rule on the prefix removes them.
            let _ = self.ctx.reports.delete(&part_key(&self.job.id, part)).await;
        }
        Ok(Some(key))
    }
}

fn part_key(job_id: &str, part: u32) -> String {
    format!("{}{job_id}.errors.part-{part:05}.csv", REPORT_PREFIX)
}

// ---------------------------------------------------------------------------------------------
// The blocking side: CSV parsing.

/// Which row is the last for each email, kept small: 8 bytes per distinct email, and a row
/// number only for the emails that appear more than once.
#[derive(Default)]
struct LastRows {
    seen: HashSet<u64, MixedHash>,
    repeated: HashMap<u64, u64, MixedHash>,
}

/// The keys of [`LastRows`] are already hashes of the emails: rehashing them with SipHash cost
/// a seventh of the first pass. FNV's low bits are weak, so they are mixed (SplitMix64's
/// finaliser) before the table uses them.
#[derive(Default, Clone, Copy)]
struct MixedHash;

impl std::hash::BuildHasher for MixedHash {
    type Hasher = MixedHasher;

    fn build_hasher(&self) -> MixedHasher {
        MixedHasher(0)
    }
}

struct MixedHasher(u64);

impl std::hash::Hasher for MixedHasher {
    // Only `u64` keys are hashed here; other input is folded in and mixed by `finish`.
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl LastRows {
    fn record(&mut self, email: &str, row: u64) {
        let hash = email_hash(email);
        if !self.seen.insert(hash) {
            self.repeated.insert(hash, row);
        }
    }

    /// True when a later row carries the same email (this one counts as a duplicate).
    fn superseded(&self, email: &str, row: u64) -> bool {
        self.repeated
            .get(&email_hash(email))
            .is_some_and(|last| *last != row)
    }
}

struct Scan {
    plan: ColumnPlan,
    last_row_of: LastRows,
    data_rows: u64,
    bom_len: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Skips a UTF-8 byte-order mark at the start of the stream.
struct SkipBom<R> {
    inner: R,
    checked: bool,
    pending: Vec<u8>,
    skipped: bool,
}

impl<R: Read> SkipBom<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            checked: false,
            pending: Vec::new(),
            skipped: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            self.checked = true;
            let mut head = [0u8; 3];
            let mut filled = 0;
            while filled < 3 {
                let n = self.inner.read(&mut head[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if &head[..filled] == BOM {
                self.skipped = true;
            } else {
                self.pending = head[..filled].to_vec();
            }
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    // Flexible: a row with the wrong number of fields fails alone, not the file.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(reader)
}

fn read_error(error: &csv::Error) -> FileError {
    match error.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => format!(
            "the file is not UTF-8 text (row {}); save it as CSV UTF-8 and upload it again",
            pos.as_ref().map(|p| p.record() + 1).unwrap_or(0)
        ),
        _ => format!("the file cannot be read as CSV: {error}"),
    }
}

fn email_hash(email: &str) -> u64 {
    crate::domain::clock::stable_hash(email)
}

fn scan(
    reader: Box<dyn Read + Send>,
    resolve: impl FnOnce(&[String]) -> Result<ColumnPlan, String>,
) -> Result<Scan, FileError> {
    let mut source = SkipBom::new(reader);
    let mut header = csv::StringRecord::new();
    let mut csv = csv_reader(&mut source);
    let has_header = csv.read_record(&mut header).map_err(|e| read_error(&e))?;
    let headers: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if !has_header || headers.iter().all(String::is_empty) {
        return Err("the file is empty".into());
    }
    let plan = resolve(&headers)?;
    let email_column = plan.email_column();
    let mut last_row_of = LastRows::default();
    let mut record = csv::StringRecord::new();
    let mut row = 1u64;
    while csv.read_record(&mut record).map_err(|e| read_error(&e))? {
        row += 1;
        if let Some(email) = record
            .get(email_column)
            .and_then(|e| normalize_email(e).ok())
        {
            last_row_of.record(&email, row);
        }
    }
    drop(csv);
    if row == 1 {
        return Err("the file has a header row but no data rows".into());
    }
    Ok(Scan {
        plan,
        last_row_of,
        data_rows: row - 1,
        bom_len: if source.skipped { BOM.len() as u64 } else { 0 },
    })
}

struct RawRow {
    row: u64,
    fields: Vec<String>,
}

struct Batch {
    rows: Vec<RawRow>,
    /// Rows superseded by a later row with the same email.
    duplicates: u64,
    /// Where the next batch starts.
    end: Checkpoint,
}

/// Reads rows from `start` and sends them in batches until the end or until the receiver is gone.
fn produce(
    reader: Box<dyn Read + Send>,
    start: Checkpoint,
    bom_len: u64,
    plan: &ColumnPlan,
    last_row_of: &LastRows,
    sender: mpsc::Sender<Batch>,
) -> Result<(), FileError> {
    let fresh = start.offset == 0;
    let mut csv = if fresh {
        csv_reader(Box::new(SkipBom::new(reader)) as Box<dyn Read + Send>)
    } else {
        csv_reader(reader)
    };
    let base = if fresh { bom_len } else { start.offset };
    let mut record = csv::StringRecord::new();
    if fresh {
        csv.read_record(&mut record).map_err(|e| read_error(&e))?;
    }
    let email_column = plan.email_column();
    let mut row = start.row;
    let mut batch = Batch {
        rows: Vec::with_capacity(BATCH_ROWS),
        duplicates: 0,
        end: start,
    };
    loop {
        let more = csv.read_record(&mut record).map_err(|e| read_error(&e))?;
        if more {
            let email = record
                .get(email_column)
                .and_then(|e| normalize_email(e).ok());
            let superseded = email.is_some_and(|e| last_row_of.superseded(&e, row));
            if superseded {
                batch.duplicates += 1;
            } else {
                batch.rows.push(RawRow {
                    row,
                    fields: record.iter().map(str::to_string).collect(),
                });
            }
            row += 1;
        }
        let full = batch.rows.len() + batch.duplicates as usize >= BATCH_ROWS;
        if full || !more {
            batch.end = Checkpoint {
                offset: base + csv.position().byte(),
                row,
                report_parts: 0,
            };
            let next = Batch {
                rows: Vec::with_capacity(BATCH_ROWS),
                duplicates: 0,
                end: batch.end,
            };
            if sender
                .blocking_send(std::mem::replace(&mut batch, next))
                .is_err()
            {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The async side: mapping, validation and upserts of one batch.

struct Failure {
    row: u64,
    email: String,
    reason: String,
    fields: Vec<String>,
}

struct BatchDone {
    counts: Counts,
    failures: Vec<Failure>,
    end: Checkpoint,
}

struct Worker {
    ctx: ImportContext,
    job_id: String,
    dry_run: bool,
    create_missing_companies: bool,
    send_welcome: bool,
    plan: Arc<ColumnPlan>,
    required: Vec<Target>,
    fields: FieldSet,
    /// Lower-cased company name → id (None: no such company).
    companies: Mutex<HashMap<String, Option<String>>>,
    /// Email domain → the company owning it.
    domains: Mutex<HashMap<String, Option<String>>>,
}

struct Candidate {
    raw: RawRow,
    values: RowValues,
    company_id: Option<String>,
}

#[expect(
    clippy::large_enum_variant,
    reason = "short-lived, moved once into the batch's write list"
)]
enum Plan {
    /// Nothing to write (unchanged, or already written by this row before a restart).
    Counted(RowOutcome),
    Write(CustomerWrite, RowOutcome),
}

fn cached<T: Clone>(cache: &Mutex<HashMap<String, T>>, key: &str) -> Option<T> {
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .cloned()
}

fn remember<T>(cache: &Mutex<HashMap<String, T>>, key: String, value: T) {
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
    map.insert(key, value);
}

fn reasons(error: &HelpdeskError) -> String {
    let errors = error.field_errors();
    if errors.is_empty() {
        error.to_string()
    } else {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Worker {
    async fn process(&self, batch: Batch) -> Result<BatchDone, HelpdeskError> {
        let mut counts = Counts {
            rows: batch.duplicates,
            duplicates: batch.duplicates,
            ..Counts::default()
        };
        let mut failures = Vec::new();
        let fail =
            |failures: &mut Vec<Failure>, counts: &mut Counts, raw: RawRow, reason: String| {
                counts.rows += 1;
                counts.failed += 1;
                let email = raw
                    .fields
                    .get(self.plan.email_column())
                    .cloned()
                    .unwrap_or_default();
                failures.push(Failure {
                    row: raw.row,
                    email,
                    reason,
                    fields: raw.fields,
                });
            };

        let mut candidates = Vec::with_capacity(batch.rows.len());
        for raw in batch.rows {
            if raw.fields.len() != self.plan.headers.len() {
                let reason = format!(
                    "the row has {} fields; the header has {}",
                    raw.fields.len(),
                    self.plan.headers.len()
                );
                fail(&mut failures, &mut counts, raw, reason);
                continue;
            }
            let email = match normalize_email(&raw.fields[self.plan.email_column()]) {
                Ok(email) => email,
                Err(message) => {
                    fail(&mut failures, &mut counts, raw, format!("email: {message}"));
                    continue;
                }
            };
            let values = RowValues::read(&self.plan, &raw.fields, email);
            let missing: Vec<String> = self
                .required
                .iter()
                .filter(|t| !values.has(t))
                .map(|t| format!("{}: is required", t.name()))
                .collect();
            if !missing.is_empty() {
                fail(&mut failures, &mut counts, raw, missing.join("; "));
                continue;
            }
            let company_id = match &values.company {
                None => None,
                Some(name) => match self.company(name).await? {
                    Ok(id) => id,
                    Err(reason) => {
                        fail(&mut failures, &mut counts, raw, reason);
                        continue;
                    }
                },
            };
            candidates.push(Candidate {
                raw,
                values,
                company_id,
            });
        }

        for attempt in 0..WRITE_ATTEMPTS {
            if candidates.is_empty() {
                break;
            }
            let emails: Vec<String> = candidates.iter().map(|c| c.values.email.clone()).collect();
            let existing = self.ctx.helpdesk.store().find_customers(&emails).await?;
            self.prefetch_domains(&candidates, &existing).await?;
            let mut writes = Vec::new();
            let mut written = Vec::new();
            for (candidate, current) in candidates.drain(..).zip(existing) {
                match self.plan_row(&candidate, current).await? {
                    Err(reason) => fail(&mut failures, &mut counts, candidate.raw, reason),
                    Ok(Plan::Counted(outcome)) => counts.count(outcome),
                    Ok(Plan::Write(_, outcome)) if self.dry_run => counts.count(outcome),
                    Ok(Plan::Write(write, outcome)) => {
                        writes.push(write);
                        written.push((candidate, outcome));
                    }
                }
            }
            if writes.is_empty() {
                break;
            }
            let results = self.ctx.helpdesk.store().write_customers(&writes).await?;
            for ((candidate, outcome), result) in written.into_iter().zip(results) {
                match result {
                    Ok(()) => counts.count(outcome),
                    // Changed or created by someone else since it was read: read it again.
                    Err(StoreError::VersionMismatch) if attempt + 1 < WRITE_ATTEMPTS => {
                        candidates.push(candidate)
                    }
                    Err(StoreError::EmailTaken(email))
                        if email == candidate.values.email && attempt + 1 < WRITE_ATTEMPTS =>
                    {
                        candidates.push(candidate)
                    }
                    Err(StoreError::EmailTaken(email)) => fail(
                        &mut failures,
                        &mut counts,
                        candidate.raw,
                        format!("{email} already belongs to another customer"),
                    ),
                    Err(StoreError::VersionMismatch) => fail(
                        &mut failures,
                        &mut counts,
                        candidate.raw,
                        "the customer kept changing during the import; import this row again"
                            .into(),
                    ),
                    Err(other) => return Err(other.into()),
                }
            }
        }
        Ok(BatchDone {
            counts,
            failures,
            end: batch.end,
        })
    }

    /// What to do with one row given the customer it names (if any).
    async fn plan_row(
        &self,
        candidate: &Candidate,
        current: Option<Customer>,
    ) -> Result<Result<Plan, String>, HelpdeskError> {
        let mark = |outcome| ImportMark {
            job: self.job_id.clone(),
            row: candidate.raw.row,
            outcome,
        };
        let company = candidate.company_id.as_deref();
        let Some(existing) = current else {
            // A new customer: typed straight from the row when possible.
            let input = match candidate.values.new_customer_input(&self.fields, company) {
                Some(input) => Ok(input),
                None => parse_input::<CustomerInput>(candidate.values.patch(
                    None,
                    &self.fields,
                    company,
                )),
            };
            let mut profile = match input.and_then(|input| {
                input
                    .into_profile(&self.fields)
                    .map_err(HelpdeskError::Validation)
            }) {
                Ok(profile) => profile,
                Err(error) => return Ok(Err(reasons(&error))),
            };
            if profile.company_id.is_none() {
                profile.company_id = self.domain_company(email_domain(&profile.email)).await?;
            }
            let mut customer =
                crate::services::customers::customer_record(profile, self.send_welcome);
            customer.import_mark = Some(mark(RowOutcome::Created));
            return Ok(Ok(Plan::Write(
                CustomerWrite::Insert(customer),
                RowOutcome::Created,
            )));
        };
        if let Some(done) = existing
            .import_mark
            .as_ref()
            .filter(|m| m.job == self.job_id && m.row == candidate.raw.row)
        {
            // Written by this very row before the run was interrupted.
            return Ok(Ok(Plan::Counted(done.outcome)));
        }
        let patch = candidate
            .values
            .patch(Some(&existing), &self.fields, company);
        match self
            .ctx
            .helpdesk
            .patched(&existing, &self.fields, patch)
            .await
        {
            Err(HelpdeskError::Unavailable(message)) => Err(HelpdeskError::Unavailable(message)),
            Err(error) => Ok(Err(reasons(&error))),
            Ok(next) if next.profile == existing.profile => {
                Ok(Ok(Plan::Counted(RowOutcome::Unchanged)))
            }
            Ok(mut next) => {
                next.import_mark = Some(mark(RowOutcome::Updated));
                Ok(Ok(Plan::Write(
                    CustomerWrite::Replace {
                        previous: existing,
                        next,
                    },
                    RowOutcome::Updated,
                )))
            }
        }
    }

    /// The id of the company a row names; creates it when allowed. `Err` is the row's failure.
    async fn company(&self, name: &str) -> Result<Result<Option<String>, String>, HelpdeskError> {
        let key = name_key(name);
        if let Some(found) = cached(&self.companies, &key) {
            return Ok(found
                .map(Some)
                .ok_or_else(|| format!("company: no company is named '{name}'")));
        }
        let store = self.ctx.helpdesk.store();
        let found = store.find_company_by_name(name).await?.map(|c| c.id);
        let id = match found {
            Some(id) => Some(id),
            None if self.create_missing_companies && !self.dry_run => {
                let now = crate::domain::clock::now();
                let company = Company {
                    id: crate::domain::clock::new_id(),
                    name: name.trim().to_string(),
                    domains: Vec::new(),
                    notes: None,
                    created_at: now.clone(),
                    updated_at: now,
                    version: 1,
                };
                match store.insert_company(&company).await {
                    Ok(()) => Some(company.id),
                    // Another batch created it a moment ago.
                    Err(StoreError::CompanyNameTaken(_)) => {
                        store.find_company_by_name(name).await?.map(|c| c.id)
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            // A dry run counts the row as it would go: the company would be created.
            None if self.create_missing_companies => return Ok(Ok(None)),
            None => None,
        };
        remember(&self.companies, key, id.clone());
        Ok(id
            .map(Some)
            .ok_or_else(|| format!("company: no company is named '{name}'")))
    }

    /// Looks up, in one store call, the domains of the batch's new customers that the cache
    /// does not know yet (domain matching would otherwise cost a round trip per row).
    async fn prefetch_domains(
        &self,
        candidates: &[Candidate],
        existing: &[Option<Customer>],
    ) -> Result<(), HelpdeskError> {
        let mut domains: Vec<String> = candidates
            .iter()
            .zip(existing)
            .filter(|(candidate, current)| current.is_none() && candidate.company_id.is_none())
            .map(|(candidate, _)| email_domain(&candidate.values.email).to_string())
            .filter(|domain| cached(&self.domains, domain).is_none())
            .collect();
        domains.sort();
        domains.dedup();
        if domains.is_empty() {
            return Ok(());
        }
        let owners = self
            .ctx
            .helpdesk
            .store()
            .companies_for_domains(&domains)
            .await?;
        for (domain, owner) in domains.into_iter().zip(owners) {
            remember(&self.domains, domain, owner);
        }
        Ok(())
    }

    async fn domain_company(&self, domain: &str) -> Result<Option<String>, HelpdeskError> {
        if let Some(found) = cached(&self.domains, domain) {
            return Ok(found);
        }
        let found = self.ctx.helpdesk.store().company_for_domain(domain).await?;
        remember(&self.domains, domain.to_string(), found.clone());
        Ok(found)
    }
}
