//! Tickets, messages, Message-ID claims and inbound records.

use super::*;

#[async_trait]
impl TicketStore for SqliteStore {
    async fn store_message(&self, write: &MessageWrite) -> Result<(), StoreError> {
        let write = write.clone();
        self.write(move |tx| {
            // Checked in the order the DynamoDB transaction lists them, so both stores report
            // the same failure when several apply.
            if let Some(inbound) = &write.inbound
                && !insert_inbound_in(tx, inbound)?
            {
                return Err(StoreError::Exists(format!("inbound {}", inbound.id)));
            }
            let message = &write.message;
            if message.kind.is_mail() && !claim_in(tx, &message.message_id, &message.ticket_id)? {
                return Err(StoreError::MessageIdTaken(message.message_id.clone()));
            }
            match &write.ticket {
                TicketWrite::Insert(ticket) => {
                    let inserted = exec(
                        tx,
                        "INSERT INTO tickets (id, customer_id, sort_key, version, doc)
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                        params![
                            ticket.id,
                            ticket.customer_id,
                            ticket.list_key(),
                            ticket.version,
                            to_doc(ticket)?
                        ],
                    )?;
                    if inserted == 0 {
                        return Err(StoreError::Exists(format!("ticket {}", ticket.id)));
                    }
                    super::portal::write_portal_entries(tx, None, Some(ticket))?;
                }
                TicketWrite::Replace { previous, next } => replace_ticket_in(tx, previous, next)?,
            }
            exec(
                tx,
                "INSERT INTO ticket_messages (ticket_id, sort_key, doc) VALUES (?1, ?2, ?3)",
                params![message.ticket_id, message.list_key(), to_doc(message)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(connection, "SELECT doc FROM tickets WHERE id = ?1", [&id])
        })
        .await
    }

    async fn replace_ticket(&self, previous: &Ticket, next: &Ticket) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| replace_ticket_in(tx, &previous, &next))
            .await
    }

