//! Work the helpdesk owes without being asked: a welcome email or a reply to send, an
//! erasure, merge or migration to carry on. Local mode asks its store what is due; in the cloud
//! the table's stream says it, record by record. Both answer with [`DueWork`], and one runner
//! (`services::due::DueWorkRunner`) does it.

use async_trait::async_trait;

use crate::domain::email::Email;
use crate::domain::error::StoreError;
use crate::domain::ids::{JobId, MergeId, TicketId};

/// One piece of due work, named by what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueWork {
    /// The welcome email of the customer with this (primary) email.
    Welcome {
        email: Email,
    },
    /// A reply queued in a ticket, by its position in the ticket.
    Reply {
        ticket_id: TicketId,
        message_key: String,
    },
    Erasure {
        id: JobId,
    },
    Merge {
        id: MergeId,
    },
    Migration {
        name: String,
    },
    /// A customer export to write.
    Export {
        id: JobId,
    },
    /// A customer portal sign-in code to mail, by its request's id.
    SignIn {
        id: String,
    },
}

impl DueWork {
    /// Whether this is a job (an erasure, a merge or a migration) rather than mail to send.
    pub fn is_job(&self) -> bool {
        matches!(
            self,
            DueWork::Erasure { .. }
                | DueWork::Merge { .. }
                | DueWork::Migration { .. }
                | DueWork::Export { .. }
        )
    }
}

/// Asks what is due now.
#[async_trait]
pub trait DueWorkSource: Send + Sync {
    /// At most `limit` pieces of each kind of work due now: mail first, then merges (an
    /// erasure of the same person waits for them), then erasures, then migrations.
    async fn due_work(&self, limit: usize) -> Result<Vec<DueWork>, StoreError>;
}
