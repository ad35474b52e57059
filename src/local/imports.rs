//! Imports in local mode: one file from anywhere (`helpdesk import`), or the files dropped
//! into `DATA_DIR/imports/`.

use std::path::Path;
use std::sync::Arc;

use helpdesk_shared::app::Local;

use super::DataDir;

/// Drop CSV files here (`DATA_DIR/imports/`) and `helpdesk serve` imports them.
pub const IMPORTS_DIR: &str = "imports";

impl DataDir {
    /// Objects of the data dir (imports, reports), keyed by path relative to it.
    pub fn objects(&self) -> helpdesk_shared::objects::FolderStore {
        helpdesk_shared::objects::FolderStore::new(self.root.clone())
    }

    /// Imports one file from anywhere on disk, as `helpdesk import FILE` does.
    pub async fn import_file(
        &self,
        app: &Local,
        file: &Path,
        options: helpdesk_shared::domain::import_job::ImportOptions,
        progress: Option<helpdesk_shared::services::imports::ProgressFn>,
    ) -> Result<helpdesk_shared::domain::import_job::ImportJob, String> {
        use helpdesk_shared::domain::import_job::{ImportJob, RunAs};
        use helpdesk_shared::services::imports::{RunOptions, run_import};
        options.validate().map_err(|e| {
            e.field_errors()
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let file = file
            .canonicalize()
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let (Some(folder), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str()))
        else {
            return Err(format!("{} is not a file name", file.display()));
        };
        let job = ImportJob::new(
            helpdesk_shared::domain::clock::new_id(),
            name.to_string(),
            options,
            RunAs::system(),
        );
        let context = app.import_run(Arc::new(helpdesk_shared::objects::FolderStore::new(folder)));
        context
            .jobs
            .insert_job(&job)
            .await
            .map_err(|e| e.to_string())?;
        let run = RunOptions {
            progress,
            ..RunOptions::default()
        };
        run_import(&context, &job.id, run)
            .await
            .map(|outcome| outcome.job().clone())
            .map_err(|e| e.to_string())
    }

    /// Imports the CSV files dropped into `DATA_DIR/imports/` (customers) and
    /// `DATA_DIR/imports/tickets/` (tickets) that have no finished job yet. A file's version is
    /// its size and modification time, so a file replaced later is imported again and an
    /// unchanged one never twice.
    pub async fn import_dropped_files(
        &self,
        app: &Local,
    ) -> Result<Vec<helpdesk_shared::domain::import_job::ImportJob>, String> {
        use helpdesk_shared::services::imports::{RunOptions, run_import};
        let context = app.import_run(app.folder().clone());
        let mut finished = Vec::new();
        for folder in [IMPORTS_DIR.to_string(), format!("{IMPORTS_DIR}/tickets")] {
            for (key, version) in dropped_csv_files(&self.root, &folder)? {
                let job = context
                    .job_for_object(&key, &version)
                    .await
                    .map_err(|e| e.to_string())?;
                if job.is_finished() {
                    continue;
                }
                let outcome = run_import(&context, &job.id, RunOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                finished.push(outcome.job().clone());
            }
        }
        Ok(finished)
    }
}

/// The CSV files directly in `root/folder`, each as its key and version (size and
/// modification time).
fn dropped_csv_files(root: &Path, folder: &str) -> Result<Vec<(String, String)>, String> {
    let path = root.join(folder);
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || !name.to_ascii_lowercase().ends_with(".csv") {
            continue;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        files.push((
            format!("{folder}/{name}"),
            format!("{}-{modified}", meta.len()),
        ));
    }
    Ok(files)
}
