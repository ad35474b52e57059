//! Erasures, the salt of address hashes and suppressed addresses.

use super::*;

use crate::ports::store::ErasureStore;

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

    async fn suppress(&self, email_hash: &str, erasure_id: &str) -> Result<(), StoreError> {
        let (hash, id) = (email_hash.to_string(), erasure_id.to_string());
        self.write(move |tx| {
            exec(
                tx,
                "INSERT INTO suppressed (email_hash, erasure_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![hash, id],
            )?;
            Ok(())
        })
        .await
    }

    async fn is_suppressed(&self, email_hash: &str) -> Result<bool, StoreError> {
        let hash = email_hash.to_string();
        self.with(move |connection| {
            Ok(query_row(
                connection,
                "SELECT 1 FROM suppressed WHERE email_hash = ?1",
                [&hash],
                |r| r.get::<_, i64>(0),
            )?
            .is_some())
        })
        .await
    }
}
