//! Migration records. A local data file brings its own schema up to date when it opens
//! (`PRAGMA user_version`), so a migration's steps find nothing to rewrite here; the records
//! exist so that the API answers the same in both modes.

use super::*;
use crate::domain::migration::{MIGRATIONS, MigrationStep};
use crate::ports::store::MigrationStore;

#[async_trait]
impl MigrationStore for SqliteStore {
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
