//! The steps of one run: check the file and the options, scan it (pass 1), write its rows
//! from the checkpoint (pass 2), then finish the job with its report.

use super::*;
use crate::domain::import_job::ParsedOptions;

pub(super) struct Run<'a> {
    pub(super) ctx: &'a ImportContext,
    pub(super) job: ImportJob,
    pub(super) options: RunOptions,
}

/// Where pass 2 stopped.
enum Written {
    /// Every row is written; the last checkpoint.
    Done(Checkpoint),
    /// The deadline came first; the checkpoint to go on from.
    Paused,
    /// The file turned out bad part way (a read error the scan did not meet).
    Failed(FileError),
}

impl Run<'_> {
    pub(super) async fn execute(&mut self) -> Result<RunOutcome, HelpdeskError> {
        if self.job.options.kind == crate::domain::import_job::ImportKind::Tickets {
            return self.execute_tickets().await;
        }
        let access = CustomerAccess::new(
            &self.job.run_as.caller(),
            &self.ctx.customers.field_set().await?,
        );
        if let Some(problem) = self.refuse_oversized_file().await? {
            return self.fail(problem).await;
        }
        let options = match self.checked_options(&access) {
            Ok(options) => options,
            Err(problem) => return self.fail(problem).await,
        };
        let scan = match self.scan(&options, &access).await? {
            Ok(scan) => scan,
            Err(problem) => return self.fail(problem).await,
        };
        if self.job.ignored_columns != scan.plan.ignored_columns {
            let ignored = scan.plan.ignored_columns.clone();
            self.save(|job| job.ignored_columns = ignored).await?;
        }
        tracing::info!(job = %self.job.id, rows = scan.data_rows, "import running");
        let headers = scan.plan.headers.clone();
        match self.write_rows(scan, options.required, access).await? {
            Written::Done(position) => self.finish(position, &headers).await,
            Written::Paused => Ok(RunOutcome::Paused(self.job.clone())),
            Written::Failed(problem) => self.fail(problem).await,
        }
    }

    /// A file over the limit is refused before any of it is read.
    pub(super) async fn refuse_oversized_file(&self) -> Result<Option<FileError>, HelpdeskError> {
        match self.ctx.sources.size(&self.job.source_key).await {
            Ok(size) if size > MAX_IMPORT_FILE_BYTES => Ok(Some(format!(
                "the file is {size} bytes; an import takes at most {} bytes ({} GiB)",
                MAX_IMPORT_FILE_BYTES,
                MAX_IMPORT_FILE_BYTES >> 30
            ))),
            Ok(_) => Ok(None),
            Err(ObjectError::NotFound(key)) => Ok(Some(format!("the file {key} does not exist"))),
            Err(ObjectError::Unavailable(message)) => Err(HelpdeskError::Unavailable(message)),
        }
    }

    /// The job's options were checked when it was created; a stored job whose options no
    /// longer hold (a custom field deleted since) fails with the reason rather than running
    /// with parts left out.
    fn checked_options(&self, access: &CustomerAccess) -> Result<ParsedOptions, FileError> {
        let checked = self.job.options.parse().and_then(|options| {
            options.check_custom_fields(access)?;
            Ok(options)
        });
        checked.map_err(|error| {
            let reasons = error
                .field_errors()
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            format!("invalid import options: {reasons}")
        })
    }

    /// Pass 1: the column plan and the last row of every email; nothing is written before it
    /// accepts the file.
    async fn scan(
        &self,
        options: &ParsedOptions,
        access: &CustomerAccess,
    ) -> Result<Result<Scan, FileError>, HelpdeskError> {
        let reader = match self.ctx.sources.reader(&self.job.source_key, 0).await {
            Ok(reader) => reader,
            Err(ObjectError::NotFound(key)) => {
                return Ok(Err(format!("the file {key} does not exist")));
            }
            Err(ObjectError::Unavailable(message)) => {
                return Err(HelpdeskError::Unavailable(message));
            }
        };
        let (mapping, access) = (options.mapping.clone(), access.clone());
        tokio::task::spawn_blocking(move || {
            csv_read::scan(reader, |headers| column_plan(headers, &mapping, &access))
        })
        .await
        .map_err(|e| HelpdeskError::Unavailable(format!("import scan: {e}")))
    }

    /// Pass 2: from the checkpoint (or the first data row) to the end or the deadline. A
    /// blocking thread parses; a task per batch maps, validates and writes, and results come
    /// back in file order for the checkpoints.
    async fn write_rows(
        &mut self,
        scan: Scan,
        required: Vec<Target>,
        access: CustomerAccess,
    ) -> Result<Written, HelpdeskError> {
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
        let (total_rows, bom) = (scan.data_rows, scan.bom_len);
        let last_row_of = Arc::new(scan.last_row_of);
        let plan = Arc::new(scan.plan);
        // Batches in flight at once (parsed and waiting, or being mapped and written): bounds
        // both memory and concurrency against the store, which knows what it gains from more.
        let in_flight = self.ctx.customers.store().bulk_batches_in_flight().max(1);
        let (sender, receiver) = mpsc::channel::<Batch>(in_flight);
        let producer = {
            let (plan, last_row_of) = (Arc::clone(&plan), Arc::clone(&last_row_of));
            tokio::task::spawn_blocking(move || {
                produce(
                    reader,
                    start,
                    bom,
                    Some(plan.email_column()),
                    &last_row_of,
                    sender,
                )
            })
        };
        let worker = Arc::new(self.worker(plan, required, access));
        let position = self
            .follow_batches(receiver, worker, in_flight, start, total_rows)
            .await?;
        let produced = producer
            .await
            .map_err(|e| HelpdeskError::Unavailable(format!("import parser: {e}")))?;
        let Some((position, mut report)) = position else {
            tracing::info!(job = %self.job.id, "import paused at its deadline");
            return Ok(Written::Paused);
        };
        if let Err(problem) = produced {
            return Ok(Written::Failed(problem));
        }
        let position = self
            .checkpoint(position, &mut report.failures, true)
            .await?;
        Ok(Written::Done(position))
    }

    /// What every batch of this run is mapped, checked and written by.
    fn worker(
        &self,
        plan: Arc<ColumnPlan>,
        required: Vec<Target>,
        access: CustomerAccess,
    ) -> Worker {
        Worker {
            ctx: self.ctx.clone(),
            job_id: self.job.id.clone(),
            dry_run: self.job.dry_run,
            create_missing_companies: self.job.options.create_missing_companies,
            send_welcome: self.job.options.send_welcome,
            plan,
            required,
            access,
            companies: Mutex::new(HashMap::new()),
            domains: Mutex::new(HashMap::new()),
            portal_defaults: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the batches' results in file order: counts, failed rows, progress and
    /// checkpoints. Answers the last position with the failed rows since the last checkpoint,
    /// or `None` when the deadline stopped the run (after a checkpoint that lets the next run
    /// go on).
    async fn follow_batches(
        &mut self,
        mut receiver: mpsc::Receiver<Batch>,
        worker: Arc<Worker>,
        in_flight: usize,
        start: Checkpoint,
        total_rows: u64,
    ) -> Result<Option<(Checkpoint, PendingReport)>, HelpdeskError> {
        // Boxed (not pinned on the stack) so that dropping it really drops the receiver, and
        // the parser thread sees the channel close and stops.
        let mut batches = Box::pin(
            futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
                .map(|batch| {
                    let worker = Arc::clone(&worker);
                    // A task per batch: the CPU work of mapping and validation runs on every
                    // core, while `buffered` still hands results back in file order.
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
        let mut tally = Tally::new(start, total_rows);
        while let Some(done) = batches.next().await {
            let done = done?;
            if self
                .tally(&mut tally, &done.counts, done.failures, done.end)
                .await?
            {
                return Ok(None);
            }
        }
        Ok(Some((tally.position, tally.report)))
    }

    /// Counts a written batch, reports progress, and saves a checkpoint when one is due.
    /// Answers whether the deadline has come (the checkpoint then lets the next run go on).
    pub(super) async fn tally(
        &mut self,
        tally: &mut Tally,
        counts: &Counts,
        failures: Vec<Failure>,
        end: Checkpoint,
    ) -> Result<bool, HelpdeskError> {
        self.job.counts.add(counts);
        tally.report.add(failures);
        tally.position = Checkpoint {
            report_parts: tally.position.report_parts,
            ..end
        };
        if let Some(progress) = &self.options.progress {
            progress(&Progress {
                counts: self.job.counts,
                total_rows: tally.total_rows,
            });
        }
        let past_deadline = self.options.deadline.is_some_and(|d| Instant::now() >= d);
        let due = tally.last_checkpoint.elapsed() >= CHECKPOINT_EVERY || tally.report.is_full();
        if past_deadline || due {
            tally.position = self
                .checkpoint(tally.position, &mut tally.report.failures, !past_deadline)
                .await?;
            tally.report.bytes = 0;
            tally.last_checkpoint = Instant::now();
        }
        Ok(past_deadline)
    }

    /// Every row is written: the bulk writes completed, the report combined, the job done.
    pub(super) async fn finish(
        &mut self,
        position: Checkpoint,
        headers: &[String],
    ) -> Result<RunOutcome, HelpdeskError> {
        // Before the job says it succeeded: its customers are then found by every listing
        // at full speed.
        self.ctx.customers.store().finish_bulk_writes().await?;
        let report = self.combine_report(position.report_parts, headers).await?;
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

/// Where pass 2 stands between batches: its position, the failed rows not yet in a report
/// part, and when it last saved.
pub(super) struct Tally {
    pub(super) position: Checkpoint,
    pub(super) report: PendingReport,
    last_checkpoint: Instant,
    total_rows: u64,
}

impl Tally {
    pub(super) fn new(start: Checkpoint, total_rows: u64) -> Self {
        Tally {
            position: start,
            report: PendingReport::default(),
            last_checkpoint: Instant::now(),
            total_rows,
        }
    }
}

/// Failed rows waiting for the next report part.
#[derive(Default)]
pub(super) struct PendingReport {
    pub(super) failures: Vec<Failure>,
    pub(super) bytes: usize,
}

impl PendingReport {
    pub(super) fn add(&mut self, mut failures: Vec<Failure>) {
        self.bytes += failures.iter().map(Failure::bytes).sum::<usize>();
        // A batch covers consecutive rows, and batches come back in file order: sorted
        // within the batch, the report lists rows in file order.
        failures.sort_by_key(|failure| failure.row);
        self.failures.extend(failures);
    }

    /// A part is cut at so many rows or bytes, so memory stays bounded.
    pub(super) fn is_full(&self) -> bool {
        self.failures.len() >= REPORT_PART_ROWS || self.bytes >= REPORT_PART_BYTES
    }
}

/// The file's column plan for the import's author: columns map only to fields they see (a
/// hidden field is, for them, an undefined one), and custom fields they see but may not edit
/// are not written.
fn column_plan(
    headers: &[String],
    mapping: &std::collections::BTreeMap<String, Option<Target>>,
    access: &CustomerAccess,
) -> Result<ColumnPlan, String> {
    let mut plan = ColumnPlan::resolve(
        headers,
        mapping,
        access.visible_fields(),
        access.caller().can_manage_companies(),
    )?;
    for target in plan.targets.iter_mut() {
        if let Some(Target::Custom(key)) = target
            && access.visible_fields().get(key).is_some()
            && access.editable_fields().get(key).is_none()
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
}
