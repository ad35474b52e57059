//! The schema and opening the database file.

use super::*;

pub(super) const SCHEMA: &str = r#"
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
}
