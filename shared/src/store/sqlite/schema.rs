//! The schema, opening the database file, and bringing older files up to date.

use std::sync::atomic::AtomicUsize;

use super::customers::welcome_due;
use super::keys::{KeyWrites, merge_backlog, write_keys};
use super::*;

/// The schema version this code writes, kept in `PRAGMA user_version`:
/// 0: the first layout (customers indexed by email, names and domain);
/// 1: listing keys in `customer_keys`, filled in key order (see `keys`);
/// 2: address marks (suppressions become the first of them), merges found by customer;
/// 3: the customer portal (its listings of tickets, sign-in requests and codes, sessions).
const SCHEMA_VERSION: i64 = 3;

pub(super) const SCHEMA: &str = r#"
-- Customers in id order (ids are time-ordered UUIDs, so new rows append). Imports write many
-- customers at once: each index keyed in random order costs them a page written per row, so
-- this table has none; its listings go through customer_emails and customer_keys, and every
-- listed customer is checked against its document (store::list_key).
CREATE TABLE IF NOT EXISTS customers (
    id          TEXT PRIMARY KEY,
    welcome_due INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
-- Every email a customer owns, primary and alternate: one row each, unique across customers.
CREATE TABLE IF NOT EXISTS customer_emails (
    email       TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL
) WITHOUT ROWID;
-- Listing keys (names, company, domain; see keys.rs), and those written by bulk writes and
-- not yet merged: each such customer's keys, in customer order.
CREATE TABLE IF NOT EXISTS customer_keys (
    key TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS customer_keys_backlog (
    customer_id TEXT PRIMARY KEY,
    keys        TEXT NOT NULL -- a JSON array
) WITHOUT ROWID;
-- Customers whose welcome email is due: local mode has no change stream, so it looks here.
CREATE INDEX IF NOT EXISTS customers_welcome_due ON customers(id) WHERE welcome_due = 1;
CREATE TABLE IF NOT EXISTS notes (
    customer_id TEXT NOT NULL,
    sort_key    TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (customer_id, sort_key)
);
-- The change that made each version of a record (history::entry_between), written in the
-- change's transaction; sort_key is HistoryEntry::key (time, record, version).
CREATE TABLE IF NOT EXISTS history (
    record_id TEXT NOT NULL,
    sort_key  TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (record_id, sort_key)
) WITHOUT ROWID;
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
-- Replies queued for sending (local mode's stand-in for the table's stream polls it): a
-- partial expression index, so it holds only the few queued and covers older databases too.
CREATE INDEX IF NOT EXISTS ticket_messages_queued
    ON ticket_messages(json_extract(doc, '$.delivery.status'))
    WHERE json_extract(doc, '$.delivery.status') = 'queued';
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
-- The records of one sender (erasure and export find them); an expression index, so records
-- stored before it existed are covered too.
CREATE INDEX IF NOT EXISTS inbound_sender ON inbound(lower(json_extract(doc, '$.from')), sort_key);
-- Erasures (jobs, then tombstones), the salt of address hashes, suppressed address hashes.
CREATE TABLE IF NOT EXISTS erasures (
    id      TEXT PRIMARY KEY,
    running INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS merges (
    id      TEXT PRIMARY KEY,
    running INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
-- Customer exports requested through the API.
CREATE TABLE IF NOT EXISTS exports (
    id      TEXT PRIMARY KEY,
    running INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
-- Runs of the cloud table's layout migrations (keyed by name). This file's own schema is
-- migrated when it opens (user_version), so here they have nothing to rewrite.
CREATE TABLE IF NOT EXISTS migrations (
    id      TEXT PRIMARY KEY,
    running INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
-- Marks on addresses that outlive any customer (domain::address), by salted hash.
CREATE TABLE IF NOT EXISTS address_marks (
    email_hash TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL
) WITHOUT ROWID;
-- Rate-limit counters: events per key and window (seconds since the epoch).
CREATE TABLE IF NOT EXISTS rate_limits (
    key    TEXT NOT NULL,
    window INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (key, window)
) WITHOUT ROWID;
-- The portal's listings (domain::portal::portal_scopes): one row per ticket and listing,
-- positioned by newest public activity.
CREATE TABLE IF NOT EXISTS portal_entries (
    scope     TEXT NOT NULL,
    position  TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    PRIMARY KEY (scope, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS portal_entries_ticket ON portal_entries(ticket_id);
-- Sign-in requests waiting to be answered, codes (by address hash), sessions (by token hash).
CREATE TABLE IF NOT EXISTS sign_in_requests (
    id  TEXT PRIMARY KEY,
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sign_in_codes (
    address_hash TEXT PRIMARY KEY,
    version      INTEGER NOT NULL,
    doc          TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS portal_sessions (
    token_hash  TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    doc         TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS portal_sessions_customer ON portal_sessions(customer_id);
-- The merges that hold a copy of each customer (target and sources).
CREATE TABLE IF NOT EXISTS merge_customers (
    customer_id TEXT NOT NULL,
    merge_id    TEXT NOT NULL,
    PRIMARY KEY (customer_id, merge_id)
) WITHOUT ROWID;
"#;

/// Version 1 → 2: suppressed addresses become address marks; the merges kept so far become
/// findable by the customers they hold.
fn migrate_to_address_marks(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(SCHEMA).map_err(unavailable)?;
    let legacy: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'suppressed'",
            [],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    if legacy {
        let rows: Vec<(String, String)> = {
            let mut statement = tx
                .prepare("SELECT email_hash, erasure_id FROM suppressed")
                .map_err(unavailable)?;
            let rows = statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)?
        };
        for (hash, erasure) in rows {
            let marks = crate::domain::address::AddressMarks {
                suppressed: Some(crate::domain::address::AddressMark {
                    at: None,
                    by: format!("erasure {erasure}"),
                    reason: None,
                }),
                version: 1,
                ..Default::default()
            };
            exec(
                tx,
                "INSERT INTO address_marks (email_hash, version, doc) VALUES (?1, 1, ?2)
                 ON CONFLICT DO NOTHING",
                params![hash, to_doc(&marks)?],
            )?;
        }
        tx.execute_batch("DROP TABLE suppressed;")
            .map_err(unavailable)?;
    }
    let merges: Vec<(String, crate::domain::merge::Merge)> =
        read_docs(tx, "SELECT id, doc FROM merges", [])?;
    for (_, merge) in &merges {
        super::merges::insert_memberships(tx, merge)?;
    }
    Ok(())
}

/// Version 0 → 1: the customers table loses its indexes (and the unique email, which
/// customer_emails already guarantees) and the columns they indexed, and each customer's
/// listing keys are written.
fn migrate_to_listing_keys(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    // The old table steps aside with its indexes; SCHEMA then creates the new one.
    tx.execute_batch(
        "ALTER TABLE customers RENAME TO customers_v0;
         DROP INDEX IF EXISTS customers_first;
         DROP INDEX IF EXISTS customers_last;
         DROP INDEX IF EXISTS customers_company;
         DROP INDEX IF EXISTS customers_unassigned;
         DROP INDEX IF EXISTS customers_welcome_due;
         DROP INDEX IF EXISTS customer_emails_owner;",
    )
    .map_err(unavailable)?;
    tx.execute_batch(SCHEMA).map_err(unavailable)?;
    tx.execute_batch(
        "INSERT INTO customers (id, version, doc)
             SELECT id, version, doc FROM customers_v0 ORDER BY id;
         DROP TABLE customers_v0;",
    )
    .map_err(unavailable)?;
    // Keys and the welcome flag come from the documents, through the code that writes them.
    let mut cursor = String::new();
    loop {
        let chunk: Vec<(String, Customer)> = read_docs(
            tx,
            "SELECT id, doc FROM customers WHERE id > ?1 ORDER BY id LIMIT 1000",
            [&cursor],
        )?;
        let Some((last, _)) = chunk.last() else { break };
        cursor = last.clone();
        for (id, customer) in &chunk {
            write_keys(tx, id, None, Some(customer), KeyWrites::Backlog)?;
            if welcome_due(customer) {
                exec(
                    tx,
                    "UPDATE customers SET welcome_due = 1 WHERE id = ?1",
                    [id],
                )?;
            }
        }
    }
    merge_backlog(tx)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut connection = Connection::open(path).map_err(unavailable)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;
                 -- 8 MiB of page cache. Imports write no random-order index but the email
                 -- claims, so a larger cache bought nothing (a 1M-row import: 71,000 rows/s
                 -- with 8, 16 or 32 MiB) but memory: it also bounds the sorter that merges
                 -- listing keys (peaks 105, 121 and 149 MiB).
                 PRAGMA cache_size = -8192;
                 PRAGMA wal_autocheckpoint = 8192;
                 PRAGMA foreign_keys = ON;
                 -- Deleted content is overwritten, not left in free pages: an erasure
                 -- leaves nothing in the file to recover.
                 PRAGMA secure_delete = ON;",
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
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(unavailable)?;
        let existing: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'customers'",
                [],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        if existing && version < 1 {
            tracing::info!(path = %path.display(), "bringing the local database to schema 1");
            migrate_to_listing_keys(&tx)?;
        }
        if existing && version < 2 {
            tracing::info!(path = %path.display(), "bringing the local database to schema 2");
            migrate_to_address_marks(&tx)?;
        }
        if existing && version < 3 {
            tracing::info!(path = %path.display(), "bringing the local database to schema 3");
            tx.execute_batch(SCHEMA).map_err(unavailable)?;
            super::portal::fill_portal_entries(&tx)?;
        }
        tx.execute_batch(SCHEMA).map_err(unavailable)?;
        tx.execute_batch(&super::changes::change_schema())
            .map_err(unavailable)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(unavailable)?;
        // Keys a bulk write left in the backlog before the process stopped.
        merge_backlog(&tx)?;
        tx.commit().map_err(unavailable)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            backlog: Arc::new(AtomicUsize::new(0)),
            merge_at: super::keys::MERGE_AT,
        })
    }
}
