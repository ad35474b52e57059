//! Erasures, the salt of address hashes and suppressed addresses.

use super::*;

use crate::ports::store::ErasureStore;

const SALT_SK: &str = "erasure_salt";

#[async_trait]
impl ErasureStore for DynamoStore {
    async fn erasure_salt(&self) -> Result<String, StoreError> {
        if let Some(item) = self.get(CONFIG_PK.into(), SALT_SK).await?
            && let Some(salt) = get_s(&item, "value")
        {
            return Ok(salt.to_string());
        }
        let salt = crate::domain::erasure::new_salt();
        let item = Item::from([
            ("pk".into(), s(CONFIG_PK)),
            ("sk".into(), s(SALT_SK)),
            ("value".into(), s(&salt)),
        ]);
        // Two first uses at once: one salt wins, and both read it back.
        let on_fail = StoreError::VersionMismatch;
        match self.put_conditional(item, NOT_EXISTS, &[], on_fail).await {
            Ok(()) => Ok(salt),
            Err(StoreError::VersionMismatch) => self
                .get(CONFIG_PK.into(), SALT_SK)
                .await?
                .and_then(|item| get_s(&item, "value").map(str::to_string))
                .ok_or_else(|| StoreError::Unavailable("erasure salt vanished".into())),
            Err(other) => Err(other),
        }
    }

    async fn suppress(&self, email_hash: &str, erasure_id: &str) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(suppressed_pk(email_hash))),
            ("sk".into(), s(SINGLE)),
            ("erasure_id".into(), s(erasure_id)),
        ]);
        // Suppressed already (by this erasure's earlier attempt, or an earlier erasure).
        self.put_if_absent(item).await
    }

    async fn is_suppressed(&self, email_hash: &str) -> Result<bool, StoreError> {
        Ok(self.get(suppressed_pk(email_hash), SINGLE).await?.is_some())
    }
}
