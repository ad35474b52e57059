//! The folder watcher of `helpdesk serve`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::app::Local;
use helpdesk_shared::ports::due::DueWork;
use helpdesk_shared::services::due::DueOutcome;
use helpdesk_shared::services::notifications::SendOutcome;

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
    let mut retries = MailRetries::default();
    loop {
        if let Err(error) = run_due_work(&app, &mut retries).await {
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

/// How often `helpdesk serve` turns queued changes into events: the feed and webhooks trail
/// a change by about this much.
const LOG_EVERY: Duration = Duration::from_millis(250);

/// Keeps the change log current until the process ends: every change the database queued
/// becomes its events, and events past the feed's retention are forgotten once an hour.
pub async fn log_changes(app: Local) {
    let mut swept = Instant::now() - Duration::from_secs(3600);
    loop {
        if let Err(error) = app.log_changes().await {
            tracing::warn!(%error, "change log: will retry");
        }
        if swept.elapsed() >= Duration::from_secs(3600) {
            swept = Instant::now();
            match app.sweep_change_log().await {
                Ok(0) => {}
                Ok(forgotten) => tracing::info!(forgotten, "events past the feed's retention"),
                Err(error) => tracing::warn!(%error, "change log sweep: will retry"),
            }
        }
        tokio::time::sleep(LOG_EVERY).await;
    }
}

/// Asks the store what is due and does it, as the cloud's stream-driven functions do with the
/// stream's records. A failed piece stays due and is tried again next round.
async fn run_due_work(app: &Local, retries: &mut MailRetries) -> Result<(), String> {
    let due = app
        .due
        .due_work(DUE_PER_ROUND)
        .await
        .map_err(|e| e.to_string())?;
    for work in due {
        if retries.waiting(&work) {
            continue;
        }
        match app.runner.run(&work, JOB_BUDGET).await {
            Ok(outcome @ DueOutcome::Job(_)) => {
                tracing::info!(?work, finished = outcome.finished_job(), "job run");
            }
            Ok(DueOutcome::Mail(outcome)) => retries.settle(work, outcome),
            Err(error) => tracing::warn!(%error, ?work, "due work: will retry"),
        }
    }
    Ok(())
}

/// Mail the provider could not take yet (a relay answering 4xx, or down) waits before its
/// next try: a minute, then doubling, so a relay's outage of a quarter of an hour loses
/// nothing before the message's attempts run out (`MAX_SEND_ATTEMPTS`). Kept in memory: after
/// a restart every queued message is tried at once, which is what a restart is for.
#[derive(Default)]
struct MailRetries {
    waiting: Vec<(DueWork, u32, Instant)>,
}

impl MailRetries {
    const FIRST_WAIT: Duration = Duration::from_secs(60);

    fn waiting(&self, work: &DueWork) -> bool {
        let now = Instant::now();
        self.waiting
            .iter()
            .any(|(waiting, _, until)| waiting == work && now < *until)
    }

    fn settle(&mut self, work: DueWork, outcome: SendOutcome) {
        let tries = self
            .waiting
            .iter()
            .find(|(waiting, _, _)| *waiting == work)
            .map_or(0, |(_, tries, _)| *tries);
        self.waiting.retain(|(waiting, _, _)| *waiting != work);
        if outcome == SendOutcome::Retrying {
            let wait = Self::FIRST_WAIT * 2u32.saturating_pow(tries.min(6));
            self.waiting.push((work, tries + 1, Instant::now() + wait));
        }
    }
}
