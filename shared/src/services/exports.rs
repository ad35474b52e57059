//! The customer export: every customer a filter selects, as CSV the importer reads back
//! unchanged ([`crate::domain::customer_csv`]). Written page by page to any `Write`, so memory
//! stays flat however many customers there are. Admins only: it holds every field.
//!
//! Through the API it is a job ([`ExportJob`]): `start` records it, the job runner (the jobs
//! function, woken by the record on the table's stream; the watcher locally) writes the file
//! into the mail bucket's `exports/` (kept a day), and `get` answers a download link once done.

use std::io::Write;
use std::sync::Arc;

use crate::domain::caller::{Caller, Role};
use crate::domain::customer_csv;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::export_job::{ExportJob, ExportStatus};
use crate::ports::objects::{ObjectStore, SaveAs};
use crate::ports::store::{CustomerQuery, CustomerStore, ExportJobStore};
use crate::services::fields::FieldService;

/// How long a download link of a finished export works.
pub const EXPORT_LINK_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Customers read per store call.
const PAGE: usize = 500;

pub use crate::domain::export_job::ExportFilter;

#[derive(Clone)]
pub struct ExportService {
    customers: Arc<dyn CustomerStore>,
    fields: FieldService,
    jobs: Arc<dyn ExportJobStore>,
    /// The mail bucket, whose `exports/` keeps the files a day.
    files: Arc<dyn ObjectStore>,
}

