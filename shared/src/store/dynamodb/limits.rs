//! Rate-limit counters: an item per key and window, counted up atomically, expiring with it.

use super::*;
use crate::ports::store::RateLimitStore;

#[async_trait]
impl RateLimitStore for DynamoStore {
    async fn count_event(
        &self,
        key: &str,
        window_start: i64,
        window_seconds: i64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let request = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("LIMIT#{key}#{window_start}")))
            .key("sk", s(SINGLE))
            .update_expression("ADD events :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(events) OR events < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(u64::from(limit)))
            .expression_attribute_values(
                ":expires",
                n((window_start + window_seconds + 3600) as u64),
            );
        match send_retrying(|| request.clone().send()).await.0 {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}
