//! Import jobs: their options, counts, checkpoints and status.

use crate::domain::timestamp::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::access::CustomerAccess;
use crate::domain::caller::Caller;
use crate::domain::caller::Role;
use crate::domain::error::HelpdeskError;
use crate::domain::import_mapping::Target;
use crate::domain::patch::Command;

/// Uploads for jobs created through the API go here, as `imports/{id}.csv`.
pub const IMPORT_PREFIX: &str = "imports/";
pub const REPORT_PREFIX: &str = "import-reports/";
/// Ticket files dropped into the bucket go here (any name).
pub const TICKET_DROP_PREFIX: &str = "imports/tickets/";
/// How long a presigned upload URL stays valid.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    /// `{"Column header": "property"}`; wins over synonyms. `"ignore"` skips a column.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// Count what would happen, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Create companies named in rows that do not exist yet.
    #[serde(default)]
    pub create_missing_companies: bool,
    /// Properties every row must have; Email, First Name and Last Name by default.
    #[serde(default = "default_required")]
    pub required: Vec<String>,
    /// Queue a welcome email for every customer the import creates.
    #[serde(default)]
    pub send_welcome: bool,
    /// What the file holds: `customers` (the default) or `tickets`.
    #[serde(default)]
    pub kind: ImportKind,
    /// Tickets only: create a customer for a `customer_email` nobody has, instead of failing
    /// the row.
    #[serde(default)]
    pub create_missing_customers: bool,
}

/// What an import's file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    #[default]
    Customers,
    /// Tickets with their messages, for customers imported before.
    Tickets,
}

impl Command for ImportOptions {}

pub(crate) fn default_required() -> Vec<String> {
    vec!["email".into(), "first_name".into(), "last_name".into()]
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            mapping: BTreeMap::new(),
            dry_run: false,
            create_missing_companies: false,
            required: default_required(),
            send_welcome: false,
            kind: ImportKind::Customers,
            create_missing_customers: false,
        }
    }
}

impl ImportOptions {
    /// Checks the mapping's and `required`'s property names before any file arrives.
    pub fn validate(&self) -> Result<(), HelpdeskError> {
        self.parse().map(|_| ())
    }

    /// Resolves every property name of the mapping and of `required`, reporting all bad ones
    /// at once (a 422 when the job is created). The run uses what this answers, so nothing is
    /// read a second way or dropped later.
    pub fn parse(&self) -> Result<ParsedOptions, HelpdeskError> {
        if self.kind == ImportKind::Tickets {
            self.ticket_mapping()?;
            return Ok(ParsedOptions {
                mapping: BTreeMap::new(),
                required: Vec::new(),
            });
        }
        let mut errors = crate::domain::validation::Errors::default();
        if self.create_missing_customers {
            errors.add("create_missing_customers", "is for ticket imports");
        }
        let mut mapping = BTreeMap::new();
        for (column, property) in &self.mapping {
            match Target::parse(property) {
                Ok(target) => {
                    mapping.insert(column.clone(), target);
                }
                Err(message) => errors.add(format!("mapping.{column}"), message),
            }
        }
        let mut required = Vec::with_capacity(self.required.len());
        for (i, property) in self.required.iter().enumerate() {
            match Target::parse(property) {
                Ok(Some(target)) => required.push(target),
                Ok(None) => errors.add(format!("required[{i}]"), "is not a customer property"),
                Err(message) => errors.add(format!("required[{i}]"), message),
            }
        }
        if errors.is_empty() {
            Ok(ParsedOptions { mapping, required })
        } else {
            Err(HelpdeskError::Validation(errors.into_vec()))
        }
    }
}

impl ImportOptions {
    /// A ticket import's mapping with its column names resolved; options that only customer
    /// imports have are refused by name.
    pub fn ticket_mapping(
        &self,
    ) -> Result<BTreeMap<String, Option<crate::domain::ticket_import::TicketColumn>>, HelpdeskError>
    {
        let mut errors = crate::domain::validation::Errors::default();
        let mut mapping = BTreeMap::new();
        for (column, property) in &self.mapping {
            match crate::domain::ticket_import::TicketColumn::parse(property) {
                Ok(target) => {
                    mapping.insert(column.clone(), target);
                }
                Err(message) => errors.add(format!("mapping.{column}"), message),
            }
        }
        for (set, name) in [
            (self.send_welcome, "send_welcome"),
            (self.create_missing_companies, "create_missing_companies"),
        ] {
            if set {
                errors.add(
                    name,
                    "is for customer imports (a ticket import sends nothing)",
                );
            }
        }
        if errors.is_empty() {
            Ok(mapping)
        } else {
            Err(HelpdeskError::Validation(errors.into_vec()))
        }
    }
}

