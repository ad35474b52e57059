//! The one connection: reads, immediate write transactions, and row helpers.

use super::*;

impl SqliteStore {
    /// Runs `work` on the connection off the async threads.
    pub(super) async fn with<T, F>(&self, work: F) -> Result<T, StoreError>
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
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Deferred, work).await
    }

    /// Runs `work` in an immediate (write-locking) transaction, committed only if it succeeds.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Immediate, work).await
    }

    pub(super) async fn transaction<T, F>(
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

    /// One page of `sql` (owner `?1`, keys below `?2`, at most `?3` rows, newest first).
    pub(super) async fn newest_first<T: DeserializeOwned + Send + 'static>(
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
}

/// Runs a statement through the connection's statement cache (imports run them per row).
pub(super) fn exec(
    tx: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(unavailable)
}

/// One row (or none) through the statement cache.
pub(super) fn query_row<T>(
    tx: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, map).optional())
        .map_err(unavailable)
}

/// The document of the one row `sql` selects, if any.
pub(super) fn read_doc<T: DeserializeOwned>(
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

pub(super) fn read_docs<T: DeserializeOwned>(
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
