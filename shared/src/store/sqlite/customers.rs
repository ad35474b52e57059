//! Customers, their email claims and notes.

use super::keys::{
    BLOCKED, COMPANY, DOMAIN, FIRST_NAME, KeyWrites, LAST_NAME, key_email, merge_backlog,
    merge_due, newest_customer_row, successor, walk_emails, walk_keys, write_keys,
};
use super::*;
use crate::domain::customer::WelcomeStatus;
use crate::ports::store::{list_key, name_key};

/// A customer by any of its emails, primary or alternate.
pub(super) const CUSTOMER_BY_EMAIL: &str = "SELECT c.doc FROM customer_emails e JOIN customers c ON c.id = e.customer_id WHERE e.email = ?1";

/// Whether the notifier (local mode: its poller) still has to send this customer's welcome.
pub(super) fn welcome_due(customer: &Customer) -> bool {
    customer
        .welcome
        .as_ref()
        .is_some_and(|w| w.status == WelcomeStatus::Pending && w.sending_since.is_none())
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
        "INSERT INTO customers (id, welcome_due, version, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET welcome_due = excluded.welcome_due,
            version = excluded.version, doc = excluded.doc",
        params![customer.id, welcome_due(customer), customer.version, doc],
    )?;
    Ok(())
}

// The two writes below check everything before they change anything, so a refused write
// leaves no trace inside the surrounding transaction (a batch needs no savepoints). Each
// answers whether it put the customer in the backlog of listing keys.
fn insert_customer_in(
    tx: &Connection,
    customer: &Customer,
    doc: &str,
    keys: KeyWrites,
) -> Result<bool, StoreError> {
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
    write_customer_row(tx, customer, doc)?;
    write_keys(tx, &customer.id, None, Some(customer), keys)
}

fn replace_customer_in(
    tx: &Connection,
    previous: &Customer,
    next: &Customer,
    doc: &str,
    keys: KeyWrites,
) -> Result<bool, StoreError> {
    if customer_version(tx, &previous.id)? != Some(previous.version) {
        return Err(StoreError::VersionMismatch);
    }
    previous.refuse_change_under_erasure()?;
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
    write_customer_row(tx, next, doc)?;
    super::history::record_change(tx, previous, next)?;
    write_keys(tx, &next.id, Some(previous), Some(next), keys)
}

/// The customer whose primary email ends `key`, if it still exists.
fn customer_of_key(connection: &Connection, key: &str) -> Result<Option<Customer>, StoreError> {
    let doc: Option<String> = query_row(connection, CUSTOMER_BY_EMAIL, [key_email(key)], |r| {
        r.get(0)
    })?;
    doc.map(|d| from_doc(&d)).transpose()
}

/// Up to `want` customers listed under keys of `kind` in `[from, to)` (keys without their kind
/// character), each with its position: `position(key, customer)` answers it, or `None` when
/// the customer is listed elsewhere (or not at all).
fn listed_by_keys(
    connection: &Connection,
    kind: char,
    (from, to): (&str, &str),
    want: usize,
    position: impl Fn(&str, &Customer) -> Option<String>,
) -> Result<Vec<(String, Customer)>, StoreError> {
    let mut rows = Vec::new();
    walk_keys(
        connection,
        &format!("{kind}{from}"),
        &format!("{kind}{to}"),
        |key| {
            if let Some(customer) = customer_of_key(connection, key)?
                && let Some(at) = position(&key[kind.len_utf8()..], &customer)
            {
                rows.push((at, customer));
            }
            Ok(rows.len() < want)
        },
    )?;
    Ok(rows)
}

/// Up to `want` customers listed under their primary email in `[from, to)`.
fn listed_by_email(
    connection: &Connection,
    query: &CustomerQuery,
    (from, to): (&str, &str),
    want: usize,
) -> Result<Vec<(String, Customer)>, StoreError> {
    let mut rows = Vec::new();
    walk_emails(connection, from, to, |email, customer| {
        if list_key(&customer, query).as_deref() == Some(email) {
            rows.push((email.to_string(), customer));
        }
        Ok(rows.len() < want)
    })?;
    Ok(rows)
}

