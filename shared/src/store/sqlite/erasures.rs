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

/// No limit's window is longer than a day: a window that began two days before the one being
/// counted (now, or a token's issue time within minutes of now) is over for every key.
const FORGET_WINDOWS_AFTER_SECONDS: i64 = 2 * 86_400;

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
            // Nor do any key's windows that began before the longest one could reach: keys
            // counted once (single sign-on tokens) do not pile up.
            exec(
                tx,
                "DELETE FROM rate_limits WHERE window < ?1",
                params![window_start - FORGET_WINDOWS_AFTER_SECONDS],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::store::RateLimitStore;

    #[tokio::test]
    async fn windows_over_for_two_days_are_forgotten_whatever_their_key() {
        let dir = std::env::temp_dir().join(format!(
            "helpdesk-limits-{}",
            crate::domain::clock::new_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("helpdesk.db")).unwrap();
        let now = 1_796_000_000;
        let long_ago = now - 3 * 86_400;
        // A one-time key, counted once: a second time is refused while its row is kept.
        assert!(store.count_event("jti#a", long_ago, 180, 1).await.unwrap());
        assert!(!store.count_event("jti#a", long_ago, 180, 1).await.unwrap());
        // A recent window, of a day, of another key: kept by later counts.
        assert!(
            store
                .count_event("send#b", now - 86_400, 86_400, 1)
                .await
                .unwrap()
        );
        // Any count now drops what began more than two days before it.
        assert!(store.count_event("jti#c", now, 180, 1).await.unwrap());
        let keys: Vec<String> = store
            .read(|tx| {
                let mut statement = tx
                    .prepare("SELECT key FROM rate_limits ORDER BY key")
                    .map_err(unavailable)?;
                let rows = statement.query_map([], |r| r.get(0)).map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)
            })
            .await
            .unwrap();
        assert_eq!(keys, ["jti#c", "send#b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
