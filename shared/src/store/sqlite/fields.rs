//! Custom field definitions.

use super::*;

#[async_trait]
impl FieldStore for SqliteStore {
    async fn insert_field(&self, field: &FieldDefinition) -> Result<(), StoreError> {
        let field = field.clone();
        self.write(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO fields (key, version, doc) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![field.key, field.version, to_doc(&field)?],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::FieldKeyTaken(field.key.clone()));
            }
            Ok(())
        })
        .await
    }

    async fn replace_field(
        &self,
        previous: &FieldDefinition,
        next: &FieldDefinition,
    ) -> Result<(), StoreError> {
        let (previous, next) = (previous.clone(), next.clone());
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE fields SET version = ?3, doc = ?4 WHERE key = ?1 AND version = ?2",
                    params![previous.key, previous.version, next.version, to_doc(&next)?],
                )
                .map_err(unavailable)?;
            if updated == 0 {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        })
        .await
    }

    async fn list_fields(&self) -> Result<Vec<FieldDefinition>, StoreError> {
        self.with(|connection| {
            let rows = read_docs(connection, "SELECT key, doc FROM fields ORDER BY key", [])?;
            Ok(rows.into_iter().map(|(_, f)| f).collect())
        })
        .await
    }
}
