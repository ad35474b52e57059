//! `helpdesk export`: the customers as CSV, to a file or to standard output.

use std::io::Write;
use std::path::Path;

use helpdesk_shared::app::Local;
use helpdesk_shared::domain::caller::{Caller, Role};
use helpdesk_shared::domain::timestamp::Timestamp;
use helpdesk_shared::services::exports::ExportFilter;

use super::DataDir;

impl DataDir {
    /// Writes the customers `filter` selects to `output` (standard output when `None`) and
    /// answers how many. A file is written aside and renamed when complete, owner-only (it
    /// holds personal data), so an interrupted export never leaves half a file under its name.
    pub async fn export_customers(
        &self,
        app: &Local,
        filter: &ExportFilter,
        bom: bool,
        output: Option<&Path>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, String> {
        let admin = Caller::new("local-admin", [Role::Admin], true);
        let exports = app.exports();
        let Some(path) = output else {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let count = exports
                .write_csv(&admin, filter, bom, &mut out, progress)
                .await
                .map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            return Ok(count);
        };
        let partial = path.with_extension("partial");
        let failed = |e: std::io::Error| format!("{}: {e}", partial.display());
        let file = private_file(&partial).map_err(failed)?;
        let mut out = std::io::BufWriter::new(file);
        let count = match exports
            .write_csv(&admin, filter, bom, &mut out, progress)
            .await
        {
            Ok(count) => count,
            Err(error) => {
                drop(out);
                let _ = std::fs::remove_file(&partial);
                return Err(error.to_string());
            }
        };
        let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(count)
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
        .map_err(|_| {
            format!("--updated-since '{text}': not a date (2026-12-01) or an RFC 3339 time")
        })?;
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    Ok(Timestamp::from_unix_millis(i64::try_from(millis).map_err(
        |_| format!("--updated-since '{text}' is out of range"),
    )?))
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
