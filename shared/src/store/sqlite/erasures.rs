//! The salt of address hashes (erasure tombstones and address marks), and address marks.

use super::*;

use crate::domain::address::AddressMarks;
use crate::ports::store::{AddressStore, ErasureStore};

const SALT: &str = "erasure_salt";

#[async_trait]
impl ErasureStore for SqliteStore {
    async fn erasure_salt(&self) -> Result<String, StoreError> {
        let fresh = crate::domain::erasure::new_salt();
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![SALT, fresh],
            )?;
            query_row(
                tx,
                "SELECT value FROM settings WHERE name = ?1",
                [SALT],
                |r| r.get(0),
            )?
            .ok_or_else(|| StoreError::Unavailable("erasure salt vanished".into()))
        })
        .await
    }
}

#[async_trait]
impl AddressStore for SqliteStore {
    async fn address_marks(&self, hashes: &[String]) -> Result<Vec<AddressMarks>, StoreError> {
        let hashes = hashes.to_vec();
        self.with(move |connection| {
            // Most registries are empty or small: one cheap check spares an import batch its
            // lookups, and the rest go a chunk to a statement.
            let any: bool = connection
                .query_row("SELECT EXISTS (SELECT 1 FROM address_marks)", [], |r| {
                    r.get(0)
                })
                .map_err(unavailable)?;
            let mut found = std::collections::HashMap::new();
            if any {
                for chunk in hashes.chunks(500) {
                    let slots = vec!["?"; chunk.len()].join(",");
                    let sql = format!(
                        "SELECT email_hash, doc FROM address_marks WHERE email_hash IN ({slots})"
                    );
                    let rows: Vec<(String, AddressMarks)> =
                        read_docs(connection, &sql, rusqlite::params_from_iter(chunk))?;
                    found.extend(rows);
                }
            }
            Ok(hashes
                .iter()
                .map(|hash| found.get(hash).cloned().unwrap_or_default())
                .collect())
        })
        .await
    }

    async fn write_address_marks(
        &self,
        hash: &str,
        previous: &AddressMarks,
        next: &AddressMarks,
    ) -> Result<(), StoreError> {
        let (hash, was, version, doc) = (
            hash.to_string(),
            previous.version,
            next.version,
            to_doc(next)?,
        );
        self.write(move |tx| {
            let written = if was == 0 {
                exec(
                    tx,
                    "INSERT INTO address_marks (email_hash, version, doc) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![hash, version, doc],
                )?
            } else {
                exec(
                    tx,
                    "UPDATE address_marks SET version = ?3, doc = ?4
                     WHERE email_hash = ?1 AND version = ?2",
                    params![hash, was, version, doc],
                )?
            };
            if written == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl crate::ports::store::RateLimitStore for SqliteStore {
    async fn count_event(
        &self,
        key: &str,
        window_start: i64,
        _window_seconds: i64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let key = key.to_string();
        self.write(move |tx| {
            // Windows before this one count no more.
            exec(
                tx,
                "DELETE FROM rate_limits WHERE key = ?1 AND window < ?2",
                params![key, window_start],
            )?;
            let counted = exec(
                tx,
                "INSERT INTO rate_limits (key, window, events) VALUES (?1, ?2, 1)
                 ON CONFLICT (key, window) DO UPDATE SET events = events + 1
                 WHERE events < ?3",
                params![key, window_start, limit],
            )?;
            Ok(counted == 1)
        })
        .await
    }
}
