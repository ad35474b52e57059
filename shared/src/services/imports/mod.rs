//! Bulk CSV import: a file streams in row by row, each row is mapped, validated and upserted by
//! email. The same pipeline runs in the csv-import Lambda (S3) and in the local program (files).

pub mod pipeline;
mod rows;
mod tickets;

use crate::domain::ids::JobId;
use std::sync::Arc;

pub use pipeline::{Progress, ProgressFn, RunOptions, RunOutcome, run_import};

use crate::domain::access::CustomerAccess;
use crate::domain::caller::Caller;
use crate::domain::error::HelpdeskError;
use crate::domain::error::StoreError;
use crate::domain::import_job::*;
use crate::domain::versioned::Versioned;
use crate::ports::objects::ObjectStore;
use crate::ports::store::{FieldStore, ImportJobStore};
use crate::services::customers::CustomerService;
use crate::services::fields::FieldService;

/// A new import job and where to upload its file.
#[derive(Debug)]
pub struct CreatedImport {
    pub job: ImportJob,
    pub upload_url: Option<String>,
}

/// Import jobs as the API sees them: created with their options, read, and uploaded to.
#[derive(Clone)]
pub struct ImportService {
    jobs: Arc<dyn ImportJobStore>,
    /// The custom fields a mapping may name.
    fields: FieldService,
    /// Where import files are uploaded: the import bucket, or the data dir.
    uploads: Arc<dyn ObjectStore>,
}

impl ImportService {
    pub fn new(
        jobs: Arc<dyn ImportJobStore>,
        fields: Arc<dyn FieldStore>,
        uploads: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            jobs,
            fields: FieldService::new(fields),
            uploads,
        }
    }

    /// A pending import job and a presigned URL for its file, `imports/{id}.csv`.
    pub async fn create_import(
        &self,
        caller: &Caller,
        options: ImportOptions,
    ) -> Result<CreatedImport, HelpdeskError> {
        caller.require_staff()?;
        let access = CustomerAccess::new(caller, &self.fields.field_set().await?);
        options.parse()?.check_custom_fields(&access)?;
        if options.create_missing_companies {
            caller.require_manage_companies(Some("create_missing_companies"))?;
        }
        let run_as = RunAs {
            subject: caller.subject.clone(),
            roles: caller.roles.iter().copied().collect(),
            manage_companies: caller.can_manage_companies(),
        };
        let id = crate::domain::clock::new_id();
        let job = ImportJob::new(id.clone(), upload_key(&id), options, run_as);
        self.jobs.insert_job(&job).await?;
        let upload_url = self
            .uploads
            .presign_put(&job.source_key, UPLOAD_URL_LIFETIME)
            .await
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        Ok(CreatedImport { job, upload_url })
    }

    /// An import job and where it stands.
    pub async fn get_import(
        &self,
        caller: &Caller,
        id: &JobId,
    ) -> Result<ImportJob, HelpdeskError> {
        caller.require_staff()?;
        self.jobs
            .get_job(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("import {id}")))
    }

    /// The job a caller is about to upload a file for (local mode's upload route). Anyone but
    /// its creator or an admin gets the 404 of an unknown id; a job that has its file, a 409.
    pub async fn import_awaiting_upload(
        &self,
        caller: &Caller,
        id: &JobId,
    ) -> Result<ImportJob, HelpdeskError> {
        let job = self.get_import(caller, id).await?;
        if !job.may_upload(caller) {
            return Err(HelpdeskError::NotFound(format!("import {id}")));
        }
        if job.source_etag.is_some() || job.status != ImportStatus::Pending {
            return Err(HelpdeskError::conflict(
                "file",
                "this import already has its file; create a new import",
            ));
        }
        Ok(job)
    }
}

/// Everything an import run needs: the job store, the customer operations it batches, where
/// files come from and where reports go.
#[derive(Clone)]
pub struct ImportContext {
    pub jobs: Arc<dyn ImportJobStore>,
    pub customers: CustomerService,
    /// Where a ticket import writes.
    pub tickets: Arc<dyn crate::ports::store::TicketStore>,
    pub sources: Arc<dyn ObjectStore>,
    pub reports: Arc<dyn ObjectStore>,
}

impl ImportContext {
    pub fn new(
        jobs: Arc<dyn ImportJobStore>,
        customers: CustomerService,
        tickets: Arc<dyn crate::ports::store::TicketStore>,
        sources: Arc<dyn ObjectStore>,
        reports: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            jobs,
            customers,
            tickets,
            sources,
            reports,
        }
    }

    /// A file arrived at `key` (with version `etag`): the job that imports it, created with the
    /// default options when the file came without one. The same object announced again maps to
    /// the same job, so a redelivered event never imports twice.
    pub async fn job_for_object(&self, key: &str, etag: &str) -> Result<ImportJob, HelpdeskError> {
        if let Some(id) = key
            .strip_prefix(IMPORT_PREFIX)
            .and_then(|rest| rest.strip_suffix(".csv"))
            && let Some(job) = self.jobs.get_job(id).await?
        {
            return self.attach_source(job, etag).await;
        }
        let id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("{key}\n{etag}").as_bytes(),
        )
        .to_string();
        // Files dropped under `imports/tickets/` hold tickets; the rest customers.
        let options = ImportOptions {
            kind: match key.starts_with(TICKET_DROP_PREFIX) {
                true => ImportKind::Tickets,
                false => ImportKind::Customers,
            },
            ..ImportOptions::default()
        };
        let job = ImportJob::new(id.clone(), key.to_string(), options, RunAs::system());
        match self.jobs.insert_job(&job).await {
            Ok(()) => self.attach_source(job, etag).await,
            Err(StoreError::Exists(_)) => self
                .jobs
                .get_job(&id)
                .await?
                .ok_or_else(|| HelpdeskError::NotFound(format!("import {id}"))),
            Err(other) => Err(other.into()),
        }
    }

    /// Records which version of the object a pending job imports; a job that already has one
    /// keeps it (a later upload over the same key does not restart a finished import).
    async fn attach_source(&self, job: ImportJob, etag: &str) -> Result<ImportJob, HelpdeskError> {
        if job.source_etag.is_some() {
            return Ok(job);
        }
        let mut next = job.bumped();
        next.source_etag = Some(etag.to_string());
        match self.jobs.replace_job(&job, &next).await {
            Ok(()) => Ok(next),
            // Another delivery attached it first: use what it stored.
            Err(StoreError::VersionMismatch) => self
                .jobs
                .get_job(&job.id)
                .await?
                .ok_or_else(|| HelpdeskError::NotFound(format!("import {}", job.id))),
            Err(other) => Err(other.into()),
        }
    }
}
