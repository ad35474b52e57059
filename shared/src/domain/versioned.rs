//! Every record is versioned: a write names the version it read, and a change makes the next
//! version. One way to make it, for every record.

use crate::domain::clock::now;
use crate::domain::timestamp::Timestamp;

/// A record under optimistic concurrency.
pub trait Versioned: Clone {
    fn version(&self) -> u64;
    /// Sets the version and the time of the change.
    fn stamp(&mut self, version: u64, at: Timestamp);

    /// A copy of this record as its next version, changed now.
    fn bumped(&self) -> Self {
        let mut next = self.clone();
        next.stamp(self.version() + 1, now());
        next
    }
}

macro_rules! versioned {
    ($($record:ty),+ $(,)?) => {$(
        impl Versioned for $record {
            fn version(&self) -> u64 {
                self.version
            }
            fn stamp(&mut self, version: u64, at: Timestamp) {
                self.version = version;
                self.updated_at = at;
            }
        }
    )+};
}

versioned!(
    crate::domain::customer::Customer,
    crate::domain::company::Company,
    crate::domain::field::FieldDefinition,
    crate::domain::import_job::ImportJob,
    crate::domain::ticket::Ticket,
);

/// The record of a job: an import, an erasure, a merge, a migration. Kept by its id at its
/// version, like every record; a running one is carried on by the jobs' runner.
pub trait Job:
    serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static
{
    /// What it is, in "… exists" errors.
    const KIND: &'static str;
    fn job_id(&self) -> &str;
    fn job_version(&self) -> u64;
    /// Still to be carried on by a run.
    fn is_running(&self) -> bool;
}

impl Job for crate::domain::import_job::ImportJob {
    const KIND: &'static str = "import";
    fn job_id(&self) -> &str {
        &self.id
    }
    fn job_version(&self) -> u64 {
        self.version
    }
    fn is_running(&self) -> bool {
        !self.is_finished()
    }
}

impl Job for crate::domain::erasure::Erasure {
    const KIND: &'static str = "erasure";
    fn job_id(&self) -> &str {
        &self.id
    }
    fn job_version(&self) -> u64 {
        self.version
    }
    fn is_running(&self) -> bool {
        !self.is_done()
    }
}

impl Job for crate::domain::merge::Merge {
    const KIND: &'static str = "merge";
    fn job_id(&self) -> &str {
        &self.id
    }
    fn job_version(&self) -> u64 {
        self.version
    }
    fn is_running(&self) -> bool {
        crate::domain::merge::Merge::is_running(self)
    }
}

impl Job for crate::domain::migration::Migration {
    const KIND: &'static str = "migration";
    fn job_id(&self) -> &str {
        &self.name
    }
    fn job_version(&self) -> u64 {
        self.version
    }
    fn is_running(&self) -> bool {
        crate::domain::migration::Migration::is_running(self)
    }
}