impl ExportService {
    pub fn new(
        customers: Arc<dyn CustomerStore>,
        fields: FieldService,
        jobs: Arc<dyn ExportJobStore>,
        files: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            customers,
            fields,
            jobs,
            files,
        }
    }

    /// Records an export for the job runner (admins).
    pub async fn start(
        &self,
        caller: &Caller,
        filter: crate::domain::export_job::ExportFilter,
        bom: bool,
    ) -> Result<ExportJob, HelpdeskError> {
        caller.require_admin()?;
        let job = ExportJob::start(filter, bom, &caller.subject);
        self.jobs.insert_job(&job).await?;
        Ok(job)
    }

    /// An export and, once written, a link to its file valid [`EXPORT_LINK_LIFETIME`].
    pub async fn get(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(ExportJob, Option<String>), HelpdeskError> {
        caller.require_admin()?;
        let job = self
            .jobs
            .get_job(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("export {id}")))?;
        if job.status != ExportStatus::Succeeded {
            return Ok((job, None));
        }
        let save_as = SaveAs {
            filename: format!("customers-{}.csv", job.created_at.compact()),
            content_type: "text/csv; charset=utf-8".into(),
        };
        let url = self
            .files
            .presign_get(&job.file_key, EXPORT_LINK_LIFETIME, &save_as)
            .await
            .map_err(|e| HelpdeskError::Unavailable(e.to_string()))?;
        Ok((job, Some(url)))
    }

    /// Writes a running export's file and records the outcome; an export that is not running
    /// (finished, or unknown) is answered as it is. An error means the store or the bucket was
    /// unavailable: the runner tries again, and the file is written anew.
    pub async fn run(&self, id: &str) -> Result<Option<ExportJob>, HelpdeskError> {
        let Some(job) = self.jobs.get_job(id).await? else {
            return Ok(None);
        };
        if job.status != ExportStatus::Running {
            return Ok(Some(job));
        }
        // The admin who asked was checked then; the run writes on their behalf.
        let admin = Caller::new(&job.requested_by, [Role::Admin], true);
        let written = self.write_file(&admin, &job).await;
        let next = match written {
            Ok(count) => job.finished(ExportStatus::Succeeded, count, None),
            Err(HelpdeskError::Unavailable(why)) => return Err(HelpdeskError::Unavailable(why)),
            Err(other) => job.finished(ExportStatus::Failed, 0, Some(other.to_string())),
        };
        match self.jobs.replace_job(&job, &next).await {
            Ok(()) => Ok(Some(next)),
            // Another run finished it meanwhile.
            Err(StoreError::VersionMismatch) => Ok(self.jobs.get_job(id).await?),
            Err(other) => Err(other.into()),
        }
    }

    /// The CSV straight into the bucket, page by page (a multipart upload in S3): memory
    /// holds a page of customers and a part of the file.
    async fn write_file(&self, admin: &Caller, job: &ExportJob) -> Result<u64, HelpdeskError> {
        let unavailable = |e: crate::ports::objects::ObjectError| {
            HelpdeskError::Unavailable(format!("export file: {e}"))
        };
        let mut sink = ObjectSink(
            self.files
                .writer(&job.file_key, "text/csv; charset=utf-8")
                .await
                .map_err(unavailable)?,
        );
        match self
            .write_pages(admin, &job.filter, job.bom, &mut sink, &mut |_| {})
            .await
        {
            Ok(count) => {
                sink.0.finish().await.map_err(unavailable)?;
                Ok(count)
            }
            Err(error) => {
                sink.0.abort().await;
                Err(error)
            }
        }
    }

    /// Writes the CSV (a UTF-8 byte-order mark first when `bom`, for spreadsheet apps) and
    /// answers how many customers it holds; `progress` hears the count after each page.
    pub async fn write_csv(
        &self,
        caller: &Caller,
        filter: &ExportFilter,
        bom: bool,
        out: &mut (dyn Write + Send),
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, HelpdeskError> {
        let count = self
            .write_pages(caller, filter, bom, &mut WriteSink(out), progress)
            .await?;
        out.flush()
            .map_err(|e| HelpdeskError::Unavailable(format!("export: {e}")))?;
        Ok(count)
    }

    /// The CSV, a page of customers at a time, into `sink`.
    async fn write_pages(
        &self,
        caller: &Caller,
        filter: &ExportFilter,
        bom: bool,
        sink: &mut dyn PageSink,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, HelpdeskError> {
        caller.require_admin()?;
        let fields = self.fields.field_set().await?;
        let mut head = if bom {
            "\u{feff}".as_bytes().to_vec()
        } else {
            Vec::new()
        };
        head.extend(csv_lines([customer_csv::header(&fields)])?);
        sink.put(&head).await?;
        let mut query = CustomerQuery {
            company_id: filter.company_id.clone(),
            blocked: filter.blocked == Some(true),
            limit: PAGE,
            ..CustomerQuery::default()
        };
        // A file needs no order: without a company or the blocked listing to narrow it, every
        // customer is walked in the store's cheapest order (creation order in SQLite, shard
        // after shard in DynamoDB), not merged into email order page by page.
        let walk = query.company_id.is_none() && !query.blocked;
        let mut count = 0;
        loop {
            let page = match walk {
                true => {
                    let cursor = query.after.as_deref();
                    self.customers.walk_customers(cursor, PAGE).await?
                }
                false => self.customers.list_customers(&query).await?,
            };
            let rows: Vec<Vec<String>> = page
                .items
                .iter()
                .filter(|c| filter.admits(c))
                .map(|c| customer_csv::row(c, &fields))
                .collect();
            count += rows.len() as u64;
            sink.put(&csv_lines(rows)?).await?;
            progress(count);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        Ok(count)
    }
}

/// Records as RFC 4180 lines: CRLF line ends, fields quoted when they hold a comma, a quote or
/// a line break.
fn csv_lines(records: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, HelpdeskError> {
    let failed = |e: String| HelpdeskError::Unavailable(format!("export: {e}"));
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for record in records {
        csv.write_record(&record)
            .map_err(|e| failed(e.to_string()))?;
    }
    csv.into_inner().map_err(|e| failed(e.to_string()))
}

/// Where the pages go: a file or standard output (the command), or an object (the job).
#[async_trait::async_trait]
trait PageSink: Send {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), HelpdeskError>;
}

struct WriteSink<'a>(&'a mut (dyn Write + Send));

#[async_trait::async_trait]
impl PageSink for WriteSink<'_> {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), HelpdeskError> {
        self.0
            .write_all(bytes)
            .map_err(|e| HelpdeskError::Unavailable(format!("export: {e}")))
    }
}

struct ObjectSink(Box<dyn crate::ports::objects::ObjectWriter>);

#[async_trait::async_trait]
impl PageSink for ObjectSink {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), HelpdeskError> {
        self.0
            .write(bytes)
            .await
            .map_err(|e| HelpdeskError::Unavailable(format!("export file: {e}")))
    }
}
