//! Migrations of the stored layout: resumable jobs that rewrite records written by an older
//! version of the product into today's layout.

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// The layout migration of 2026-12: back-fills the sender key of inbound records written
/// before they had one (so that export and erasure find them), and drops the group index
/// entry of customers without a company (a new customer no longer has one).
pub const LAYOUT_2026_12: &str = "layout-2026-12";

/// The portal's listings for tickets written before the portal (#26): each ticket gets the
/// entries that list it to its customer, its Cc'd customers and its company.
pub const PORTAL_2026_12: &str = "portal-2026-12";

/// Merges recorded before merge memberships (#25): each gets the `MERGES#` items an erasure and
/// an export find a person's merges by, and the expiry that ends it after its undo window.
pub const MERGES_2026_12: &str = "merges-2026-12";

/// Every migration this version knows, oldest first.
pub const MIGRATIONS: &[&str] = &[LAYOUT_2026_12, PORTAL_2026_12, MERGES_2026_12];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MigrationStatus {
    /// Started or under way: the job runner continues it until it is done.
    Running,
    Succeeded,
}

/// What a migration has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct MigrationCounts {
    /// Items read that might need a change.
    pub read: u64,
    /// Items rewritten into the new layout.
    pub rewritten: u64,
}

/// One run of a migration. Each step rewrites a page of items and saves where it stopped, so
/// a runner that stops anywhere resumes from the last checkpoint; rewriting an item twice
/// changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub name: String,
    pub status: MigrationStatus,
    /// The store's position in its walk over the items (opaque to everyone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub counts: MigrationCounts,
    /// The subject of the caller who started this run.
    pub started_by: String,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    pub version: u64,
}

impl Migration {
    pub fn start(name: &str, started_by: &str) -> Self {
        Self {
            name: name.to_string(),
            status: MigrationStatus::Running,
            cursor: None,
            counts: MigrationCounts::default(),
            started_by: started_by.to_string(),
            started_at: crate::domain::clock::now(),
            finished_at: None,
            version: 1,
        }
    }

    /// A new run of a migration that succeeded before (its record is replaced).
    pub fn restart(&self, started_by: &str) -> Self {
        Self {
            version: self.version + 1,
            ..Self::start(&self.name, started_by)
        }
    }

    pub fn is_running(&self) -> bool {
        self.status == MigrationStatus::Running
    }

    /// The next checkpoint after a step that read and rewrote `step`'s items.
    pub fn advanced(&self, step: &MigrationStep) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.counts.read += step.read;
        next.counts.rewritten += step.rewritten;
        next.cursor = step.next.clone();
        if step.next.is_none() {
            next.status = MigrationStatus::Succeeded;
            next.finished_at = Some(crate::domain::clock::now());
        }
        next
    }
}

/// What one step of a migration did, and where the next one starts (`None`: done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStep {
    pub read: u64,
    pub rewritten: u64,
    pub next: Option<String>,
}
