//! Listing keys: how customers are found by name, company and domain without an index on the
//! customers table itself.
//!
//! Each customer has up to three keys in `customer_keys`: its first and last name keys, and
//! either its company or (without one) its email domain, each followed by the primary email.
//! Single writes put their keys straight into `customer_keys`. Bulk writes (imports) append
//! them to `customer_keys_backlog`, one row per customer in id order, and the backlog is merged into
//! `customer_keys` in key order when it grows large, when an import ends and when the store
//! opens. Inserting keys in random order into an index larger than the page cache rewrote a
//! page per key at each commit; merged in key order, each page is written once per merge.
//! Listings read both tables, so a key is found wherever it is.

use super::*;
use crate::ports::store::name_key;

/// Customers in the backlog before a bulk write merges it, at the least. Beyond that, the
/// backlog grows to the size of the index before it is merged: each merge rewrites the
/// index's pages, so merging at sizes that double keeps a load's merges to about twice the
/// final index's pages (a fixed size would rewrite the index once per fixed step). Listings
/// scan the backlog, so they are slower while a large import runs.
pub(super) const MERGE_AT: usize = 100_000;

/// Whether a backlog of `staged` customers is due for a merge in a table whose newest row is
/// `newest_row` (rows are numbered in insertion order, so it stands for the table's size), at
/// least `merge_at` (MERGE_AT, but for tests).
pub(super) fn merge_due(staged: usize, newest_row: usize, merge_at: usize) -> bool {
    staged >= merge_at.max(newest_row.saturating_sub(staged))
}

/// The number of the customers table's newest row.
pub(super) fn newest_customer_row(tx: &Connection) -> Result<usize, StoreError> {
    let newest: Option<i64> =
        query_row(tx, "SELECT max(rowid) FROM customers", [], |r| r.get(0))?.flatten();
    Ok(newest.unwrap_or(0).max(0) as usize)
}

/// The kinds of listing key: the first character of each key.
pub(super) const FIRST_NAME: char = 'f';
pub(super) const LAST_NAME: char = 'l';
pub(super) const COMPANY: char = 'c';
/// Customers without a company, by the domain of their email.
pub(super) const DOMAIN: char = 'd';
/// Blocked customers, by email (an empty name before the separator, so that every key ends
/// with its email the same way).
pub(super) const BLOCKED: char = 'b';

/// The listing keys of `customer`.
pub(super) fn customer_keys(customer: &Customer) -> Vec<String> {
    let email = customer.email();
    let mut keys = Vec::with_capacity(3);
    if let Some(first) = customer.first_name_key() {
        keys.push(format!("{FIRST_NAME}{}", name_key(&first, email)));
    }
    if let Some(last) = customer.last_name_key() {
        keys.push(format!("{LAST_NAME}{}", name_key(&last, email)));
    }
    match &customer.profile.company_id {
        Some(company) => keys.push(format!("{COMPANY}{}", name_key(company, email))),
        None => keys.push(format!("{DOMAIN}{}", name_key(email_domain(email), email))),
    }
    if customer.blocked.is_some() {
        keys.push(format!("{BLOCKED}{}", name_key("", email)));
    }
    keys
}

/// Where new keys go.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum KeyWrites {
    /// Straight into the index (single writes).
    Indexed,
    /// Into the backlog, merged later in key order (bulk writes).
    Backlog,
}

/// Replaces the keys of `previous` (if any) by those of `next` (if any); answers whether the
/// customer was put in the backlog.
///
/// A customer's backlog row holds all its keys (one row, written in id order, costs a bulk
/// write far less than a row per key); the merge skips those already indexed.
pub(super) fn write_keys(
    tx: &Connection,
    customer_id: &str,
    previous: Option<&Customer>,
    next: Option<&Customer>,
    writes: KeyWrites,
) -> Result<bool, StoreError> {
    let old = previous.map(customer_keys).unwrap_or_default();
    let new = next.map(customer_keys).unwrap_or_default();
    if previous.is_some() && old == new {
        // Wherever they are, index or backlog, they are still right.
        return Ok(false);
    }
    for key in old.iter().filter(|k| !new.contains(k)) {
        exec(tx, "DELETE FROM customer_keys WHERE key = ?1", [key])?;
    }
    if writes == KeyWrites::Backlog && !new.is_empty() {
        // Replaces any earlier backlog row of the customer, with keys removed just now.
        let keys = serde_json::to_string(&new).map_err(unavailable)?;
        exec(
            tx,
            "INSERT OR REPLACE INTO customer_keys_backlog (customer_id, keys) VALUES (?1, ?2)",
            params![customer_id, keys],
        )?;
        return Ok(true);
    }
    if previous.is_some() {
        exec(
            tx,
            "DELETE FROM customer_keys_backlog WHERE customer_id = ?1",
            [customer_id],
        )?;
    }
    for key in &new {
        exec(
            tx,
            "INSERT OR IGNORE INTO customer_keys (key) VALUES (?1)",
            [key],
        )?;
    }
    Ok(false)
}

