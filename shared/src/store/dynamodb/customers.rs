//! Customers, their email claims and notes.

use super::*;

impl DynamoStore {
    /// The writes that turn `previous` (None: nothing) into `next` (None: deleted), one per email.
    pub(super) fn customer_ops(
        &self,
        previous: Option<&Customer>,
        next: Option<&Customer>,
    ) -> Result<Vec<Op>, StoreError> {
        if let (Some(previous), Some(_)) = (previous, next) {
            // Conditional on the version read, so what this checks is what is stored.
            previous.refuse_change_under_erasure()?;
        }
        let table = self.table.as_str();
        let version = previous.map(|p| (":version", n(p.version)));
        let id = previous.or(next).map(|c| (":id", s(&c.id)));
        let old_primary = previous.map(Customer::email);
        let old_aliases: Vec<&str> = previous
            .map(|p| {
                p.profile
                    .alternate_emails
                    .iter()
                    .map(Email::as_str)
                    .collect()
            })
            .unwrap_or_default();
        let primary_moved = previous.map(Customer::email) != next.map(Customer::email);

        // What the current item under an email must be for the write to go ahead.
        let guard = |email: &str| -> (
            &'static str,
            Vec<(&'static str, AttributeValue)>,
            StoreError,
        ) {
            if Some(email) == old_primary {
                (
                    AT_VERSION,
                    version.clone().into_iter().collect(),
                    StoreError::VersionMismatch,
                )
            } else if old_aliases.contains(&email) {
                (
                    OWNED_BY,
                    id.clone().into_iter().collect(),
                    StoreError::VersionMismatch,
                )
            } else {
                (
                    NOT_EXISTS,
                    vec![],
                    StoreError::EmailTaken(email.to_string()),
                )
            }
        };

        let mut ops = Vec::new();
        if let Some(next) = next {
            let (condition, values, on_fail) = guard(next.email());
            ops.push(put(
                table,
                customer_item(next)?,
                condition,
                &values,
                on_fail,
            )?);
            for alias in &next.profile.alternate_emails {
                let unchanged = old_aliases.contains(&alias.as_str()) && !primary_moved;
                if !unchanged {
                    let (condition, values, on_fail) = guard(alias);
                    ops.push(put(
                        table,
                        alias_item(alias, next),
                        condition,
                        &values,
                        on_fail,
                    )?);
                }
            }
        }
        let kept: Vec<&str> = next.map(|c| c.all_emails().collect()).unwrap_or_default();
        for gone in old_primary
            .into_iter()
            .chain(old_aliases.iter().copied())
            .filter(|e| !kept.contains(e))
        {
            let (condition, values, on_fail) = guard(gone);
            ops.push(delete(
                table,
                email_pk(gone),
                SINGLE,
                condition,
                &values,
                on_fail,
            )?);
        }
        // A blocked customer has a marker under its primary email, written with the record.
        let marker = |customer: Option<&Customer>| {
            customer
                .filter(|c| c.blocked.is_some())
                .map(|c| c.email().to_string())
        };
        let (old_marker, new_marker) = (marker(previous), marker(next));
        if old_marker != new_marker {
            if let Some(email) = old_marker {
                ops.push(marker_delete(table, email)?);
            }
            if let Some(email) = new_marker {
                ops.push(marker_put(table, email)?);
            }
        }
        // An import's update is the record alone (a conditional put at 1 WRU, where a
        // transaction with its history entry costs 2 for each): the change log files the entry
        // from the table's stream.
        if let (Some(previous), Some(next)) = (previous, next)
            && next.written_by_import(previous).is_none()
        {
            ops.extend(super::history::history_op(table, previous, next)?);
        }
        // The version guard must be part of every change, also when the primary item is untouched.
        Ok(ops)
    }

    pub(super) async fn customer_by_item(
        &self,
        item: Item,
    ) -> Result<Option<Customer>, StoreError> {
        match get_s(&item, "kind") {
            Some("customer") => from_item(&item).map(Some),
            Some("alias") => {
                let Some(owner) = get_s(&item, "owner") else {
                    return Ok(None);
                };
                match self.get(email_pk(owner), SINGLE).await? {
                    Some(owner_item) if get_s(&owner_item, "kind") == Some("customer") => {
                        from_item(&owner_item).map(Some)
                    }
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// The writes at `pending` (of `writes`), in transactions: see `write_customers`. Answers
    /// an outcome for each of `pending`, `None` for the others.
    async fn write_in_transactions(
        &self,
        writes: &[CustomerWrite],
        mut pending: Vec<usize>,
    ) -> Result<Vec<Option<Result<(), StoreError>>>, StoreError> {
        let mut outcomes: Vec<Option<Result<(), StoreError>>> = vec![None; writes.len()];
        for round in 0..MAX_BATCH_ROUNDS {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                backoff(round - 1).await;
            }
            let mut groups: Vec<(Vec<usize>, Vec<Op>, Vec<usize>)> = Vec::new();
            // The keys of the group being filled: a transaction may touch an item once.
            let mut group_keys: HashSet<String> = HashSet::new();
            for &index in &pending {
                let ops = self.write_ops(&writes[index])?;
                let fits = groups.last().is_some_and(|(_, group_ops, _)| {
                    group_ops.len() + ops.len() <= MAX_TRANSACTION_ITEMS
                        && !ops.iter().any(|op| group_keys.contains(&op.key))
                });
                if !fits {
                    groups.push((Vec::new(), Vec::new(), Vec::new()));
                    group_keys.clear();
                }
                if let Some((members, group_ops, owners)) = groups.last_mut() {
                    members.push(index);
                    owners.extend(std::iter::repeat_n(index, ops.len()));
                    group_keys.extend(ops.iter().map(|op| op.key.clone()));
                    group_ops.extend(ops);
                }
            }
            let sent = futures::stream::iter(groups.into_iter().map(
                |(members, ops, owners)| async move {
                    let (failures, result) = self.send_paced(writes, &members, ops).await;
                    (members, owners, failures, result)
                },
            ))
            .buffer_unordered(CONCURRENT_TRANSACTIONS)
            .collect::<Vec<_>>()
            .await;
            pending.clear();
            for (members, owners, failures, result) in sent {
                match result {
                    Ok(()) => members.iter().for_each(|&i| outcomes[i] = Some(Ok(()))),
                    Err(TxFailure::Cancelled(codes)) => {
                        for (position, code) in codes.iter().enumerate() {
                            if code.as_deref() == Some("ConditionalCheckFailed")
                                && let (Some(&owner), Some(meaning)) =
                                    (owners.get(position), failures.get(position))
                                && outcomes[owner].is_none()
                            {
                                outcomes[owner] = Some(Err(meaning.clone()));
                            }
                        }
                        pending.extend(members.into_iter().filter(|&i| outcomes[i].is_none()));
                    }
                    Err(TxFailure::Retry(message, _)) => {
                        tracing::debug!(%message, "transaction throttled; retrying");
                        pending.extend(members);
                    }
                    Err(TxFailure::Failed(error)) => return Err(error),
                }
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::Unavailable(
                "dynamodb: writes stayed throttled; retry later".into(),
            ));
        }
        Ok(outcomes)
    }
}

#[async_trait]
impl CustomerStore for DynamoStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let ops = self.customer_ops(None, Some(customer))?;
        if ops.len() == 1 {
            // The common case (API creates, inbound senders) is one conditional put, not a
            // transaction: no alternate emails, no marker.
            let on_fail = StoreError::EmailTaken(customer.email().to_string());
            return self
                .put_conditional(customer_item(customer)?, NOT_EXISTS, &[], on_fail)
                .await;
        }
        self.transact(ops).await
    }

    async fn find_customer(&self, email: &Email) -> Result<Option<Customer>, StoreError> {
        match self.get(email_pk(email), SINGLE).await? {
            Some(item) => self.customer_by_item(item).await,
            None => Ok(None),
        }
    }

    async fn find_customers(&self, emails: &[Email]) -> Result<Vec<Option<Customer>>, StoreError> {
        let pks: Vec<String> = emails.iter().map(|e| email_pk(e)).collect();
        let mut items = self.batch_get(&pks).await?;
        let owners: Vec<String> = items
            .values()
            .filter(|item| get_s(item, "kind") == Some("alias"))
            .filter_map(|item| get_s(item, "owner").map(email_pk))
            .filter(|pk| !items.contains_key(pk))
            .collect();
        if !owners.is_empty() {
            items.extend(self.batch_get(&owners).await?);
        }
        let customer_at = |pk: &str| -> Result<Option<Customer>, StoreError> {
            match items.get(pk) {
                Some(item) if get_s(item, "kind") == Some("customer") => from_item(item).map(Some),
                _ => Ok(None),
            }
        };
        pks.iter()
            .map(|pk| match items.get(pk) {
                Some(item) if get_s(item, "kind") == Some("alias") => match get_s(item, "owner") {
                    Some(owner) => customer_at(&email_pk(owner)),
                    None => Ok(None),
                },
                _ => customer_at(pk),
            })
            .collect()
    }

    /// A write of one item (a new customer without alternate emails, or a change that keeps
    /// every email) is a conditional `PutItem`, many in flight. The others are packed into
    /// transactions of up to 100 items (each item once per transaction), a few in flight at a
    /// time. A write whose condition fails gets its own error; the others of its transaction,
    /// and throttled transactions, go again with backoff and jitter.
    async fn write_customers(
        &self,
        writes: &[CustomerWrite],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut singles = Vec::new();
        let mut grouped = Vec::new();
        let mut refused = Vec::new();
        for (index, write) in writes.iter().enumerate() {
            let mut ops = match self.write_ops(write) {
                Ok(ops) => ops,
                // Refused before anything is sent (a customer under erasure): this write alone.
                Err(StoreError::UnderErasure(email)) => {
                    refused.push((index, StoreError::UnderErasure(email)));
                    continue;
                }
                Err(other) => return Err(other),
            };
            if ops.len() == 1 && ops[0].write.put.is_some() {
                singles.extend(ops.pop().map(|op| (index, op)));
            } else {
                grouped.push(index);
            }
        }
        let (inserts, singles) = self.split_inserts(singles);
        let puts =
            futures::stream::iter(singles.into_iter().map(|(index, op)| async move {
                self.put_paced(op).await.map(|o| vec![(index, o)])
            }))
            .buffer_unordered(CONCURRENT_PUTS)
            .collect::<Vec<_>>();
        let batches = futures::stream::iter(
            statements::into_batches(inserts)
                .into_iter()
                .map(|batch| self.insert_batch(batch)),
        )
        .buffer_unordered(statements::CONCURRENT_BATCHES)
        .collect::<Vec<_>>();
        let (put_outcomes, batch_outcomes, outcomes) =
            futures::join!(puts, batches, self.write_in_transactions(writes, grouped));
        let mut outcomes = outcomes?;
        for (index, error) in refused {
            outcomes[index] = Some(Err(error));
        }
        let singles = put_outcomes.into_iter().chain(batch_outcomes);
        for (index, outcome) in flatten(singles)? {
            match outcome {
                PutOutcome::Done(result) => outcomes[index] = Some(result),
                PutOutcome::GaveUp(message) => {
                    tracing::warn!(%message, "bulk puts stayed throttled");
                    return Err(StoreError::Unavailable(
                        "dynamodb: writes stayed throttled; retry later".into(),
                    ));
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(StoreError::VersionMismatch)))
            .collect())
    }

    async fn replace_customer(
        &self,
        previous: &Customer,
        next: &Customer,
    ) -> Result<(), StoreError> {
        let ops = self.customer_ops(Some(previous), Some(next))?;
        if ops.len() == 1 && previous.email() == next.email() {
            let values = [(":version", n(previous.version))];
            return self
                .put_conditional(
                    customer_item(next)?,
                    AT_VERSION,
                    &values,
                    StoreError::VersionMismatch,
                )
                .await;
        }
        self.transact(ops).await
    }

    async fn delete_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.transact(self.customer_ops(Some(customer), None)?)
            .await?;
        self.delete_partition(notes_pk(&customer.id)).await?;
        self.delete_partition(history_pk(&customer.id)).await
    }

    async fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>, StoreError> {
        if query.blocked {
            return self.list_blocked(query).await;
        }
        match &query.company_id {
            Some(company) => self.list_group(members_pk(company), query).await,
            None => self.list_merged(query).await,
        }
    }

    async fn walk_customers(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        self.walk_listing(cursor, limit).await
    }

    async fn list_unassigned_by_domain(
        &self,
        domain: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        self.list_domain_without_company(domain, after, limit).await
    }

    async fn delete_note(&self, customer_id: &str, note: &Note) -> Result<(), StoreError> {
        let key = (notes_pk(customer_id), crate::ports::store::note_key(note));
        self.delete_keys(vec![key]).await
    }

    async fn add_note(&self, customer: &Customer, note: &Note) -> Result<(), StoreError> {
        customer.refuse_change_under_erasure()?;
        let table = self.table.as_str();
        let item = Item::from([
            ("pk".into(), s(notes_pk(&customer.id))),
            ("sk".into(), s(crate::ports::store::note_key(note))),
            ("doc".into(), to_doc(note)?),
        ]);
        let ops = vec![
            check(
                table,
                email_pk(customer.email()),
                SINGLE,
                AT_VERSION,
                &[(":version", n(customer.version))],
                StoreError::VersionMismatch,
            )?,
            // A retried request writes the same note again: keep the first.
            put(
                table,
                item,
                NOT_EXISTS,
                &[],
                StoreError::Exists("note".into()),
            )?,
        ];
        match self.transact(ops).await {
            Err(StoreError::Exists(_)) => Ok(()),
            other => other,
        }
    }

    async fn list_notes(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Note>, StoreError> {
        let (items, _) = self
            .query_page(
                None,
                ("pk", notes_pk(customer_id)),
                "sk",
                after,
                None,
                limit + 1,
                false,
            )
            .await?;
        let rows = keyed_rows(&items, "sk")?;
        Ok(Page::from_rows(rows, limit))
    }
}

/// The marker of a blocked customer. Unconditional: the customer item's own condition guards
/// the transaction it is part of.
pub(super) fn marker_put(table: &str, email: String) -> Result<Op, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(BLOCKED_PK))
        .item("sk", s(&email))
        .item("owner", s(&email))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key: blocked_marker_key(&email),
        write: TransactWriteItem::builder().put(put).build(),
        on_fail: StoreError::VersionMismatch,
    })
}