    async fn list_tickets(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Ticket>, StoreError> {
        const SQL: &str =
            "SELECT sort_key, doc FROM tickets WHERE customer_id = ?1 AND sort_key < ?2
                           ORDER BY sort_key DESC LIMIT ?3";
        self.newest_first(SQL, customer_id, after, limit).await
    }

    async fn list_messages(
        &self,
        ticket_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TicketMessage>, StoreError> {
        let ticket_id = ticket_id.to_string();
        let after = after.unwrap_or_default().to_string();
        self.with(move |connection| {
            let rows = read_docs(
                connection,
                "SELECT sort_key, doc FROM ticket_messages WHERE ticket_id = ?1 AND sort_key > ?2
                 ORDER BY sort_key LIMIT ?3",
                params![ticket_id, after, (limit + 1) as i64],
            )?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn newest_messages(
        &self,
        ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketMessage>, StoreError> {
        let ticket_id = ticket_id.to_string();
        self.with(move |connection| {
            let rows: Vec<(String, TicketMessage)> = read_docs(
                connection,
                "SELECT sort_key, doc FROM ticket_messages WHERE ticket_id = ?1
                 ORDER BY sort_key DESC LIMIT ?2",
                params![ticket_id, limit as i64],
            )?;
            Ok(rows.into_iter().map(|(_, message)| message).collect())
        })
        .await
    }

    async fn get_message(
        &self,
        ticket_id: &str,
        key: &str,
    ) -> Result<Option<TicketMessage>, StoreError> {
        let (ticket_id, key) = (ticket_id.to_string(), key.to_string());
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM ticket_messages WHERE ticket_id = ?1 AND sort_key = ?2",
                [&ticket_id, &key],
            )
        })
        .await
    }

    async fn replace_delivery(
        &self,
        previous: &TicketMessage,
        next: &TicketMessage,
    ) -> Result<(), StoreError> {
        let revision = previous.delivery.as_ref().map_or(0, |d| d.revision);
        let next = next.clone();
        self.write(move |tx| {
            let updated = exec(
                tx,
                "UPDATE ticket_messages SET doc = ?3 WHERE ticket_id = ?1 AND sort_key = ?2
                   AND json_extract(doc, '$.delivery.revision') = ?4",
                params![next.ticket_id, next.list_key(), to_doc(&next)?, revision],
            )?;
            if updated == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }

    async fn claim_message_id(&self, message_id: &str, ticket_id: &str) -> Result<(), StoreError> {
        let (message_id, ticket_id) = (message_id.to_string(), ticket_id.to_string());
        self.write(move |tx| {
            if claim_in(tx, &message_id, &ticket_id)? {
                return Ok(());
            }
            let holder: Option<String> = query_row(
                tx,
                "SELECT ticket_id FROM message_ids WHERE message_id = ?1",
                [&message_id],
                |r| r.get(0),
            )?;
            match holder {
                Some(holder) if holder == ticket_id => Ok(()),
                _ => Err(StoreError::MessageIdTaken(message_id.clone())),
            }
        })
        .await
    }

    async fn ticket_for_message_id(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        let message_id = message_id.to_string();
        self.with(move |connection| {
            query_row(
                connection,
                "SELECT ticket_id FROM message_ids WHERE message_id = ?1",
                [&message_id],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn tickets_for_message_ids(
        &self,
        message_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let message_ids = message_ids.to_vec();
        // One connection visit; each lookup is an index probe on a prepared statement.
        self.with(move |connection| {
            message_ids
                .iter()
                .map(|id| {
                    query_row(
                        connection,
                        "SELECT ticket_id FROM message_ids WHERE message_id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                })
                .collect()
        })
        .await
    }

    async fn get_tickets(&self, ids: &[String]) -> Result<Vec<Option<Ticket>>, StoreError> {
        let ids = ids.to_vec();
        self.with(move |connection| {
            ids.iter()
                .map(|id| read_doc(connection, "SELECT doc FROM tickets WHERE id = ?1", [id]))
                .collect()
        })
        .await
    }

    async fn delete_ticket(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let id = ticket.id.clone();
        self.write(move |tx| {
            for sql in [
                // Through the messages' own Message-IDs: message_ids is keyed by them alone.
                "DELETE FROM message_ids WHERE message_id IN
                   (SELECT json_extract(doc, '$.message_id') FROM ticket_messages
                    WHERE ticket_id = ?1)",
                // And the Message-IDs the provider gave sent replies.
                "DELETE FROM message_ids WHERE message_id IN
                   (SELECT json_extract(doc, '$.delivery.delivered_as') FROM ticket_messages
                    WHERE ticket_id = ?1)",
                "DELETE FROM ticket_messages WHERE ticket_id = ?1",
                super::history::DELETE_HISTORY,
                "DELETE FROM portal_entries WHERE ticket_id = ?1",
                "DELETE FROM tickets WHERE id = ?1",
            ] {
                exec(tx, sql, [&id])?;
            }
            Ok(())
        })
        .await
    }

    async fn rewrite_message(&self, message: &TicketMessage) -> Result<(), StoreError> {
        let message = message.clone();
        self.write(move |tx| {
            exec(
                tx,
                "UPDATE ticket_messages SET doc = ?3 WHERE ticket_id = ?1 AND sort_key = ?2",
                params![message.ticket_id, message.list_key(), to_doc(&message)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn release_message_ids(&self, message_ids: &[String]) -> Result<(), StoreError> {
        let ids = message_ids.to_vec();
        self.write(move |tx| {
            for id in &ids {
                exec(tx, "DELETE FROM message_ids WHERE message_id = ?1", [id])?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl InboundStore for SqliteStore {
    async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.write(move |tx| {
            if insert_inbound_in(tx, &record)? {
                Ok(())
            } else {
                Err(StoreError::Exists(format!("inbound {}", record.id)))
            }
        })
        .await
    }

    async fn get_inbound(&self, id: &str) -> Result<Option<InboundRecord>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(connection, "SELECT doc FROM inbound WHERE id = ?1", [&id])
        })
        .await
    }

    async fn list_inbound(
        &self,
        status: Option<InboundStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError> {
        let before = after
            .map(str::to_string)
            .unwrap_or_else(|| PREFIX_END.to_string());
        self.with(move |connection| {
            let rows = match status {
                Some(status) => read_docs(
                    connection,
                    "SELECT sort_key, doc FROM inbound WHERE status = ?1 AND sort_key < ?2
                     ORDER BY sort_key DESC LIMIT ?3",
                    params![status.as_str(), before, (limit + 1) as i64],
                )?,
                None => read_docs(
                    connection,
                    "SELECT sort_key, doc FROM inbound WHERE sort_key < ?1
                     ORDER BY sort_key DESC LIMIT ?2",
                    params![before, (limit + 1) as i64],
                )?,
            };
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn list_inbound_from(
        &self,
        sender: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError> {
        let sender = sender.trim().to_ascii_lowercase();
        let after = after.unwrap_or_default().to_string();
        self.with(move |connection| {
            // The expression is the index's (inbound_sender), so the index serves it.
            let rows = read_docs(
                connection,
                "SELECT sort_key, doc FROM inbound
                 WHERE lower(json_extract(doc, '$.from')) = ?1 AND sort_key > ?2
                 ORDER BY sort_key LIMIT ?3",
                params![sender, after, (limit + 1) as i64],
            )?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn delete_inbounds(&self, ids: &[String]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.write(move |tx| {
            for id in &ids {
                exec(tx, "DELETE FROM inbound WHERE id = ?1", [id])?;
            }
            Ok(())
        })
        .await
    }
}

pub(super) fn replace_ticket_in(
    tx: &Connection,
    previous: &Ticket,
    next: &Ticket,
) -> Result<(), StoreError> {
    let updated = exec(
        tx,
        "UPDATE tickets SET version = ?3, doc = ?4, customer_id = ?5
         WHERE id = ?1 AND version = ?2",
        params![
            previous.id,
            previous.version,
            next.version,
            to_doc(next)?,
            next.customer_id
        ],
    )?;
    if updated == 0 {
        return Err(StoreError::VersionMismatch);
    }
    super::portal::write_portal_entries(tx, Some(previous), Some(next))?;
    super::history::record_change(tx, previous, next)
}

/// Claims a Message-ID for a ticket; false when it is claimed already.
fn claim_in(tx: &Connection, message_id: &str, ticket_id: &str) -> Result<bool, StoreError> {
    let claimed = exec(
        tx,
        "INSERT INTO message_ids (message_id, ticket_id) VALUES (?1, ?2)
         ON CONFLICT DO NOTHING",
        params![message_id, ticket_id],
    )?;
    Ok(claimed == 1)
}

/// Inserts an inbound record; false when one with its id exists.
pub(super) fn insert_inbound_in(
    tx: &Connection,
    record: &InboundRecord,
) -> Result<bool, StoreError> {
    let inserted = exec(
        tx,
        "INSERT INTO inbound (id, status, sort_key, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![
            record.id,
            record.status.as_str(),
            record.list_key(),
            to_doc(record)?
        ],
    )?;
    Ok(inserted == 1)
}
