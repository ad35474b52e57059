//! Where a record's state came from: who made a change, and which merge moved an item. Records
//! of every kind carry these, so they live apart from any one record.

use serde::{Deserialize, Serialize};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A caller of the API: their JWT `sub` or API key id.
    Caller { id: String },
    /// A row of an import job.
    Import { job: String, row: u64 },
    /// A received message (its inbound record id).
    Inbound { message: String },
    /// A merge of customers.
    Merge { id: String },
    /// Something the helpdesk did by itself (`name` says what).
    System { name: String },
    /// The customer themselves, in the portal (their customer id).
    Portal { customer: String },
}

impl Actor {
    pub fn caller(subject: &str) -> Actor {
        Actor::Caller {
            id: subject.to_string(),
        }
    }
}

/// Marks a ticket or note a merge moved, so an undo moves exactly those back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedBy {
    pub merge_id: String,
    /// The customer it belonged to before.
    pub customer_id: String,
    /// The version the move made (tickets): another version means it changed since.
    #[serde(default)]
    pub version: u64,
}
