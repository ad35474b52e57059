//! The portal's listings of tickets, kept with every write of a ticket; sign-in requests,
//! codes and sessions.

use super::*;

use crate::domain::portal::{PortalSession, SignInCode, SignInRequest, portal_position};
use crate::ports::portal::PortalStore;

/// Moves a ticket's portal entries from where `previous` had them to where `next` has them
/// (either may be absent: a new or a deleted ticket). Runs in the ticket write's transaction.
pub(super) fn write_portal_entries(
    tx: &Connection,
    previous: Option<&Ticket>,
    next: Option<&Ticket>,
) -> Result<(), StoreError> {
    let entries = |ticket: Option<&Ticket>| -> Vec<(String, String)> {
        ticket
            .map(|t| {
                let position = portal_position(t);
                crate::domain::portal::portal_scopes(t)
                    .into_iter()
                    .map(|scope| (scope, position.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (before, after) = (entries(previous), entries(next));
    for (scope, position) in before.iter().filter(|e| !after.contains(e)) {
        exec(
            tx,
            "DELETE FROM portal_entries WHERE scope = ?1 AND position = ?2",
            params![scope, position],
        )?;
    }
    if let Some(ticket) = next {
        for (scope, position) in after.iter().filter(|e| !before.contains(e)) {
            exec(
                tx,
                "INSERT INTO portal_entries (scope, position, ticket_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![scope, position, ticket.id],
            )?;
        }
    }
    Ok(())
}

/// Schema 3: the portal entries of the tickets stored before the portal.
pub(super) fn fill_portal_entries(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let tickets: Vec<(String, Ticket)> = read_docs(tx, "SELECT id, doc FROM tickets", [])?;
    for (_, ticket) in &tickets {
        write_portal_entries(tx, None, Some(ticket))?;
    }
    Ok(())
}

#[async_trait]
impl PortalStore for SqliteStore {
    async fn list_portal_tickets(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StoreError> {
        const SQL: &str = "SELECT position, json_quote(ticket_id) FROM portal_entries
                           WHERE scope = ?1 AND position < ?2 ORDER BY position DESC LIMIT ?3";
        self.newest_first(SQL, scope, after, limit).await
    }

    async fn queue_sign_in(&self, request: &SignInRequest) -> Result<(), StoreError> {
        let (id, doc) = (request.id.clone(), to_doc(request)?);
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO sign_in_requests (id, doc) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![id, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_sign_in(&self, id: &str) -> Result<Option<SignInRequest>, StoreError> {
        let id = id.to_string();
        self.with(move |c| read_doc(c, "SELECT doc FROM sign_in_requests WHERE id = ?1", [&id]))
            .await
    }

    async fn delete_sign_in(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            exec(tx, "DELETE FROM sign_in_requests WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await
    }

    async fn put_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        let (hash, version, doc) = (code.address_hash.clone(), code.version, to_doc(code)?);
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO sign_in_codes (address_hash, version, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (address_hash) DO UPDATE SET version = ?2, doc = ?3",
                params![hash, version, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_code(&self, address_hash: &str) -> Result<Option<SignInCode>, StoreError> {
        let hash = address_hash.to_string();
        self.with(move |c| {
            read_doc(
                c,
                "SELECT doc FROM sign_in_codes WHERE address_hash = ?1",
                [&hash],
            )
        })
        .await
    }

    async fn replace_code(
        &self,
        previous: &SignInCode,
        next: &SignInCode,
    ) -> Result<(), StoreError> {
        let (hash, was, version, doc) = (
            previous.address_hash.clone(),
            previous.version,
            next.version,
            to_doc(next)?,
        );
        self.write(move |tx| {
            let updated = exec(
                tx,
                "UPDATE sign_in_codes SET version = ?3, doc = ?4
                 WHERE address_hash = ?1 AND version = ?2",
                params![hash, was, version, doc],
            )?;
            match updated {
                0 => Err(StoreError::VersionMismatch),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn use_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        let (hash, version) = (code.address_hash.clone(), code.version);
        self.write(move |tx| {
            let deleted = exec(
                tx,
                "DELETE FROM sign_in_codes WHERE address_hash = ?1 AND version = ?2",
                params![hash, version],
            )?;
            match deleted {
                0 => Err(StoreError::VersionMismatch),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn delete_code(&self, address_hash: &str) -> Result<(), StoreError> {
        let hash = address_hash.to_string();
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM sign_in_codes WHERE address_hash = ?1",
                [&hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn put_session(&self, session: &PortalSession) -> Result<(), StoreError> {
        let (hash, expires, customer, doc) = (
            session.token_hash.clone(),
            session.expires_at.to_string(),
            session.customer_id.clone(),
            to_doc(session)?,
        );
        self.write(move |tx| {
            // Expired sessions go as new ones come: the table holds live ones only.
            exec(
                tx,
                "DELETE FROM portal_sessions WHERE expires_at < ?1",
                [crate::domain::clock::now().to_string()],
            )?;
            exec(
                tx,
                "INSERT INTO portal_sessions (token_hash, expires_at, customer_id, doc)
                 VALUES (?1, ?2, ?3, ?4)",
                params![hash, expires, customer, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, token_hash: &str) -> Result<Option<PortalSession>, StoreError> {
        let hash = token_hash.to_string();
        self.with(move |c| {
            read_doc(
                c,
                "SELECT doc FROM portal_sessions WHERE token_hash = ?1",
                [&hash],
            )
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM portal_sessions WHERE token_hash = ?1",
                [&hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_sessions_of(&self, customer_id: &str) -> Result<(), StoreError> {
        let id = customer_id.to_string();
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM portal_sessions WHERE customer_id = ?1",
                [&id],
            )?;
            Ok(())
        })
        .await
    }
}
