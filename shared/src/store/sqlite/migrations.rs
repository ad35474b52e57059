//! Migration records. A local data file brings its own schema up to date when it opens
//! (`PRAGMA user_version`), so a migration's steps find nothing to rewrite here; the records
//! exist so that the API answers the same in both modes.

use super::job_rows::{insert_job, replace_job};
use super::*;
use crate::domain::migration::{MIGRATIONS, Migration, MigrationStep};
use crate::ports::store::MigrationStore;

const TABLE: &str = "migrations";

#[async_trait]
impl MigrationStore for SqliteStore {
    async fn insert_migration(&self, migration: &Migration) -> Result<(), StoreError> {
        let (running, doc) = (migration.is_running(), to_doc(migration)?);
        let (name, version) = (migration.name.clone(), migration.version);
        self.write(move |tx| insert_job(tx, TABLE, &name, running, version, doc))
            .await
    }

    async fn get_migration(&self, name: &str) -> Result<Option<Migration>, StoreError> {
        let name = name.to_string();
        self.with(move |connection| {
            read_doc(
                connection,
                "SELECT doc FROM migrations WHERE id = ?1",
                [&name],
            )
        })
        .await
    }

    async fn replace_migration(
        &self,
        previous: &Migration,
        next: &Migration,
    ) -> Result<(), StoreError> {
        let (name, was) = (previous.name.clone(), previous.version);
        let (running, version, doc) = (next.is_running(), next.version, to_doc(next)?);
        self.write(move |tx| replace_job(tx, TABLE, &name, was, running, version, doc))
            .await
    }

    async fn migrate(
        &self,
        name: &str,
        _cursor: Option<&str>,
        _limit: usize,
    ) -> Result<MigrationStep, StoreError> {
        if !MIGRATIONS.contains(&name) {
            return Err(StoreError::Unavailable(format!("unknown migration {name}")));
        }
        // Schema migrations ran when the file was opened: nothing is left in an old layout.
        Ok(MigrationStep::default())
    }
}
