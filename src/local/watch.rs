//! The folder watcher of `helpdesk serve`.

use std::sync::Arc;

use helpdesk_shared::services::Helpdesk;
use helpdesk_shared::store::sqlite::SqliteStore;

use super::{
    DataDir, run_running_erasures, run_running_merges, run_running_migrations, send_due_welcomes,
    send_queued_replies,
};

/// Imports files dropped into `DATA_DIR/imports/` (or uploaded), ingests mail dropped into
/// `DATA_DIR/inbox/`, writes due welcome emails and queued replies to `DATA_DIR/outbox/` and
/// runs requested erasures, merges and migrations, checking every two seconds and whenever
/// `uploaded` is notified. Runs until the process ends.
pub async fn watch_folders(
    data: DataDir,
    helpdesk: Helpdesk,
    store: Arc<SqliteStore>,
    uploaded: Arc<tokio::sync::Notify>,
) {
    let notifier = data.notifier(&helpdesk);
    let replies = helpdesk.reply_sender(data.outbox());
    loop {
        if let Err(error) = send_due_welcomes(&store, &notifier).await {
            tracing::warn!(%error, "welcome emails: will retry");
        }
        if let Err(error) = send_queued_replies(&store, &replies).await {
            tracing::warn!(%error, "replies: will retry");
        }
        if let Err(error) = run_running_erasures(&store, &helpdesk.privacy).await {
            tracing::warn!(%error, "erasures: will retry");
        }
        if let Err(error) = run_running_merges(&store, &helpdesk.merges).await {
            tracing::warn!(%error, "merges: will retry");
        }
        if let Err(error) = run_running_migrations(&store, &helpdesk.migrations).await {
            tracing::warn!(%error, "migrations: will retry");
        }
        match data.expire_exports() {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "old exports deleted"),
            Err(error) => tracing::warn!(%error, "exports: will retry"),
        }
        match data.ingest_dropped_mail(&helpdesk).await {
            Ok(records) => {
                for record in records {
                    tracing::info!(inbound = %record.id, status = record.status.as_str(), ticket = record.ticket_id.as_deref().unwrap_or_default(), reason = record.reason.as_deref().unwrap_or_default(), "mail from the inbox");
                }
            }
            Err(error) => tracing::warn!(%error, "inbox scan failed; retrying"),
        }
        match data.import_dropped_files(&helpdesk).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::info!(job = %job.id, file = %job.source_key, status = ?job.status, counts = ?job.counts, "import done");
                }
            }
            Err(error) => tracing::warn!(%error, "import of dropped files failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            () = uploaded.notified() => {}
        }
    }
}
