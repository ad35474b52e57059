//! Tickets, messages, Message-ID claims and inbound records.

use super::*;

#[async_trait]
impl TicketStore for DynamoStore {
    async fn store_message(&self, write: &MessageWrite) -> Result<(), StoreError> {
        let table = self.table.as_str();
        let message = &write.message;
        let mut ops = Vec::with_capacity(5);
        if let Some(inbound) = &write.inbound {
            ops.push(put(
                table,
                inbound_item(inbound)?,
                NOT_EXISTS,
                &[],
                StoreError::Exists(format!("inbound {}", inbound.id)),
            )?);
        }
        if message.kind.is_mail() {
            ops.push(put(
                table,
                message_id_claim(&message.message_id, &message.ticket_id),
                NOT_EXISTS,
                &[],
                StoreError::MessageIdTaken(message.message_id.clone()),
            )?);
        }
        match &write.ticket {
            TicketWrite::Insert(ticket) => {
                ops.push(put(
                    table,
                    ticket_item(ticket)?,
                    NOT_EXISTS,
                    &[],
                    StoreError::Exists(format!("ticket {}", ticket.id)),
                )?);
                ops.extend(super::portal::portal_entry_ops(table, None, Some(ticket))?);
            }
            TicketWrite::Replace { previous, next } => {
                ops.extend(ticket_replace_ops(table, previous, next)?);
            }
        }
        ops.push(put(
            table,
            message_item(message)?,
            NOT_EXISTS,
            &[],
            StoreError::Exists(format!("message {}", message.id)),
        )?);
        self.transact(ops).await
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_doc(ticket_pk(id)).await
    }

    async fn replace_ticket(&self, previous: &Ticket, next: &Ticket) -> Result<(), StoreError> {
        let mut ops = ticket_replace_ops(&self.table, previous, next)?;
        match ops.len() {
            // No change of status: the ticket alone, without a transaction's double cost.
            1 => {
                let values = [(":version", n(previous.version))];
                self.put_conditional(
                    ticket_item(next)?,
                    AT_VERSION,
                    &values,
                    StoreError::VersionMismatch,
                )
                .await
            }
            _ => self.transact(std::mem::take(&mut ops)).await,
        }
    }

