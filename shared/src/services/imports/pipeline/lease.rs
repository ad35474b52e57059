//! The job record during a run: the lease that makes one run at a time, checkpoints, and the end.

use super::*;
use crate::domain::versioned::Versioned;

/// Takes the job for this run unless another run holds an unexpired lease.
/// A lease held by `owner` itself (a retry of the same Lambda event) is taken over at once.
pub(super) async fn claim(
    ctx: &ImportContext,
    job: ImportJob,
    lease: Duration,
    owner: Option<&str>,
) -> Result<Option<ImportJob>, HelpdeskError> {
    let now = crate::domain::clock::now();
    let held = job
        .lease_until
        .as_ref()
        .is_some_and(|until| until.as_str() > now.as_str());
    let own = owner.is_some() && job.lease_owner.as_deref() == owner;
    if held && !own {
        return Ok(None);
    }
    let mut next = job.bumped();
    next.status = ImportStatus::Running;
    next.lease_until = Some(crate::domain::clock::timestamp_after(lease));
    next.lease_owner = owner.map(str::to_string);
    match ctx.jobs.replace_job(&job, &next).await {
        Ok(()) => Ok(Some(next)),
        Err(StoreError::VersionMismatch) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

impl Run<'_> {
    pub(super) async fn save(
        &mut self,
        change: impl FnOnce(&mut ImportJob),
    ) -> Result<(), HelpdeskError> {
        let mut next = self.job.bumped();
        change(&mut next);
        self.ctx.jobs.replace_job(&self.job, &next).await?;
        self.job = next;
        Ok(())
    }

    pub(super) async fn release(&mut self) {
        let released = self
            .save(|job| {
                job.lease_until = None;
                job.lease_owner = None;
            })
            .await;
        if let Err(error) = released {
            tracing::warn!(job = %self.job.id, %error, "could not release the import lease");
        }
    }

    pub(super) async fn fail(&mut self, error: FileError) -> Result<RunOutcome, HelpdeskError> {
        tracing::info!(job = %self.job.id, %error, "import failed");
        self.save(|job| {
            job.status = ImportStatus::Failed;
            job.error = Some(error);
            job.lease_until = None;
        })
        .await?;
        Ok(RunOutcome::Finished(self.job.clone()))
    }

    /// Saves counts and position; failed rows since the last checkpoint become a report part.
    /// With `hold`, the lease is renewed; without, it is released (the run stops here).
    pub(super) async fn checkpoint(
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
}