/// Every key in the backlog, as rows of one column.
const BACKLOG_KEYS: &str = "SELECT j.value FROM customer_keys_backlog b, json_each(b.keys) j";

/// Moves the backlog into the index, in key order.
pub(super) fn merge_backlog(tx: &Connection) -> Result<(), StoreError> {
    tx.execute_batch(&format!(
        "INSERT OR IGNORE INTO customer_keys (key) {BACKLOG_KEYS} ORDER BY 1;
         DELETE FROM customer_keys_backlog;"
    ))
    .map_err(unavailable)
}

/// Rows fetched per step of a walk.
const STEP: usize = 256;

/// Visits, in key order, the keys in `[from, to)` of both the index and the backlog, until
/// `visit` answers false.
pub(super) fn walk_keys(
    connection: &Connection,
    from: &str,
    to: &str,
    mut visit: impl FnMut(&str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    // The backlog is small (see MERGE_AT) and not ordered by key: its matches are read whole.
    let mut backlog: Vec<String> = {
        let mut statement = connection
            .prepare_cached(&format!(
                "{BACKLOG_KEYS} WHERE j.value >= ?1 AND j.value < ?2"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map([from, to], |r| r.get(0))
            .map_err(unavailable)?;
        rows.collect::<Result<_, _>>().map_err(unavailable)?
    };
    backlog.sort_unstable();
    backlog.dedup();
    let mut backlog = backlog.into_iter().peekable();
    let mut from = from.to_string();
    loop {
        let chunk: Vec<String> = {
            let mut statement = connection
                .prepare_cached(
                    "SELECT key FROM customer_keys WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![from, to, STEP as i64], |r| r.get(0))
                .map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)?
        };
        let last_step = chunk.len() < STEP;
        for key in chunk {
            while let Some(staged) = backlog.next_if(|b| *b < key) {
                if !visit(&staged)? {
                    return Ok(());
                }
            }
            // A key in both (a bulk write put all of a customer's keys in its backlog row,
            // some of them already indexed) is visited once.
            backlog.next_if(|b| *b == key);
            if !visit(&key)? {
                return Ok(());
            }
            from = successor(&key);
        }
        if last_step {
            for staged in backlog {
                if !visit(&staged)? {
                    return Ok(());
                }
            }
            return Ok(());
        }
    }
}

/// Visits, in email order, the customers owning an email in `[from, to)` (one visit per
/// email, so a customer with alternates may come several times), until `visit` answers false.
pub(super) fn walk_emails(
    connection: &Connection,
    from: &str,
    to: &str,
    mut visit: impl FnMut(&str, Customer) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut from = from.to_string();
    loop {
        let chunk: Vec<(String, Customer)> = read_docs(
            connection,
            "SELECT e.email, c.doc FROM customer_emails e JOIN customers c ON c.id = e.customer_id
             WHERE e.email >= ?1 AND e.email < ?2 ORDER BY e.email LIMIT ?3",
            params![from, to, STEP as i64],
        )?;
        let last_step = chunk.len() < STEP;
        for (email, customer) in chunk {
            from = successor(&email);
            if !visit(&email, customer)? {
                return Ok(());
            }
        }
        if last_step {
            return Ok(());
        }
    }
}

/// The primary email a key ends with.
pub(super) fn key_email(key: &str) -> &str {
    key.split_once(KEY_SEPARATOR)
        .map(|(_, email)| email)
        .unwrap_or_default()
}

/// The smallest string after `key`: walks and listings resume strictly after a position.
pub(super) fn successor(key: &str) -> String {
    format!("{key}\u{0}")
}
