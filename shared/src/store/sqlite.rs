//! The local store: one SQLite file (WAL, synchronous=FULL), durable across restarts and crashes.
//!
//! Every write runs in an immediate transaction on one connection, so writers are serialised and
//! a uniqueness or version check and its write can never interleave with another writer.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::customer::Note;
use crate::domain::error::StoreError;
use crate::domain::field::FieldDefinition;
use crate::domain::import_job::ImportJob;
use crate::domain::inbound::InboundRecord;
use crate::domain::inbound::InboundStatus;
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::domain::validation::email_domain;
use crate::ports::store::{
    CustomerQuery, CustomerWrite, KEY_SEPARATOR, MessageWrite, PREFIX_END, Page, Store,
    TicketWrite, note_key,
};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS customers (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL UNIQUE,
    first_lc     TEXT,
    last_lc      TEXT,
    company_id   TEXT,
    email_domain TEXT NOT NULL,
    version      INTEGER NOT NULL,
    doc          TEXT NOT NULL
);
-- Every email a customer owns, primary and alternate: one row each, unique across customers.
CREATE TABLE IF NOT EXISTS customer_emails (
    email       TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL
) WITHOUT ROWID;
-- Every index costs each import row a random-order insert: keys are kept short, and the
-- company index only holds customers that have a company.
CREATE INDEX IF NOT EXISTS customers_first ON customers(first_lc) WHERE first_lc IS NOT NULL;
CREATE INDEX IF NOT EXISTS customers_last ON customers(last_lc) WHERE last_lc IS NOT NULL;
CREATE INDEX IF NOT EXISTS customers_company ON customers(company_id, email) WHERE company_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS customers_unassigned ON customers(email_domain, email) WHERE company_id IS NULL;
CREATE INDEX IF NOT EXISTS customer_emails_owner ON customer_emails(customer_id);
-- Customers whose welcome email is due: local mode has no change stream, so it looks here.
CREATE INDEX IF NOT EXISTS customers_welcome_due ON customers(id)
    WHERE json_extract(doc, '$.welcome.status') = 'pending'
      AND json_extract(doc, '$.welcome.sending_since') IS NULL;
CREATE TABLE IF NOT EXISTS notes (
    customer_id TEXT NOT NULL,
    sort_key    TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (customer_id, sort_key)
);
CREATE TABLE IF NOT EXISTS companies (
    id       TEXT PRIMARY KEY,
    name_key TEXT NOT NULL UNIQUE,
    version  INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS company_domains (
    domain     TEXT PRIMARY KEY,
    company_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS import_jobs (
    id      TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fields (
    key     TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    sort_key    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets(customer_id, sort_key);
CREATE TABLE IF NOT EXISTS ticket_messages (
    ticket_id TEXT NOT NULL,
    sort_key  TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, sort_key)
) WITHOUT ROWID;
-- Each stored Message-ID once: threading looks replies up here, and a copy is stored once.
CREATE TABLE IF NOT EXISTS message_ids (
    message_id TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbound (
    id       TEXT PRIMARY KEY,
    status   TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbound_sorted ON inbound(sort_key);
CREATE INDEX IF NOT EXISTS inbound_status ON inbound(status, sort_key);
"#;

/// A customer by any of its emails, primary or alternate.
const CUSTOMER_BY_EMAIL: &str = "SELECT c.doc FROM customer_emails e JOIN customers c ON c.id = e.customer_id WHERE e.email = ?1";

#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {error}"))
}

fn to_doc<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(unavailable)
}

fn from_doc<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| unavailable(format!("corrupt record: {e}")))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(unavailable)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;
                 -- 32 MiB of page cache: with SQLite's 2 MiB default, bulk imports spent most
                 -- of their time in page-read system calls.
                 PRAGMA cache_size = -32768;
                 PRAGMA wal_autocheckpoint = 8192;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(unavailable)?;
        // Plans do not depend on bound values: without this, SQLite recompiles a statement
        // whenever a new value might change its plan (partial-index checks), which cost a
        // bulk import a third of its time.
        connection
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .map_err(unavailable)?;
        connection.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs `work` on the connection off the async threads.
    async fn with<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere must not lock the store for good: the data is transactional.
            let mut guard = connection
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }

    /// Runs the reads of `work` in one read transaction: one consistent snapshot, and one lock
    /// round trip instead of one per statement (imports look up whole batches).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Deferred, work).await
    }

    /// Runs `work` in an immediate (write-locking) transaction, committed only if it succeeds.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Immediate, work).await
    }

    async fn transaction<T, F>(
        &self,
        behavior: TransactionBehavior,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.with(move |connection| {
            let tx = connection
                .transaction_with_behavior(behavior)
                .map_err(unavailable)?;
            let value = work(&tx)?;
            tx.commit().map_err(unavailable)?;
            Ok(value)
        })
        .await
    }
}

