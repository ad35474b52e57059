//! Erasures, the salt of address hashes and suppressed addresses.

use super::job_rows::{insert_job, replace_job};
use super::*;
use crate::domain::erasure::Erasure;
use crate::ports::store::ErasureStore;

const SALT: &str = "erasure_salt";
const TABLE: &str = "erasures";

#[async_trait]
impl ErasureStore for SqliteStore {
    async fn insert_erasure(&self, erasure: &Erasure) -> Result<(), StoreError> {
        let (running, doc) = (!erasure.is_done(), to_doc(erasure)?);
        let (id, version) = (erasure.id.clone(), erasure.version);
        self.write(move |tx| insert_job(tx, TABLE, &id, running, version, doc))
            .await
    }

    async fn get_erasure(&self, id: &str) -> Result<Option<Erasure>, StoreError> {
        let id = id.to_string();
        self.with(move |connection| {
            read_doc(connection, "SELECT doc FROM erasures WHERE id = ?1", [&id])
        })
        .await
    }

    async fn replace_erasure(&self, previous: &Erasure, next: &Erasure) -> Result<(), StoreError> {
        let (id, was) = (previous.id.clone(), previous.version);
        let (running, version, doc) = (!next.is_done(), next.version, to_doc(next)?);
        self.write(move |tx| replace_job(tx, TABLE, &id, was, running, version, doc))
            .await?;
        if next.is_done() {
            // With `secure_delete`, what the erasure deleted is then in neither file: the
            // write-ahead log is moved into the database file and emptied.
            self.checkpoint().await?;
        }
        Ok(())
    }

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