    async fn list_tickets(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Ticket>, StoreError> {
        let (items, _) = self
            .query_page(
                Some(INDEX_GROUP),
                ("group_pk", tickets_of_pk(customer_id)),
                "list_sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        Ok(Page::from_rows(keyed_rows(&items, "list_sk")?, limit))
    }

    async fn list_messages(
        &self,
        ticket_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TicketMessage>, StoreError> {
        let after = after.map(|a| format!("{MESSAGE_SK}{a}"));
        // Only messages sort after `MSG#…` in the partition, so a position needs no prefix
        // (and an exclusive `>` keeps the page full).
        let prefix = after.is_none().then_some(MESSAGE_SK);
        let (items, _) = self
            .query_page(
                None,
                ("pk", ticket_pk(ticket_id)),
                "sk",
                after.as_deref(),
                prefix,
                limit + 1,
                true,
            )
            .await?;
        let rows = keyed_rows(&items, "sk")?
            .into_iter()
            .map(|(key, message)| {
                let key = key.strip_prefix(MESSAGE_SK).unwrap_or(&key).to_string();
                (key, message)
            })
            .collect();
        Ok(Page::from_rows(rows, limit))
    }

    async fn ticket_for_message_id(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(message_id_pk(message_id), SINGLE)
            .await?
            .and_then(|item| get_s(&item, "ticket_id").map(str::to_string)))
    }

    async fn tickets_for_message_ids(
        &self,
        message_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let pks: Vec<String> = message_ids.iter().map(|id| message_id_pk(id)).collect();
        self.batch_get_attribute(&pks, "ticket_id").await
    }

    async fn get_tickets(&self, ids: &[String]) -> Result<Vec<Option<Ticket>>, StoreError> {
        let pks: Vec<String> = ids.iter().map(|id| ticket_pk(id)).collect();
        let items = self.batch_get(&pks).await?;
        pks.iter()
            .map(|pk| items.get(pk).map(from_item).transpose())
            .collect()
    }

    async fn newest_messages(
        &self,
        ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketMessage>, StoreError> {
        let (items, _) = self
            .query_page(
                None,
                ("pk", ticket_pk(ticket_id)),
                "sk",
                None,
                Some(MESSAGE_SK),
                limit,
                false,
            )
            .await?;
        Ok(keyed_rows(&items, "sk")?
            .into_iter()
            .map(|(_, message)| message)
            .collect())
    }

    async fn get_message(
        &self,
        ticket_id: &str,
        key: &str,
    ) -> Result<Option<TicketMessage>, StoreError> {
        self.get(ticket_pk(ticket_id), &format!("{MESSAGE_SK}{key}"))
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    async fn replace_delivery(
        &self,
        previous: &TicketMessage,
        next: &TicketMessage,
    ) -> Result<(), StoreError> {
        let revision = previous.delivery.as_ref().map_or(0, |d| d.revision);
        self.put_conditional(
            message_item(next)?,
            "delivery_rev = :rev",
            &[(":rev", n(revision))],
            StoreError::VersionMismatch,
        )
        .await
    }

    async fn claim_message_id(&self, message_id: &str, ticket_id: &str) -> Result<(), StoreError> {
        let claim = message_id_claim(message_id, ticket_id);
        let taken = StoreError::MessageIdTaken(message_id.to_string());
        match self
            .put_conditional(claim, NOT_EXISTS, &[], taken.clone())
            .await
        {
            Err(StoreError::MessageIdTaken(_)) => {
                match self.ticket_for_message_id(message_id).await? {
                    Some(holder) if holder == ticket_id => Ok(()),
                    _ => Err(taken),
                }
            }
            other => other,
        }
    }

    /// Messages and their claims first, the ticket item last: a crash half-way leaves a
    /// ticket that the next attempt finds and finishes.
    async fn delete_ticket(&self, ticket: &Ticket) -> Result<(), StoreError> {
        loop {
            let (items, _) = self
                .query_page(
                    None,
                    ("pk", ticket_pk(&ticket.id)),
                    "sk",
                    None,
                    Some(MESSAGE_SK),
                    100,
                    true,
                )
                .await?;
            if items.is_empty() {
                break;
            }
            let mut keys = Vec::with_capacity(items.len() * 2);
            for item in &items {
                let message: TicketMessage = from_item(item)?;
                keys.push((message_id_pk(&message.message_id), SINGLE.to_string()));
                if let Some(id) = message.delivery.and_then(|d| d.delivered_as) {
                    keys.push((message_id_pk(&id), SINGLE.to_string()));
                }
                if let Some(sk) = get_s(item, "sk") {
                    keys.push((ticket_pk(&ticket.id), sk.to_string()));
                }
            }
            self.delete_keys(keys).await?;
        }
        self.delete_partition(history_pk(&ticket.id)).await?;
        // The portal's entries, where the ticket as stored has them.
        let stored: Option<Ticket> = self.get_doc(ticket_pk(&ticket.id)).await?;
        if let Some(stored) = &stored {
            self.delete_keys(super::portal::portal_entries(stored))
                .await?;
        }
        self.delete_keys(vec![(ticket_pk(&ticket.id), SINGLE.to_string())])
            .await
    }

    async fn rewrite_message(&self, message: &TicketMessage) -> Result<(), StoreError> {
        // Only over a stored message: a message deleted meanwhile stays deleted.
        let on_fail = StoreError::VersionMismatch;
        match self
            .put_conditional(message_item(message)?, EXISTS, &[], on_fail)
            .await
        {
            Err(StoreError::VersionMismatch) => Ok(()),
            other => other,
        }
    }

    async fn release_message_ids(&self, message_ids: &[String]) -> Result<(), StoreError> {
        let keys = message_ids
            .iter()
            .map(|id| (message_id_pk(id), SINGLE.to_string()))
            .collect();
        self.delete_keys(keys).await
    }
}

#[async_trait]
impl InboundStore for DynamoStore {
    async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError> {
        let on_fail = StoreError::Exists(format!("inbound {}", record.id));
        self.put_conditional(inbound_item(record)?, NOT_EXISTS, &[], on_fail)
            .await
    }

    async fn get_inbound(&self, id: &str) -> Result<Option<InboundRecord>, StoreError> {
        self.get_doc(inbound_pk(id)).await
    }

    async fn list_inbound(
        &self,
        status: Option<InboundStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError> {
        let (index, partition) = match status {
            Some(status) => (
                INDEX_GROUP,
                ("group_pk", inbound_status_pk(status.as_str())),
            ),
            None => (INDEX_LISTING, ("list_pk", INBOUND_LIST.to_string())),
        };
        let (items, _) = self
            .query_page(
                Some(index),
                partition,
                "list_sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        Ok(Page::from_rows(keyed_rows(&items, "list_sk")?, limit))
    }

    /// Through `by_first`, where inbound records carry `<sender><separator><list key>` in the
    /// `INBOUND` partition (customers' name keys live in the `CUSTOMERS#` partitions).
    async fn list_inbound_from(
        &self,
        sender: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError> {
        let prefix = inbound_sender_key(sender, "");
        let (items, _) = self
            .query_page(
                Some(INDEX_FIRST),
                ("list_pk", INBOUND_LIST.to_string()),
                "first_sk",
                after,
                Some(&prefix),
                limit + 1,
                true,
            )
            .await?;
        Ok(Page::from_rows(keyed_rows(&items, "first_sk")?, limit))
    }

    async fn get_inbounds(&self, ids: &[String]) -> Result<Vec<Option<InboundRecord>>, StoreError> {
        let pks: Vec<String> = ids.iter().map(|id| inbound_pk(id)).collect();
        let items = self.batch_get(&pks).await?;
        pks.iter()
            .map(|pk| items.get(pk).map(from_item).transpose())
            .collect()
    }

    async fn delete_inbounds(&self, ids: &[String]) -> Result<(), StoreError> {
        let keys = ids
            .iter()
            .map(|id| (inbound_pk(id), SINGLE.to_string()))
            .collect();
        self.delete_keys(keys).await
    }
}

/// The claim of a Message-ID by the ticket holding its message.
fn message_id_claim(message_id: &str, ticket_id: &str) -> Item {
    Item::from([
        ("pk".into(), s(message_id_pk(message_id))),
        ("sk".into(), s(SINGLE)),
        ("ticket_id".into(), s(ticket_id)),
    ])
}

/// The ticket put at its version, and the history entry of a change of status with it.
fn ticket_replace_ops(
    table: &str,
    previous: &Ticket,
    next: &Ticket,
) -> Result<Vec<Op>, StoreError> {
    let mut ops = vec![put(
        table,
        ticket_item(next)?,
        AT_VERSION,
        &[(":version", n(previous.version))],
        StoreError::VersionMismatch,
    )?];
    ops.extend(super::history::history_op(table, previous, next)?);
    ops.extend(super::portal::portal_entry_ops(
        table,
        Some(previous),
        Some(next),
    )?);
    Ok(ops)
}
