//! Customers, their email claims and notes.

use super::*;

/// A customer by any of its emails, primary or alternate.
pub(super) const CUSTOMER_BY_EMAIL: &str = "SELECT c.doc FROM customer_emails e JOIN customers c ON c.id = e.customer_id WHERE e.email = ?1";

impl SqliteStore {
    /// Up to `limit` customers whose welcome email is due (requested, not yet being sent).
    pub async fn welcomes_due(&self, limit: usize) -> Result<Vec<Customer>, StoreError> {
        self.with(move |connection| {
            let rows: Vec<(String, Customer)> = read_docs(
                connection,
                "SELECT id, doc FROM customers
                 WHERE json_extract(doc, '$.welcome.status') = 'pending'
                   AND json_extract(doc, '$.welcome.sending_since') IS NULL
                 LIMIT ?1",
                [limit as i64],
            )?;
            Ok(rows.into_iter().map(|(_, c)| c).collect())
        })
        .await
    }
}

pub(super) fn email_owner(tx: &Connection, email: &str) -> Result<Option<String>, StoreError> {
    query_row(
        tx,
        "SELECT customer_id FROM customer_emails WHERE email = ?1",
        [email],
        |r| r.get(0),
    )
}

pub(super) fn customer_version(tx: &Connection, id: &str) -> Result<Option<u64>, StoreError> {
    query_row(
        tx,
        "SELECT version FROM customers WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
}

pub(super) fn write_customer_row(
    tx: &Connection,
    customer: &Customer,
    doc: &str,
) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO customers (id, email, first_lc, last_lc, company_id, email_domain, version, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET email = excluded.email, first_lc = excluded.first_lc,
            last_lc = excluded.last_lc, company_id = excluded.company_id,
            email_domain = excluded.email_domain, version = excluded.version, doc = excluded.doc",
        params![
            customer.id,
            customer.email(),
            customer.first_name_key(),
            customer.last_name_key(),
            customer.profile.company_id,
            email_domain(customer.email()),
            customer.version,
            doc
        ],
    )?;
    Ok(())
}

// The two writes below check everything before they change anything, so a refused write
// leaves no trace inside the surrounding transaction (a batch needs no savepoints).
pub(super) fn insert_customer_in(
    tx: &Connection,
    customer: &Customer,
    doc: &str,
) -> Result<(), StoreError> {
    for email in customer.all_emails() {
        if email_owner(tx, email)?.is_some() {
            return Err(StoreError::EmailTaken(email.to_string()));
        }
    }
    for email in customer.all_emails() {
        exec(
            tx,
            "INSERT INTO customer_emails (email, customer_id) VALUES (?1, ?2)",
            params![email, customer.id],
        )?;
    }
    write_customer_row(tx, customer, doc)
}

