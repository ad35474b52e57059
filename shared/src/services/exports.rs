//! The customer export: every customer a filter selects, as CSV the importer reads back
//! unchanged ([`crate::domain::customer_csv`]). Written page by page to any `Write`, so memory
//! stays flat however many customers there are. Admins only: it holds every field.

use std::io::Write;
use std::sync::Arc;

use crate::domain::caller::Caller;
use crate::domain::customer::Customer;
use crate::domain::customer_csv;
use crate::domain::error::HelpdeskError;
use crate::domain::timestamp::Timestamp;
use crate::ports::store::{CustomerQuery, CustomerStore};
use crate::services::fields::FieldService;

/// Customers read per store call.
const PAGE: usize = 500;

/// Which customers an export holds; every one by default.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub company_id: Option<String>,
    /// `Some(true)`: the blocked ones only; `Some(false)`: the others.
    pub blocked: Option<bool>,
    /// Changed at or after this time.
    pub updated_since: Option<Timestamp>,
}

impl ExportFilter {
    fn admits(&self, customer: &Customer) -> bool {
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

#[derive(Clone)]
pub struct ExportService {
    customers: Arc<dyn CustomerStore>,
    fields: FieldService,
}

impl ExportService {
    pub fn new(customers: Arc<dyn CustomerStore>, fields: FieldService) -> Self {
        Self { customers, fields }
    }

    /// Writes the CSV (a UTF-8 byte-order mark first when `bom`, for spreadsheet apps) and
    /// answers how many customers it holds; `progress` hears the count after each page.
    pub async fn write_csv(
        &self,
        caller: &Caller,
        filter: &ExportFilter,
        bom: bool,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, HelpdeskError> {
        caller.require_admin()?;
        let fields = self.fields.field_set().await?;
        let failed = |e: std::io::Error| HelpdeskError::Unavailable(format!("export: {e}"));
        if bom {
            out.write_all("\u{feff}".as_bytes()).map_err(failed)?;
        }
        // RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break.
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        let written = |e: csv::Error| HelpdeskError::Unavailable(format!("export: {e}"));
        csv.write_record(customer_csv::header(&fields))
            .map_err(written)?;
        let mut query = CustomerQuery {
            company_id: filter.company_id.clone(),
            blocked: filter.blocked == Some(true),
            limit: PAGE,
            ..CustomerQuery::default()
        };
        let mut count = 0;
        loop {
            let page = self.customers.list_customers(&query).await?;
            for customer in page.items.iter().filter(|c| filter.admits(c)) {
                csv.write_record(customer_csv::row(customer, &fields))
                    .map_err(written)?;
                count += 1;
            }
            progress(count);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        csv.flush().map_err(failed)?;
        Ok(count)
    }
}
