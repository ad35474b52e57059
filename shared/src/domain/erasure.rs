//! Erasure: removing everything held about a person, as a resumable job whose record stays as
//! the tombstone.

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// What becomes of the person's tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketErasure {
    /// Tickets and their messages are deleted.
    #[default]
    Delete,
    /// Tickets stay (for counts and reports) with the person's data removed: no subject, no
    /// bodies, no attachments, no names or addresses of theirs.
    Anonymise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Queued or under way: the job runner continues it until it is done.
    Running,
    Succeeded,
}

/// Where a running erasure is. Each step is idempotent and shrinks what is left, so a runner
/// that stops anywhere resumes by doing its step again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStep {
    /// Block the customer, so no new mail lands in a ticket and nothing changes the record
    /// while the erasure runs; first wait for any merge or undo of theirs to finish moving.
    Block,
    /// Tickets, their messages, stored bodies, attachments, raw mail and inbound records.
    Tickets,
    /// Inbound records from the person's addresses that are in no ticket (ignored, failed).
    Inbound,
    /// The merge records holding a copy of the person (kept for undo).
    Merges,
    /// The record, its alternate emails, notes and history.
    Record,
    /// Copies of mail sent to the person that the helpdesk keeps (local mode's outbox), and
    /// their rows in customer export files still kept.
    Sent,
    /// Nothing keyed to the person may remain; if anything does, the steps run again.
    Verify,
    Done,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct ErasureCounts {
    pub tickets: u64,
    pub messages: u64,
    pub inbound_records: u64,
    pub objects: u64,
    pub customers: u64,
}

/// An erasure job, and once done its tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub id: String,
    pub status: ErasureStatus,
    pub step: ErasureStep,
    /// The erased customer's immutable id: it names nothing once the record is gone.
    pub customer_id: String,
    /// The person's addresses, needed to find their inbound records while the job runs;
    /// emptied when it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// Salted hashes of every address, kept: an auditor holding an address can check that it
    /// was erased, and suppression finds later mail by them.
    pub email_hashes: Vec<String>,
    pub suppress: bool,
    pub tickets: TicketErasure,
    /// Where the current step's walk is: a listing position, and for inbound records which of
    /// `emails` is being walked. Listings are read forward by position, never from the start
    /// again: an index may still show what was just deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default)]
    pub email_index: usize,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub counts: ErasureCounts,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Erasure {
    pub fn is_done(&self) -> bool {
        self.status == ErasureStatus::Succeeded
    }
}

/// The address that stands for the person in anonymised tickets.
pub const ERASED_ADDRESS: &str = "erased@erased.invalid";
/// What stands for erased text (subjects, bodies).
pub const ERASED_TEXT: &str = "[erased]";

/// The salted hash of an address: hex SHA-256 of the salt and the normalised address.
pub fn email_hash(salt: &str, email: &str) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0u8]);
    hasher.update(email.trim().to_ascii_lowercase().as_bytes());
    hex::encode(hasher.finalize())
}

/// A new random salt for address hashes (256 bits, hex).
pub fn new_salt() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