pub(super) fn marker_delete(table: &str, email: String) -> Result<Op, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .key("pk", s(BLOCKED_PK))
        .key("sk", s(&email))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(Op {
        key: blocked_marker_key(&email),
        write: TransactWriteItem::builder().delete(delete).build(),
        on_fail: StoreError::VersionMismatch,
    })
}

impl DynamoStore {
    /// Blocked customers in email order: a page of markers, then their records in one batch.
    async fn list_blocked(&self, query: &CustomerQuery) -> Result<Page<Customer>, StoreError> {
        let (markers, _) = self
            .query_page(
                None,
                ("pk", BLOCKED_PK.to_string()),
                "sk",
                query.after.as_deref(),
                None,
                query.limit + 1,
                true,
            )
            .await?;
        let emails: Vec<Email> = markers
            .iter()
            .filter_map(|m| get_s(m, "sk").map(Email::stored))
            .collect();
        let customers = self.find_customers(&emails).await?;
        let rows = emails
            .into_iter()
            .zip(customers)
            .filter_map(|(email, customer)| {
                let customer = customer?;
                // A marker and its record are written together; the check costs nothing.
                (crate::ports::store::list_key(&customer, query).as_deref() == Some(email.as_str()))
                    .then_some((email.into(), customer))
            })
            .collect();
        Ok(Page::from_rows(rows, query.limit))
    }
}
