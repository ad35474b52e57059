//! Doing the work that is due ([`DueWork`]): one runner for the cloud's stream-driven functions
//! (the notifier and jobs functions each hold the part they run) and for local mode's watcher.

use std::time::Duration;

use serde::Serialize;

use crate::domain::error::HelpdeskError;
use crate::ports::due::DueWork;
use crate::services::merges::MergeService;
use crate::services::migrations::MigrationService;
use crate::services::notifications::{Notifier, SendOutcome};
use crate::services::privacy::PrivacyService;
use crate::services::replies::sender::ReplySender;

/// What running one piece of work did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DueOutcome {
    /// Mail: sent, failed, left for a retry, or not due after all.
    Mail(SendOutcome),
    /// A job's run: its kind and id (`{"erasure": id}`, …) and where it stands.
    Job(serde_json::Value),
}

impl DueOutcome {
    /// Whether a job's run finished it (a paused job is carried on by its next checkpoint).
    pub fn finished_job(&self) -> bool {
        match self {
            DueOutcome::Job(job) => job["status"] != "running" && job["status"] != "undoing",
            DueOutcome::Mail(_) => false,
        }
    }
}

/// The services that do due work. Each entry point holds only its own part: the notifier
/// function the mail, the jobs function the jobs, local mode everything.
#[derive(Clone, Default)]
pub struct DueWorkRunner {
    pub welcomes: Option<Notifier>,
    pub replies: Option<ReplySender>,
    pub erasures: Option<PrivacyService>,
    pub merges: Option<MergeService>,
    pub migrations: Option<MigrationService>,
    pub sign_ins: Option<crate::services::portal::SignInSender>,
    pub exports: Option<crate::services::exports::ExportService>,
}

impl DueWorkRunner {
    /// Runs `work` for at most about `budget` (jobs checkpoint and stop before it; mail is
    /// one send). Work this runner has no part for is not due here: a stream record of another
    /// function's work, which the event filters keep away, changes nothing.
    pub async fn run(&self, work: &DueWork, budget: Duration) -> Result<DueOutcome, HelpdeskError> {
        let not_due = Ok(DueOutcome::Mail(SendOutcome::NotDue));
        match work {
            DueWork::Welcome { email } => match &self.welcomes {
                Some(notifier) => notifier.welcome(email).await.map(DueOutcome::Mail),
                None => not_due,
            },
            DueWork::Reply {
                ticket_id,
                message_key,
            } => match &self.replies {
                Some(sender) => sender
                    .send(ticket_id, message_key)
                    .await
                    .map(DueOutcome::Mail),
                None => not_due,
            },
            DueWork::Erasure { id } => match &self.erasures {
                Some(privacy) => {
                    let erasure = privacy.run_erasure(id, budget).await?;
                    Ok(job("erasure", &erasure.id, &erasure.status))
                }
                None => not_due,
            },
            DueWork::Merge { id } => match &self.merges {
                Some(merges) => {
                    let merge = merges.run_merge(id, budget).await?;
                    Ok(job("merge", &merge.id, &merge.status))
                }
                None => not_due,
            },
            DueWork::SignIn { id } => match &self.sign_ins {
                Some(sender) => sender.send(id).await.map(DueOutcome::Mail),
                None => not_due,
            },
            DueWork::Export { id } => match &self.exports {
                Some(exports) => match exports.run(id).await? {
                    Some(export) => Ok(job("export", &export.id, &export.status)),
                    None => not_due,
                },
                None => not_due,
            },
            DueWork::Migration { name } => match &self.migrations {
                Some(migrations) => {
                    let migration = migrations.run(name, budget).await?;
                    Ok(job("migration", &migration.name, &migration.status))
                }
                None => not_due,
            },
        }
    }
}

fn job(kind: &str, id: &str, status: &impl Serialize) -> DueOutcome {
    DueOutcome::Job(serde_json::json!({ kind: id, "status": status }))
}
