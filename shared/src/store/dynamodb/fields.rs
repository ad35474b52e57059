//! Custom field definitions.

use super::*;

#[async_trait]
impl FieldStore for DynamoStore {
    async fn insert_field(&self, field: &FieldDefinition) -> Result<(), StoreError> {
        self.put_conditional(
            field_item(field)?,
            NOT_EXISTS,
            &[],
            StoreError::FieldKeyTaken(field.key.clone()),
        )
        .await
    }

    async fn replace_field(
        &self,
        previous: &FieldDefinition,
        next: &FieldDefinition,
    ) -> Result<(), StoreError> {
        let values = [(":version", n(previous.version))];
        self.put_conditional(
            field_item(next)?,
            AT_VERSION,
            &values,
            StoreError::VersionMismatch,
        )
        .await
    }

    async fn list_fields(&self) -> Result<Vec<FieldDefinition>, StoreError> {
        let mut fields = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (items, stopped_at) = self
                .query_page(
                    None,
                    ("pk", FIELDS_PK.into()),
                    "sk",
                    after.as_deref(),
                    None,
                    500,
                    true,
                )
                .await?;
            for item in &items {
                fields.push(from_item(item)?);
            }
            match stopped_at {
                Some(position) => after = Some(position),
                None => return Ok(fields),
            }
        }
    }
}
