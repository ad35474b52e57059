//! A customer export requested through the API: which customers, and where the file is once
//! written. The CSV itself is [`super::customer_csv`]'s.

use serde::{Deserialize, Serialize};

use super::customer::Customer;
use super::timestamp::Timestamp;

/// Which customers an export holds; every one by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportFilter {
    /// Only this company's customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    /// `true`: the blocked customers only; `false`: the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
    /// Changed at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub updated_since: Option<Timestamp>,
}

impl ExportFilter {
    pub fn admits(&self, customer: &Customer) -> bool {
        self.blocked
            .is_none_or(|blocked| blocked == customer.blocked.is_some())
            && self
                .updated_since
                .as_ref()
                .is_none_or(|since| customer.updated_at >= *since)
            // Someone being erased is no longer handed out.
            && customer.erasure_under_way().is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Requested or being written: the job runner writes it.
    Running,
    Succeeded,
    Failed,
}

/// One export: requested by an admin, written by the job runner (the jobs function in the
/// cloud, the watcher locally) into the export folder of the mail bucket, which keeps it a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    pub id: String,
    pub status: ExportStatus,
    pub filter: ExportFilter,
    /// A UTF-8 byte-order mark first, for spreadsheet apps.
    pub bom: bool,
    /// Customers written.
    pub customers: u64,
    /// Where the file is (`exports/customers-<id>.csv`).
    pub file_key: String,
    /// The subject of the admin who asked for it.
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    pub version: u64,
}

impl ExportJob {
    pub fn start(filter: ExportFilter, bom: bool, requested_by: &str) -> Self {
        let id = super::clock::new_id();
        let now = super::clock::now();
        Self {
            file_key: format!("{}{id}.csv", super::customer_csv::EXPORT_FILES_PREFIX),
            id,
            status: ExportStatus::Running,
            filter,
            bom,
            customers: 0,
            requested_by: requested_by.to_string(),
            error: None,
            created_at: now.clone(),
            updated_at: now,
            finished_at: None,
            version: 1,
        }
    }

    /// The next version, finished as `status` with `customers` written (or `error`).
    pub fn finished(&self, status: ExportStatus, customers: u64, error: Option<String>) -> Self {
        let now = super::clock::now();
        Self {
            status,
            customers,
            error,
            updated_at: now.clone(),
            finished_at: Some(now),
            version: self.version + 1,
            ..self.clone()
        }
    }
}

impl super::versioned::Job for ExportJob {
    const KIND: &'static str = "export";
    fn job_id(&self) -> &str {
        &self.id
    }
    fn job_version(&self) -> u64 {
        self.version
    }
    fn is_running(&self) -> bool {
        self.status == ExportStatus::Running
    }
}

/// `2026-12-01` (midnight UTC) or an RFC 3339 time such as `2026-12-01T09:30:00+01:00`.
pub fn parse_since(text: &str) -> Result<Timestamp, String> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let at = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(text, &format).map(|d| d.midnight().assume_utc())
        })
        .map_err(|_| format!("'{text}' is not a date (2026-12-01) or an RFC 3339 time"))?;
    let millis = i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("'{text}' is out of range"))?;
    Ok(Timestamp::from_unix_millis(millis))
}