pub(super) fn replace_customer_in(
    tx: &Connection,
    previous: &Customer,
    next: &Customer,
    doc: &str,
) -> Result<(), StoreError> {
    if customer_version(tx, &previous.id)? != Some(previous.version) {
        return Err(StoreError::VersionMismatch);
    }
    let old: Vec<&str> = previous.all_emails().collect();
    let new: Vec<&str> = next.all_emails().collect();
    let mut claimed = Vec::new();
    for email in new.iter().filter(|e| !old.contains(e)) {
        match email_owner(tx, email)? {
            Some(owner) if owner != next.id => {
                return Err(StoreError::EmailTaken(email.to_string()));
            }
            Some(_) => {}
            None => claimed.push(*email),
        }
    }
    for email in claimed {
        exec(
            tx,
            "INSERT INTO customer_emails (email, customer_id) VALUES (?1, ?2)",
            params![email, next.id],
        )?;
    }
    for email in old.iter().filter(|e| !new.contains(e)) {
        exec(
            tx,
            "DELETE FROM customer_emails WHERE email = ?1 AND customer_id = ?2",
            params![email, next.id],
        )?;
    }
    write_customer_row(tx, next, doc)
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let (customer, doc) = (customer.clone(), to_doc(customer)?);
        self.write(move |tx| insert_customer_in(tx, &customer, &doc))
            .await
    }

    async fn find_customer(&self, email: &str) -> Result<Option<Customer>, StoreError> {
        let email = email.to_string();
        self.with(move |connection| read_doc(connection, CUSTOMER_BY_EMAIL, [&email]))
            .await
    }

    async fn replace_customer(
        &self,
        previous: &Customer,
        next: &Customer,
    ) -> Result<(), StoreError> {
        let (previous, next, doc) = (previous.clone(), next.clone(), to_doc(next)?);
        self.write(move |tx| replace_customer_in(tx, &previous, &next, &doc))
            .await
    }

    async fn find_customers(&self, emails: &[String]) -> Result<Vec<Option<Customer>>, StoreError> {
        let emails = emails.to_vec();
        let docs: Vec<Option<String>> = self
            .read(move |tx| {
                emails
                    .iter()
                    .map(|email| query_row(tx, CUSTOMER_BY_EMAIL, [email], |r| r.get(0)))
                    .collect()
            })
            .await?;
        // Parsed here, outside the connection's lock.
        docs.iter()
            .map(|doc| doc.as_deref().map(from_doc).transpose())
            .collect()
    }

    /// One transaction for the whole batch (one commit, one fsync). Each write checks before it
    /// changes anything, so a refused write needs no rollback and does not stop the others.
    async fn write_customers(
        &self,
        writes: &[CustomerWrite],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        // Documents are serialised here, outside the connection's lock.
        let prepared = writes
            .iter()
            .map(|write| {
                let target = match write {
                    CustomerWrite::Insert(customer) => customer,
                    CustomerWrite::Replace { next, .. } => next,
                };
                Ok((write.clone(), to_doc(target)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write(move |tx| {
            let mut outcomes = Vec::with_capacity(prepared.len());
            for (write, doc) in &prepared {
                let outcome = match write {
                    CustomerWrite::Insert(customer) => insert_customer_in(tx, customer, doc),
                    CustomerWrite::Replace { previous, next } => {
                        replace_customer_in(tx, previous, next, doc)
                    }
                };
                if let Err(StoreError::Unavailable(message)) = outcome {
                    return Err(StoreError::Unavailable(message));
                }
                outcomes.push(outcome);
            }
            Ok(outcomes)
        })
        .await
    }

    async fn delete_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let customer = customer.clone();
        self.write(move |tx| {
            if customer_version(tx, &customer.id)? != Some(customer.version) {
                return Err(StoreError::VersionMismatch);
            }
            for sql in [
                "DELETE FROM customer_emails WHERE customer_id = ?1",
                "DELETE FROM notes WHERE customer_id = ?1",
                "DELETE FROM customers WHERE id = ?1",
            ] {
                exec(tx, sql, [&customer.id])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>, StoreError> {
        let query = query.clone();
        self.with(move |connection| {
            let after = query.after.clone().unwrap_or_default();
            let fetch = (query.limit + 1) as i64;
            let (prefix, prefix_end) = match &query.prefix {
                Some(p) => (p.clone(), format!("{p}{PREFIX_END}")),
                None => (String::new(), PREFIX_END.to_string()),
            };
            let rows = match (&query.company_id, &query.prefix) {
                (Some(company), _) => read_docs(
                    connection,
                    "SELECT email, doc FROM customers
                     WHERE company_id = ?1 AND email > ?2
                       AND ((email >= ?3 AND email < ?4) OR (first_lc >= ?3 AND first_lc < ?4)
                            OR (last_lc >= ?3 AND last_lc < ?4))
                     ORDER BY email LIMIT ?5",
                    params![company, after, prefix, prefix_end, fetch],
                )?,
                (None, None) => read_docs(
                    connection,
                    "SELECT email, doc FROM customers WHERE email > ?1 ORDER BY email LIMIT ?2",
                    params![after, fetch],
                )?,
                // A customer is listed once, under the first of email, first name, last name
                // that matches; see `store::list_key`.
                (None, Some(_)) => read_docs(
                    connection,
                    "SELECT k, doc FROM (
                        SELECT email AS k, doc FROM customers WHERE email >= ?1 AND email < ?2
                        UNION ALL
                        SELECT first_lc || ?3 || email, doc FROM customers
                         WHERE first_lc >= ?1 AND first_lc < ?2 AND NOT (email >= ?1 AND email < ?2)
                        UNION ALL
                        SELECT last_lc || ?3 || email, doc FROM customers
                         WHERE last_lc >= ?1 AND last_lc < ?2 AND NOT (email >= ?1 AND email < ?2)
                           AND NOT (coalesce(first_lc >= ?1 AND first_lc < ?2, 0))
                     ) WHERE k > ?4 ORDER BY k LIMIT ?5",
                    params![prefix, prefix_end, KEY_SEPARATOR.to_string(), after, fetch],
                )?,
            };
            Ok(Page::from_rows(rows, query.limit))
        })
        .await
    }

    async fn list_unassigned_by_domain(
        &self,
        domain: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        let (domain, after) = (domain.to_string(), after.unwrap_or_default().to_string());
        self.with(move |connection| {
            let rows = read_docs(
                connection,
                "SELECT email, doc FROM customers
                 WHERE company_id IS NULL AND email_domain = ?1 AND email > ?2 ORDER BY email LIMIT ?3",
                params![domain, after, (limit + 1) as i64],
            )?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn add_note(&self, customer_id: &str, note: &Note) -> Result<(), StoreError> {
        let (customer_id, note) = (customer_id.to_string(), note.clone());
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO notes (customer_id, sort_key, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![customer_id, note_key(&note), to_doc(&note)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_notes(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Note>, StoreError> {
        const SQL: &str = "SELECT sort_key, doc FROM notes WHERE customer_id = ?1 AND sort_key < ?2
                           ORDER BY sort_key DESC LIMIT ?3";
        self.newest_first(SQL, customer_id, after, limit).await
    }
}
