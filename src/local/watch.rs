//! The folder watcher of `helpdesk serve`.

use std::sync::Arc;
use std::time::Duration;

use helpdesk_shared::app::Local;
use helpdesk_shared::services::due::DueOutcome;

use super::DataDir;

/// Pieces of each kind of due work taken per round.
const DUE_PER_ROUND: usize = 100;

/// No deadline locally: a job runs to its end in one go (a budget it never reaches).
const JOB_BUDGET: Duration = Duration::from_secs(24 * 3600);

/// Does the work that is due (welcome emails and queued replies to `DATA_DIR/outbox/`,
/// erasures, merges and migrations), imports files dropped into `DATA_DIR/imports/` (or
/// uploaded), ingests mail dropped into `DATA_DIR/inbox/` and expires old exports, every two
/// seconds and whenever `uploaded` is notified. Runs until the process ends.
pub async fn watch_folders(data: DataDir, app: Local, uploaded: Arc<tokio::sync::Notify>) {
    loop {
        if let Err(error) = run_due_work(&app).await {
            tracing::warn!(%error, "due work: will retry");
        }
        match app.forget_expired_merges().await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "merges past their undo window deleted"),
            Err(error) => tracing::warn!(%error, "expired merges: will retry"),
        }
        match data.expire_exports() {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "old exports deleted"),
            Err(error) => tracing::warn!(%error, "exports: will retry"),
        }
        match data.ingest_dropped_mail(&app).await {
            Ok(records) => {
                for record in records {
                    tracing::info!(inbound = %record.id, status = record.status.as_str(), ticket = record.ticket_id.as_deref().unwrap_or_default(), reason = record.reason.as_deref().unwrap_or_default(), "mail from the inbox");
                }
            }
            Err(error) => tracing::warn!(%error, "inbox scan failed; retrying"),
        }
        match data.import_dropped_files(&app).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::info!(job = %job.id, file = %job.source_key, status = ?job.status, counts = ?job.counts, "import done");
                }
            }
            Err(error) => tracing::warn!(%error, "import of dropped files failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = uploaded.notified() => {}
        }
    }
}

/// Asks the store what is due and does it, as the cloud's stream-driven functions do with the
/// stream's records. A failed piece stays due and is tried again next round.
async fn run_due_work(app: &Local) -> Result<(), String> {
    let due = app
        .due
        .due_work(DUE_PER_ROUND)
        .await
        .map_err(|e| e.to_string())?;
    for work in due {
        match app.runner.run(&work, JOB_BUDGET).await {
            Ok(outcome @ DueOutcome::Job(_)) => {
                tracing::info!(?work, finished = outcome.finished_job(), "job run");
            }
            Ok(DueOutcome::Mail(_)) => {}
            Err(error) => tracing::warn!(%error, ?work, "due work: will retry"),
        }
    }
    Ok(())
}
