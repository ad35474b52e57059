//! The table and its indexes (tests and local development; SAM creates it in the cloud).

use super::*;

impl DynamoStore {
    /// Creates the table with its indexes (tests and local development; SAM creates it in the
    /// cloud) and waits until it is active.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let index = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(index(INDEX_LISTING, "list_pk", "list_sk")?)
            .global_secondary_indexes(index(INDEX_FIRST, "list_pk", "first_sk")?)
            .global_secondary_indexes(index(INDEX_LAST, "list_pk", "last_sk")?)
            .global_secondary_indexes(index(INDEX_GROUP, "group_pk", "list_sk")?);
        for name in [
            "pk", "sk", "list_pk", "list_sk", "first_sk", "last_sk", "group_pk",
        ] {
            request = request.attribute_definitions(attr(name)?);
        }
        request.send().await.map_err(unavailable)?;
        for _ in 0..600 {
            let status = client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(unavailable)?
                .table
                .and_then(|t| t.table_status);
            if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {table} did not become active"
        )))
    }
}
