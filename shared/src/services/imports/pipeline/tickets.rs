//! A run of a ticket import: the same job, upload, limits, checkpoints, report and lease as a
//! customer import, with rows written one after the other in file order (a message row needs
//! the ticket row before it).

use super::run::{PendingReport, Tally};
use super::*;
use crate::domain::ticket_import::{TicketColumn, TicketPlan, read_row};
use crate::services::imports::tickets::TicketImporter;

/// Tickets written at once: the rows of one ticket stay in file order in their lane, and
/// different tickets' rows go side by side (each write waits on the store, not the CPU).
const LANES: usize = 8;

/// A row's result: its number, key, fields (for the report) and outcome.
type Written = (u64, String, Vec<String>, Result<RowOutcome, String>);

impl Run<'_> {
    /// Writes a batch's rows, one lane per ticket (by `external_id`); answers them in file
    /// order.
    async fn write_lanes(
        &self,
        importer: &TicketImporter,
        plan: &TicketPlan,
        rows: Vec<RawRow>,
    ) -> Result<Vec<Written>, HelpdeskError> {
        let mut lanes: Vec<Vec<RawRow>> = Vec::new();
        let mut lane_of: HashMap<String, usize> = HashMap::new();
        for raw in rows {
            let key = plan
                .cells(&raw.fields)
                .get(&TicketColumn::ExternalId)
                .map(|k| k.to_string())
                .unwrap_or_default();
            let lane = *lane_of.entry(key).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            });
            lanes[lane].push(raw);
        }
        let done: Vec<Result<Vec<Written>, HelpdeskError>> = futures::stream::iter(lanes)
            .map(|lane| async move {
                let mut written = Vec::with_capacity(lane.len());
                for raw in lane {
                    written.push(write_row(importer, plan, raw).await?);
                }
                Ok(written)
            })
            .buffer_unordered(LANES)
            .collect()
            .await;
        let mut all = Vec::new();
        for lane in done {
            all.extend(lane?);
        }
        all.sort_by_key(|(row, ..)| *row);
        Ok(all)
    }

    pub(super) async fn execute_tickets(&mut self) -> Result<RunOutcome, HelpdeskError> {
        if let Some(problem) = self.refuse_oversized_file().await? {
            return self.fail(problem).await;
        }
        let mapping = match self.job.options.ticket_mapping() {
            Ok(mapping) => mapping,
            Err(error) => {
                let reasons: Vec<String> = error
                    .field_errors()
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                return self
                    .fail(format!("invalid import options: {}", reasons.join("; ")))
                    .await;
            }
        };
        let (plan, data_rows, bom_len) = match self.scan_tickets(mapping).await? {
            Ok(scan) => scan,
            Err(problem) => return self.fail(problem).await,
        };
        if self.job.ignored_columns != plan.ignored_columns {
            let ignored = plan.ignored_columns.clone();
            self.save(|job| job.ignored_columns = ignored).await?;
        }
        tracing::info!(job = %self.job.id, rows = data_rows, "ticket import running");
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
        let (sender, receiver) = mpsc::channel::<Batch>(2);
        let producer = tokio::task::spawn_blocking(move || {
            produce(reader, start, bom_len, None, &LastRows::default(), sender)
        });
        let outcome = self
            .write_tickets(receiver, &plan, start, data_rows)
            .await?;
        let produced = producer
            .await
            .map_err(|e| HelpdeskError::Unavailable(format!("import parser: {e}")))?;
        let Some((position, mut report)) = outcome else {
            tracing::info!(job = %self.job.id, "ticket import paused at its deadline");
            return Ok(RunOutcome::Paused(self.job.clone()));
        };
        if let Err(problem) = produced {
            return self.fail(problem).await;
        }
        let position = self
            .checkpoint(position, &mut report.failures, true)
            .await?;
        self.finish(position, &plan.headers).await
    }

    /// Pass 1: the header and the number of rows; a file that is no CSV fails here.
    async fn scan_tickets(
        &self,
        mapping: std::collections::BTreeMap<
            String,
            Option<crate::domain::ticket_import::TicketColumn>,
        >,
    ) -> Result<Result<(TicketPlan, u64, u64), FileError>, HelpdeskError> {
        let reader = match self.ctx.sources.reader(&self.job.source_key, 0).await {
            Ok(reader) => reader,
            Err(ObjectError::NotFound(key)) => {
                return Ok(Err(format!("the file {key} does not exist")));
            }
            Err(ObjectError::Unavailable(message)) => {
                return Err(HelpdeskError::Unavailable(message));
            }
        };
        tokio::task::spawn_blocking(move || {
            let mut source = SkipBom::new(reader);
            let mut csv = csv_reader(BoundedFields::new(&mut source));
            let mut record = csv::StringRecord::new();
            let has_header = csv.read_record(&mut record).map_err(|e| read_error(&e))?;
            let headers: Vec<String> = record.iter().map(|h| h.trim().to_string()).collect();
            if !has_header || headers.iter().all(String::is_empty) {
                return Err("the file is empty".to_string());
            }
            let plan = TicketPlan::resolve(&headers, &mapping)?;
            let mut rows = 0u64;
            while csv.read_record(&mut record).map_err(|e| read_error(&e))? {
                rows += 1;
            }
            drop(csv);
            if rows == 0 {
                return Err("the file has a header row but no data rows".into());
            }
            let bom = if source.skipped { BOM.len() as u64 } else { 0 };
            Ok((plan, rows, bom))
        })
        .await
        .map_err(|e| HelpdeskError::Unavailable(format!("import scan: {e}")))
    }

    /// Pass 2: every row in file order, checkpointing as the customer import does. `None`
    /// when the deadline stopped it (after a checkpoint the next run goes on from).
    async fn write_tickets(
        &mut self,
        mut receiver: mpsc::Receiver<Batch>,
        plan: &TicketPlan,
        start: Checkpoint,
        total_rows: u64,
    ) -> Result<Option<(Checkpoint, PendingReport)>, HelpdeskError> {
        let importer = TicketImporter {
            tickets: self.ctx.tickets.clone(),
            customers: self.ctx.customers.clone(),
            job_id: self.job.id.clone(),
            run_as: self.job.run_as.caller(),
            dry_run: self.job.dry_run,
            create_missing_customers: self.job.options.create_missing_customers,
            would_create: Default::default(),
            authors: Default::default(),
        };
        let mut tally = Tally::new(start, total_rows);
        while let Some(batch) = receiver.recv().await {
            let mut counts = Counts::default();
            let mut failures = Vec::new();
            for (row, key, fields, outcome) in self.write_lanes(&importer, plan, batch.rows).await?
            {
                match outcome {
                    Ok(outcome) => counts.count(outcome),
                    Err(reason) => {
                        counts.rows += 1;
                        counts.failed += 1;
                        failures.push(Failure::of(row, key, reason, fields));
                    }
                }
            }
            if self.tally(&mut tally, &counts, failures, batch.end).await? {
                return Ok(None);
            }
        }
        Ok(Some((tally.position, tally.report)))
    }
}

/// One row read and written; a row the limits cut or that does not read fails alone.
async fn write_row(
    importer: &TicketImporter,
    plan: &TicketPlan,
    raw: RawRow,
) -> Result<Written, HelpdeskError> {
    let cells = plan.cells(&raw.fields);
    let key = cells
        .get(&TicketColumn::ExternalId)
        .map(|k| k.to_string())
        .unwrap_or_default();
    let outcome = match limits::cut_reason(&raw.fields) {
        Some(reason) => Err(reason),
        None => match read_row(&cells) {
            Ok(row) => importer.import(raw.row, row).await?,
            Err(reason) => Err(reason),
        },
    };
    Ok((raw.row, key, raw.fields, outcome))
}