/// Import options with their property names resolved: a column's target (`None`: ignore the
/// column) and the targets every row must have.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedOptions {
    pub mapping: BTreeMap<String, Option<Target>>,
    pub required: Vec<Target>,
}

impl ParsedOptions {
    /// Every custom field the mapping or `required` names must exist for the import's author:
    /// otherwise every row would fail on it. A field they may not view is, for them, an
    /// undefined one (the message is the same, so it tells nothing about hidden fields).
    pub fn check_custom_fields(&self, access: &CustomerAccess) -> Result<(), HelpdeskError> {
        let mut errors = crate::domain::validation::Errors::default();
        let undefined = |target: &Target| match target {
            Target::Custom(key) if access.visible_fields().get(key).is_none() => Some(key.clone()),
            _ => None,
        };
        for (column, target) in &self.mapping {
            if let Some(key) = target.as_ref().and_then(undefined) {
                errors.add(format!("mapping.{column}"), no_such_field(&key));
            }
        }
        for (i, target) in self.required.iter().enumerate() {
            if let Some(key) = undefined(target) {
                errors.add(format!("required[{i}]"), no_such_field(&key));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(HelpdeskError::Validation(errors.into_vec()))
        }
    }
}

fn no_such_field(key: &str) -> String {
    format!("there is no custom field '{key}': define it first, or map the column elsewhere")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

pub use crate::domain::customer::RowOutcome;

/// `rows` counts data rows (not the header); at the end it equals the sum of the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Counts {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub duplicates: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.rows += other.rows;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.duplicates += other.duplicates;
    }
    pub fn count(&mut self, outcome: RowOutcome) {
        self.rows += 1;
        match outcome {
            RowOutcome::Created => self.created += 1,
            RowOutcome::Updated => self.updated += 1,
            RowOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// The permissions the import writes with: its creator's, or an admin's for dropped files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    pub subject: String,
    pub roles: Vec<Role>,
    pub manage_companies: bool,
}

impl RunAs {
    pub fn system() -> Self {
        Self {
            subject: "import".into(),
            roles: vec![Role::Admin],
            manage_companies: true,
        }
    }
    pub fn caller(&self) -> Caller {
        Caller::new(
            self.subject.clone(),
            self.roles.iter().copied(),
            self.manage_companies,
        )
    }
}

/// Where a paused import goes on: the first unread row, and the report parts written so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Byte offset of the first row not yet counted.
    pub offset: u64,
    /// Its row number (the header is row 1).
    pub row: u64,
    pub report_parts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: String,
    pub status: ImportStatus,
    pub dry_run: bool,
    pub options: ImportOptions,
    pub counts: Counts,
    pub ignored_columns: Vec<String>,
    pub error_report: Option<String>,
    /// Why the whole file failed.
    pub error: Option<String>,
    /// The object the job reads.
    pub source_key: String,
    /// The version (ETag) of the object being imported, once a file arrived.
    pub source_etag: Option<String>,
    pub run_as: RunAs,
    pub checkpoint: Option<Checkpoint>,
    /// A running import holds the job until then; a crashed one is taken over after it.
    pub lease_until: Option<Timestamp>,
    /// Who holds the lease: the Lambda request id of the run. Lambda retries an event with the
    /// same request id, so its retry takes over a lease the failed try could not give back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl ImportJob {
    pub fn new(id: String, source_key: String, options: ImportOptions, run_as: RunAs) -> Self {
        let now = crate::domain::clock::now();
        Self {
            id,
            status: ImportStatus::Pending,
            dry_run: options.dry_run,
            options,
            counts: Counts::default(),
            ignored_columns: Vec::new(),
            error_report: None,
            error: None,
            source_key,
            source_etag: None,
            run_as,
            checkpoint: None,
            lease_until: None,
            lease_owner: None,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.status, ImportStatus::Succeeded | ImportStatus::Failed)
    }

    /// Only the job's creator, or an admin, may give it its file: the rows run with the
    /// creator's permissions, so anyone else could write with rights they do not hold.
    pub fn may_upload(&self, caller: &Caller) -> bool {
        caller.is_admin() || caller.subject == self.run_as.subject
    }
}

/// The largest file an import accepts (checked before anything is read, and by the local
/// upload route as the bytes arrive).
pub const MAX_IMPORT_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The key a job's upload goes to.
pub fn upload_key(job_id: &str) -> String {
    format!("{IMPORT_PREFIX}{job_id}.csv")
}

pub fn report_key(job_id: &str) -> String {
    format!("{REPORT_PREFIX}{job_id}.errors.csv")
}
