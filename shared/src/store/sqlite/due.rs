//! What is due locally: `helpdesk serve`'s stand-in for the table's stream, asked through the
//! same port the cloud's stream answers (`ports::due`).

use super::*;
use crate::domain::erasure::Erasure;
use crate::domain::ids::{JobId, MergeId, TicketId};
use crate::domain::merge::Merge;
use crate::domain::migration::Migration;
use crate::ports::due::{DueWork, DueWorkSource};

/// Welcome emails requested and not being sent.
const WELCOMES: &str = "SELECT id, doc FROM customers WHERE welcome_due = 1 LIMIT ?1";
/// Replies queued and not claimed by a sender.
const REPLIES: &str = "SELECT sort_key, doc FROM ticket_messages
     WHERE json_extract(doc, '$.delivery.status') = 'queued'
       AND json_extract(doc, '$.delivery.sending_since') IS NULL
     LIMIT ?1";
const MERGES: &str = "SELECT id, doc FROM merges WHERE running = 1 ORDER BY id LIMIT ?1";
const ERASURES: &str = "SELECT id, doc FROM erasures WHERE running = 1 ORDER BY id LIMIT ?1";
const SIGN_INS: &str = "SELECT id, doc FROM sign_in_requests ORDER BY id LIMIT ?1";
const MIGRATIONS: &str = "SELECT id, doc FROM migrations WHERE running = 1 ORDER BY id LIMIT ?1";
const EXPORTS: &str = "SELECT id, doc FROM exports WHERE running = 1 ORDER BY id LIMIT ?1";

#[async_trait]
impl DueWorkSource for SqliteStore {
    async fn due_work(&self, limit: usize) -> Result<Vec<DueWork>, StoreError> {
        self.with(move |connection| {
            let limit = [limit as i64];
            let mut due = Vec::new();
            let welcomes: Vec<(String, Customer)> = read_docs(connection, WELCOMES, limit)?;
            due.extend(welcomes.into_iter().map(|(_, customer)| DueWork::Welcome {
                email: customer.profile.email,
            }));
            let sign_ins: Vec<(String, serde_json::Value)> =
                read_docs(connection, SIGN_INS, limit)?;
            due.extend(sign_ins.into_iter().map(|(id, _)| DueWork::SignIn { id }));
            let replies: Vec<(String, TicketMessage)> = read_docs(connection, REPLIES, limit)?;
            due.extend(replies.into_iter().map(|(_, reply)| DueWork::Reply {
                message_key: reply.list_key(),
                ticket_id: TicketId::of(reply.ticket_id),
            }));
            let merges: Vec<(String, Merge)> = read_docs(connection, MERGES, limit)?;
            due.extend(merges.into_iter().map(|(id, _)| DueWork::Merge {
                id: MergeId::of(id),
            }));
            let erasures: Vec<(String, Erasure)> = read_docs(connection, ERASURES, limit)?;
            due.extend(
                erasures
                    .into_iter()
                    .map(|(id, _)| DueWork::Erasure { id: JobId::of(id) }),
            );
            let migrations: Vec<(String, Migration)> = read_docs(connection, MIGRATIONS, limit)?;
            due.extend(
                migrations
                    .into_iter()
                    .map(|(name, _)| DueWork::Migration { name }),
            );
            let exports: Vec<(String, serde_json::Value)> = read_docs(connection, EXPORTS, limit)?;
            due.extend(
                exports
                    .into_iter()
                    .map(|(id, _)| DueWork::Export { id: JobId::of(id) }),
            );
            Ok(due)
        })
        .await
    }
}

impl SqliteStore {
    /// Moves everything in the write-ahead log into the database file and empties the log.
    /// With `secure_delete`, what an erasure deleted is then in neither file.
    pub(super) async fn checkpoint(&self) -> Result<(), StoreError> {
        self.with(|connection| {
            connection
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(unavailable)
        })
        .await
    }
}