fn list_in(connection: &Connection, query: &CustomerQuery) -> Result<Page<Customer>, StoreError> {
    let want = query.limit + 1;
    let from = query.after.as_deref().map(successor).unwrap_or_default();
    let end = PREFIX_END.to_string();
    let listed_at = |key: &str, customer: &Customer| -> Option<String> {
        let at = list_key(customer, query)?;
        (at == key).then_some(at)
    };
    let rows = match (&query.company_id, &query.prefix) {
        // Blocked customers in email order (a listing of its own: the API takes no filter
        // with it).
        _ if query.blocked => listed_by_keys(
            connection,
            BLOCKED,
            (
                &name_key("", &from),
                &format!("{}", char::from(KEY_SEPARATOR as u8 + 1)),
            ),
            want,
            |key, customer| listed_at(key_email(key), customer),
        )?,
        // Within a company, in email order; the prefix (if any) filters.
        (Some(company), _) => listed_by_keys(
            connection,
            COMPANY,
            (
                &name_key(company, &from),
                &format!("{company}{}", char::from(KEY_SEPARATOR as u8 + 1)),
            ),
            want,
            |key, customer| listed_at(key_email(key), customer),
        )?,
        (None, None) => listed_by_email(connection, query, (&from, &end), want)?,
        // Under the first of email, first name, last name that matches: each source answers
        // its first `want` customers listed under it, and the page is the first `want` of all.
        (None, Some(prefix)) => {
            let to = format!("{prefix}{PREFIX_END}");
            let from = from.as_str().max(prefix.as_str());
            let mut rows = listed_by_email(connection, query, (from, &to), want)?;
            for kind in [FIRST_NAME, LAST_NAME] {
                rows.extend(listed_by_keys(
                    connection,
                    kind,
                    (from, &to),
                    want,
                    listed_at,
                )?);
            }
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.truncate(want);
            rows
        }
    };
    Ok(Page::from_rows(rows, query.limit))
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let (customer, doc) = (customer.clone(), to_doc(customer)?);
        self.write(move |tx| insert_customer_in(tx, &customer, &doc, KeyWrites::Indexed))
            .await?;
        Ok(())
    }

    async fn find_customer(&self, email: &Email) -> Result<Option<Customer>, StoreError> {
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
        self.write(move |tx| replace_customer_in(tx, &previous, &next, &doc, KeyWrites::Indexed))
            .await?;
        Ok(())
    }

    /// One statement for the whole batch: the emails go in as a JSON array, and each answer
    /// comes back with its position (a statement per email cost an import a tenth of its time).
    async fn find_customers(&self, emails: &[Email]) -> Result<Vec<Option<Customer>>, StoreError> {
        let wanted = serde_json::to_string(emails).map_err(unavailable)?;
        let count = emails.len();
        let found: Vec<(usize, String)> = self
            .with(move |connection| {
                let mut statement = connection
                    .prepare_cached(
                        "SELECT j.key, c.doc FROM json_each(?1) j
                         CROSS JOIN customer_emails e ON e.email = j.value
                         CROSS JOIN customers c ON c.id = e.customer_id",
                    )
                    .map_err(unavailable)?;
                let rows = statement
                    .query_map([&wanted], |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)
            })
            .await?;
        // Parsed here, outside the connection's lock.
        let mut customers = vec![None; count];
        for (position, doc) in found {
            if let Some(slot) = customers.get_mut(position) {
                *slot = Some(from_doc(&doc)?);
            }
        }
        Ok(customers)
    }

    /// One transaction for the whole batch (one commit, one fsync). Each write checks before it
    /// changes anything, so a refused write needs no rollback and does not stop the others.
    /// Listing keys go to the backlog, merged in key order once it is large (see `keys`).
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
        let (backlog, merge_at) = (Arc::clone(&self.backlog), self.merge_at);
        let (outcomes, staged) = self
            .write(move |tx| {
                let mut outcomes = Vec::with_capacity(prepared.len());
                let mut staged = backlog.load(Ordering::Relaxed);
                for (write, doc) in &prepared {
                    let outcome = match write {
                        CustomerWrite::Insert(customer) => {
                            insert_customer_in(tx, customer, doc, KeyWrites::Backlog)
                        }
                        CustomerWrite::Replace { previous, next } => {
                            replace_customer_in(tx, previous, next, doc, KeyWrites::Backlog)
                        }
                    };
                    match outcome {
                        Ok(put_in_backlog) => {
                            staged += usize::from(put_in_backlog);
                            outcomes.push(Ok(()));
                        }
                        Err(StoreError::Unavailable(message)) => {
                            return Err(StoreError::Unavailable(message));
                        }
                        Err(refused) => outcomes.push(Err(refused)),
                    }
                }
                if merge_due(staged, newest_customer_row(tx)?, merge_at) {
                    merge_backlog(tx)?;
                    staged = 0;
                }
                Ok((outcomes, staged))
            })
            .await?;
        // Only once committed: a rolled-back batch left nothing in the backlog.
        self.backlog.store(staged, Ordering::Relaxed);
        Ok(outcomes)
    }

    /// One batch written while the next two are prepared: with one writer, more only hold
    /// memory (a 1M-row import: 72,800 rows/s at a 82 MiB peak with 3; 71,000 at 105 MiB
    /// with 6).
    fn bulk_batches_in_flight(&self) -> usize {
        3
    }

    async fn finish_bulk_writes(&self) -> Result<(), StoreError> {
        if self.backlog.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        self.write(|tx| merge_backlog(tx)).await?;
        self.backlog.store(0, Ordering::Relaxed);
        Ok(())
    }

    async fn delete_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let customer = customer.clone();
        self.write(move |tx| {
            if customer_version(tx, &customer.id)? != Some(customer.version) {
                return Err(StoreError::VersionMismatch);
            }
            for email in customer.all_emails() {
                exec(
                    tx,
                    "DELETE FROM customer_emails WHERE email = ?1 AND customer_id = ?2",
                    params![email, customer.id],
                )?;
            }
            write_keys(tx, &customer.id, Some(&customer), None, KeyWrites::Indexed)?;
            for sql in [
                "DELETE FROM notes WHERE customer_id = ?1",
                super::history::DELETE_HISTORY,
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
        self.with(move |connection| list_in(connection, &query))
            .await
    }

    async fn walk_customers(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        let after = cursor.unwrap_or_default().to_string();
        let rows = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        self.with(move |connection| {
            let found: Vec<(String, Customer)> = read_docs(
                connection,
                "SELECT id, doc FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2",
                rusqlite::params![after, rows],
            )?;
            Ok(Page::from_rows(found, limit))
        })
        .await
    }

    async fn list_unassigned_by_domain(
        &self,
        domain: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError> {
        let domain = domain.to_string();
        let from = after.map(successor).unwrap_or_default();
        self.with(move |connection| {
            let rows = listed_by_keys(
                connection,
                DOMAIN,
                (
                    &name_key(&domain, &from),
                    &format!("{domain}{}", char::from(KEY_SEPARATOR as u8 + 1)),
                ),
                limit + 1,
                |key, customer| {
                    (customer.profile.company_id.is_none()
                        && email_domain(customer.email()) == domain)
                        .then(|| key_email(key).to_string())
                },
            )?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn add_note(&self, customer: &Customer, note: &Note) -> Result<(), StoreError> {
        customer.refuse_change_under_erasure()?;
        let (customer_id, version, note) = (customer.id.clone(), customer.version, note.clone());
        self.write(move |tx| {
            if customer_version(tx, &customer_id)? != Some(version) {
                return Err(StoreError::VersionMismatch);
            }
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

    async fn delete_note(&self, customer_id: &str, note: &Note) -> Result<(), StoreError> {
        let (id, key) = (customer_id.to_string(), crate::ports::store::note_key(note));
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM notes WHERE customer_id = ?1 AND sort_key = ?2",
                params![id, key],
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
