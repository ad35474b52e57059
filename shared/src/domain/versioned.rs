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