impl SqliteStore {
    /// One page of `sql` (owner `?1`, keys below `?2`, at most `?3` rows, newest first).
    async fn newest_first<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let owner = owner.to_string();
        let before = after
            .map(str::to_string)
            .unwrap_or_else(|| PREFIX_END.to_string());
        self.with(move |connection| {
            let rows = read_docs(connection, sql, params![owner, before, (limit + 1) as i64])?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

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

/// Runs a statement through the connection's statement cache (imports run them per row).
fn exec(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(unavailable)
}

/// One row (or none) through the statement cache.
fn query_row<T>(
    tx: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, map).optional())
        .map_err(unavailable)
}

fn email_owner(tx: &Connection, email: &str) -> Result<Option<String>, StoreError> {
    query_row(
        tx,
        "SELECT customer_id FROM customer_emails WHERE email = ?1",
        [email],
        |r| r.get(0),
    )
}

fn customer_version(tx: &Connection, id: &str) -> Result<Option<u64>, StoreError> {
    query_row(
        tx,
        "SELECT version FROM customers WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
}

fn write_customer_row(tx: &Connection, customer: &Customer, doc: &str) -> Result<(), StoreError> {
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

fn insert_customer_in(tx: &Connection, customer: &Customer, doc: &str) -> Result<(), StoreError> {
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

fn replace_customer_in(
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

/// The document of the one row `sql` selects, if any.
fn read_doc<T: DeserializeOwned>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    let doc: Option<String> = connection
        .query_row(sql, params, |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    doc.map(|d| from_doc(&d)).transpose()
}

fn read_docs<T: DeserializeOwned>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(unavailable)?;
    let rows = statement
        .query_map(params, |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        let (key, doc) = row.map_err(unavailable)?;
        out.push((key, from_doc(&doc)?));
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
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

    async fn insert_company(&self, company: &Company) -> Result<(), StoreError> {
        let company = company.clone();
        self.write(move |tx| {
            check_company_claims(tx, &company)?;
            exec(
                tx,
                "INSERT INTO companies (id, name_key, version, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    company.id,
                    company.name_key(),
                    company.version,
                    to_doc(&company)?
                ],
            )?;
            for domain in &company.domains {
                exec(
                    tx,
                    "INSERT INTO company_domains (domain, company_id) VALUES (?1, ?2)",
                    params![domain, company.id],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_company(&self, id: &str) -> Result<Option<Company>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(connection, "SELECT doc FROM companies WHERE id = ?1", [&id])
        })
        .await
    }

    async fn replace_company(&self, previous: &Company, next: &Company) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| {
            let version: Option<u64> = tx
                .query_row(
                    "SELECT version FROM companies WHERE id = ?1",
                    [&previous.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if version != Some(previous.version) {
                return Err(StoreError::VersionMismatch);
            }
            check_company_claims(tx, &next)?;
            exec(
                tx,
                "DELETE FROM company_domains WHERE company_id = ?1",
                [&next.id],
            )?;
            for domain in &next.domains {
                exec(
                    tx,
                    "INSERT INTO company_domains (domain, company_id) VALUES (?1, ?2)",
                    params![domain, next.id],
                )?;
            }
            exec(
                tx,
                "UPDATE companies SET name_key = ?2, version = ?3, doc = ?4 WHERE id = ?1",
                params![next.id, next.name_key(), next.version, to_doc(&next)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_company(&self, company: &Company) -> Result<(), StoreError> {
        let company = company.clone();
        self.write(move |tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM companies WHERE id = ?1 AND version = ?2",
                    params![company.id, company.version],
                )
                .map_err(unavailable)?;
            if deleted == 0 {
                return Err(StoreError::VersionMismatch);
            }
            exec(
                tx,
                "DELETE FROM company_domains WHERE company_id = ?1",
                [&company.id],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_companies(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Company>, StoreError> {
        let after = after.unwrap_or_default().to_string();
        self.with(move |connection| {
            let rows = read_docs(
                connection,
                "SELECT name_key, doc FROM companies WHERE name_key > ?1 ORDER BY name_key LIMIT ?2",
                params![after, (limit + 1) as i64],
            )?;
            Ok(Page::from_rows(rows, limit))
        })
        .await
    }

    async fn find_company_by_name(&self, name: &str) -> Result<Option<Company>, StoreError> {
        let key = crate::domain::company::name_key(name);
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM companies WHERE name_key = ?1",
                [&key],
            )
        })
        .await
    }

    async fn companies_for_domains(
        &self,
        domains: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let domains = domains.to_vec();
        self.read(move |tx| {
            domains
                .iter()
                .map(|domain| {
                    query_row(
                        tx,
                        "SELECT company_id FROM company_domains WHERE domain = ?1",
                        [domain],
                        |r| r.get(0),
                    )
                })
                .collect()
        })
        .await
    }

    async fn company_for_domain(&self, domain: &str) -> Result<Option<String>, StoreError> {
        let domain = domain.to_string();
        self.with(move |connection| {
            connection
                .query_row(
                    "SELECT company_id FROM company_domains WHERE domain = ?1",
                    [&domain],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)
        })
        .await
    }

    async fn insert_field(&self, field: &FieldDefinition) -> Result<(), StoreError> {
        let field = field.clone();
        self.write(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO fields (key, version, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![field.key, field.version, to_doc(&field)?],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::FieldKeyTaken(field.key.clone()));
            }
            Ok(())
        })
        .await
    }

    async fn replace_field(
        &self,
        previous: &FieldDefinition,
        next: &FieldDefinition,
    ) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE fields SET version = ?3, doc = ?4 WHERE key = ?1 AND version = ?2",
                    params![previous.key, previous.version, next.version, to_doc(&next)?],
                )
                .map_err(unavailable)?;
            if updated == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }

    async fn list_fields(&self) -> Result<Vec<FieldDefinition>, StoreError> {
        self.with(|connection| {
            let rows = read_docs(connection, "SELECT key, doc FROM fields ORDER BY key", [])?;
            Ok(rows.into_iter().map(|(_, f)| f).collect())
        })
        .await
    }

    async fn insert_import_job(&self, job: &ImportJob) -> Result<(), StoreError> {
        let job = job.clone();
        self.write(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO import_jobs (id, version, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![job.id, job.version, to_doc(&job)?],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::Exists(format!("import {}", job.id)));
            }
            Ok(())
        })
        .await
    }

    async fn get_import_job(&self, id: &str) -> Result<Option<ImportJob>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM import_jobs WHERE id = ?1",
                [&id],
            )
        })
        .await
    }

    async fn replace_import_job(
        &self,
        previous: &ImportJob,
        next: &ImportJob,
    ) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE import_jobs SET version = ?3, doc = ?4 WHERE id = ?1 AND version = ?2",
                    params![previous.id, previous.version, next.version, to_doc(&next)?],
                )
                .map_err(unavailable)?;
            if updated == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }

    async fn store_message(&self, write: &MessageWrite) -> Result<(), StoreError> {
        let write = write.clone();
        self.write(move |tx| {
            // Checked in the order the DynamoDB transaction lists them, so both stores report
            // the same failure when several apply.
            if !insert_inbound_in(tx, &write.inbound)? {
                return Err(StoreError::Exists(format!("inbound {}", write.inbound.id)));
            }
            let message = &write.message;
            let claimed = exec(
                tx,
                "INSERT INTO message_ids (message_id, ticket_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![message.message_id, message.ticket_id],
            )?;
            if claimed == 0 {
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
}

fn replace_ticket_in(tx: &Connection, previous: &Ticket, next: &Ticket) -> Result<(), StoreError> {
    let updated = exec(
        tx,
        "UPDATE tickets SET version = ?3, doc = ?4 WHERE id = ?1 AND version = ?2",
        params![previous.id, previous.version, next.version, to_doc(next)?],
    )?;
    if updated == 0 {
        return Err(StoreError::VersionMismatch);
    }
    Ok(())
}

/// Inserts an inbound record; false when one with its id exists.
fn insert_inbound_in(tx: &Connection, record: &InboundRecord) -> Result<bool, StoreError> {
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

/// Refuses a company whose name or domains another company holds.
fn check_company_claims(tx: &Connection, company: &Company) -> Result<(), StoreError> {
    let name_owner: Option<String> = tx
        .query_row(
            "SELECT id FROM companies WHERE name_key = ?1",
            [company.name_key()],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    if name_owner.is_some_and(|owner| owner != company.id) {
        return Err(StoreError::CompanyNameTaken(company.name.clone()));
    }
    for domain in &company.domains {
        let owner: Option<String> = tx
            .query_row(
                "SELECT company_id FROM company_domains WHERE domain = ?1",
                [domain],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        if owner.is_some_and(|owner| owner != company.id) {
            return Err(StoreError::DomainTaken(domain.clone()));
        }
    }
    Ok(())
}
