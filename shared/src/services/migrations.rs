//! `POST /migrations/{name}`, `GET /migrations/{name}`, and the job that rewrites the table's
//! old items into today's layout.
//!
//! A run walks the store in pages (`MigrationStore::migrate`), each idempotent, and saves its
//! position after every page: a runner stopped anywhere (deadline, crash) is followed by one
//! that goes on from the last checkpoint. The product reads both layouts meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::caller::Caller;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::migration::{MIGRATIONS, Migration};
use crate::ports::store::MigrationStore;

/// Items read between two checkpoints.
const PAGE: usize = 200;

#[derive(Clone)]
pub struct MigrationService {
    migrations: Arc<dyn MigrationStore>,
    page: usize,
}

impl MigrationService {
    pub fn new(migrations: Arc<dyn MigrationStore>) -> Self {
        Self {
            migrations,
            page: PAGE,
        }
    }

    /// Reads fewer items between checkpoints (tests walk many small pages).
    pub fn with_page(mut self, page: usize) -> Self {
        self.page = page.max(1);
        self
    }

    /// Starts migration `name` (admins). A run under way is answered as it is; a migration
    /// that succeeded before runs again (it finds little left to do).
    pub async fn start(&self, caller: &Caller, name: &str) -> Result<Migration, HelpdeskError> {
        caller.require_admin()?;
        let name = known(name)?;
        let fresh = Migration::start(name, &caller.subject);
        match self.migrations.insert_job(&fresh).await {
            Ok(()) => {}
            Err(StoreError::Exists(_)) => {
                let current = self.find(name).await?;
                if current.is_running() {
                    return Ok(current);
                }
                let again = current.restart(&caller.subject);
                return match self.migrations.replace_job(&current, &again).await {
                    Ok(()) => Ok(again),
                    // Someone restarted it at the same moment: theirs is the run.
                    Err(StoreError::VersionMismatch) => self.find(name).await,
                    Err(other) => Err(other.into()),
                };
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(migration = name, by = %caller.subject, "migration started");
        Ok(fresh)
    }

    /// A migration's last run (admins); not found if it never ran.
    pub async fn get(&self, caller: &Caller, name: &str) -> Result<Migration, HelpdeskError> {
        caller.require_admin()?;
        self.find(known(name)?).await
    }

    async fn find(&self, name: &str) -> Result<Migration, HelpdeskError> {
        self.migrations
            .get_job(name)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("migration {name}")))
    }

    /// Runs migration `name` until it is done or `budget` is spent, a step (one page) at
    /// least; answers it as it was left. Every step ends with a checkpoint, which in the cloud
    /// wakes the next run.
    pub async fn run(&self, name: &str, budget: Duration) -> Result<Migration, HelpdeskError> {
        let started = Instant::now();
        let mut job = self.find(name).await?;
        while job.is_running() {
            let step = self
                .migrations
                .migrate(&job.name, job.cursor.as_deref(), self.page)
                .await?;
            job = self.checkpoint(&job, job.advanced(&step)).await?;
            if started.elapsed() >= budget {
                return Ok(job);
            }
        }
        tracing::info!(migration = name, counts = ?job.counts, "migration succeeded");
        Ok(job)
    }

    /// Writes `next`. Another runner got there first: its record is answered, and this run
    /// goes on from it.
    async fn checkpoint(
        &self,
        job: &Migration,
        next: Migration,
    ) -> Result<Migration, HelpdeskError> {
        match self.migrations.replace_job(job, &next).await {
            Ok(()) => Ok(next),
            Err(StoreError::VersionMismatch) => self.find(&job.name).await,
            Err(other) => Err(other.into()),
        }
    }
}

/// The name as this version knows it, or `404`.
fn known(name: &str) -> Result<&'static str, HelpdeskError> {
    MIGRATIONS
        .iter()
        .find(|m| **m == name)
        .copied()
        .ok_or_else(|| HelpdeskError::NotFound(format!("migration {name}")))
}
