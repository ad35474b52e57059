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
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, String> {
        let admin = Caller::new("local-admin", [Role::Admin], true);
        let exports = app.exports();
        let Some(path) = output else {
            let mut out = std::io::BufWriter::new(std::io::stdout());
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

/// `--updated-since`: a date or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<Timestamp, String> {
    helpdesk_shared::domain::export_job::parse_since(text)
        .map_err(|e| format!("--updated-since {e}"))
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
