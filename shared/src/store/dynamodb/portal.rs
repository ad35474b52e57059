//! The portal's listings of tickets (an item per ticket and listing, written in the ticket's
//! transactions), sign-in requests, codes and sessions (each expiring by the table's TTL).

use super::*;
use crate::domain::portal::{
    PortalSession, SignInCode, SignInRequest, portal_position, portal_scopes,
};
use crate::ports::portal::PortalStore;

/// A listing's partition: `PORTAL#<scope>`, sorted by position.
fn portal_pk(scope: &str) -> String {
    format!("PORTAL#{scope}")
}

fn sign_in_pk(id: &str) -> String {
    format!("SIGNIN#{id}")
}

pub(super) fn sign_in_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("SIGNIN#")
}

fn code_pk(address_hash: &str) -> String {
    format!("CODE#{address_hash}")
}

fn session_pk(token_hash: &str) -> String {
    format!("SESSION#{token_hash}")
}

fn sessions_of_pk(customer_id: &str) -> String {
    format!("SESSIONS#{customer_id}")
}

/// Seconds since the epoch, for `expires_at`.
fn epoch(at: &crate::domain::timestamp::Timestamp) -> AttributeValue {
    n(at.unix_seconds().max(0) as u64)
}

/// The keys of a ticket's portal entries: one per listing it is in, at its position.
pub(super) fn portal_entries(ticket: &Ticket) -> Vec<(String, String)> {
    let position = portal_position(ticket);
    portal_scopes(ticket)
        .into_iter()
        .map(|scope| (portal_pk(&scope), position.clone()))
        .collect()
}

/// The writes that move a ticket's portal entries from `previous`'s places to `next`'s, for
/// the ticket write's transaction (unconditional: they follow the ticket, which is guarded).
pub(super) fn portal_entry_ops(
    table: &str,
    previous: Option<&Ticket>,
    next: Option<&Ticket>,
) -> Result<Vec<Op>, StoreError> {
    let entries = |ticket: Option<&Ticket>| ticket.map(portal_entries).unwrap_or_default();
    let (before, after) = (entries(previous), entries(next));
    let mut ops = Vec::new();
    for (pk, sk) in before.iter().filter(|e| !after.contains(e)) {
        ops.push(delete(
            table,
            pk.clone(),
            sk,
            ALWAYS,
            &[],
            StoreError::VersionMismatch,
        )?);
    }
    if let Some(ticket) = next {
        for (pk, sk) in after.iter().filter(|e| !before.contains(e)) {
            let item = Item::from([
                ("pk".into(), s(pk)),
                ("sk".into(), s(sk)),
                ("ticket_id".into(), s(&ticket.id)),
            ]);
            ops.push(put(table, item, ALWAYS, &[], StoreError::VersionMismatch)?);
        }
    }
    Ok(ops)
}

#[async_trait]
impl PortalStore for DynamoStore {
    async fn list_portal_tickets(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StoreError> {
        let (items, _) = self
            .query_page(
                None,
                ("pk", portal_pk(scope)),
                "sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        let rows = items
            .iter()
            .filter_map(|item| {
                Some((
                    get_s(item, "sk")?.to_string(),
                    get_s(item, "ticket_id")?.to_string(),
                ))
            })
            .collect();
        Ok(Page::from_rows(rows, limit))
    }

    async fn queue_sign_in(&self, request: &SignInRequest) -> Result<(), StoreError> {
        let expires = request.requested_at.plus_days(1);
        let item = Item::from([
            ("pk".into(), s(sign_in_pk(&request.id))),
            ("sk".into(), s(SINGLE)),
            ("kind".into(), s("sign_in")),
            // What the notifier's stream filter matches.
            ("signin_status".into(), s("pending")),
            ("doc".into(), to_doc(request)?),
            ("expires_at".into(), epoch(&expires)),
        ]);
        match self
            .put_conditional(
                item,
                NOT_EXISTS,
                &[],
                StoreError::Exists(request.id.clone()),
            )
            .await
        {
            Err(StoreError::Exists(_)) => Ok(()),
            other => other,
        }
    }

    async fn get_sign_in(&self, id: &str) -> Result<Option<SignInRequest>, StoreError> {
        self.get_doc(sign_in_pk(id)).await
    }

    async fn delete_sign_in(&self, id: &str) -> Result<(), StoreError> {
        self.delete_keys(vec![(sign_in_pk(id), SINGLE.to_string())])
            .await
    }

    async fn put_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        let request = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(code_item(code)?));
        send_retrying(|| request.clone().send())
            .await
            .0
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_code(&self, address_hash: &str) -> Result<Option<SignInCode>, StoreError> {
        self.get_doc(code_pk(address_hash)).await
    }

    async fn replace_code(
        &self,
        previous: &SignInCode,
        next: &SignInCode,
    ) -> Result<(), StoreError> {
        let values = [(":version", n(previous.version))];
        self.put_conditional(
            code_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }

    async fn use_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        let op = delete(
            &self.table,
            code_pk(&code.address_hash),
            SINGLE,
            AT_VERSION,
            &[(":version", n(code.version))],
            StoreError::VersionMismatch,
        )?;
        self.transact(vec![op]).await
    }

    async fn delete_code(&self, address_hash: &str) -> Result<(), StoreError> {
        self.delete_keys(vec![(code_pk(address_hash), SINGLE.to_string())])
            .await
    }

    async fn put_session(&self, session: &PortalSession) -> Result<(), StoreError> {
        let expires = epoch(&session.expires_at);
        let item = Item::from([
            ("pk".into(), s(session_pk(&session.token_hash))),
            ("sk".into(), s(SINGLE)),
            ("doc".into(), to_doc(session)?),
            ("expires_at".into(), expires.clone()),
        ]);
        // Found by the customer too, so that an erasure finds every session naming them.
        let membership = Item::from([
            ("pk".into(), s(sessions_of_pk(&session.customer_id))),
            ("sk".into(), s(&session.token_hash)),
            ("expires_at".into(), expires),
        ]);
        let exists = StoreError::Exists("session".into());
        self.transact(vec![
            put(&self.table, item, NOT_EXISTS, &[], exists.clone())?,
            put(&self.table, membership, ALWAYS, &[], exists)?,
        ])
        .await
    }

    async fn get_session(&self, token_hash: &str) -> Result<Option<PortalSession>, StoreError> {
        self.get_doc(session_pk(token_hash)).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        // Its membership item expires with it (TTL); an erasure deletes both.
        self.delete_keys(vec![(session_pk(token_hash), SINGLE.to_string())])
            .await
    }

    async fn delete_sessions_of(&self, customer_id: &str) -> Result<(), StoreError> {
        loop {
            let (items, _) = self
                .query_page(
                    None,
                    ("pk", sessions_of_pk(customer_id)),
                    "sk",
                    None,
                    None,
                    25,
                    true,
                )
                .await?;
            if items.is_empty() {
                return Ok(());
            }
            let mut keys = Vec::with_capacity(items.len() * 2);
            for hash in items.iter().filter_map(|item| get_s(item, "sk")) {
                keys.push((session_pk(hash), SINGLE.to_string()));
                keys.push((sessions_of_pk(customer_id), hash.to_string()));
            }
            self.delete_keys(keys).await?;
        }
    }
}

fn code_item(code: &SignInCode) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(code_pk(&code.address_hash))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(code.version)),
        ("doc".into(), to_doc(code)?),
        ("expires_at".into(), epoch(&code.expires_at)),
    ]))
}
