//! The salt of address hashes (erasure tombstones and address marks), and address marks.

use super::*;

use crate::domain::address::{AddressMark, AddressMarks};
use crate::ports::store::{AddressStore, ErasureStore};

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
}

#[async_trait]
impl AddressStore for DynamoStore {
    async fn address_marks(&self, hashes: &[String]) -> Result<Vec<AddressMarks>, StoreError> {
        let pks: Vec<String> = hashes.iter().map(|h| address_pk(h)).collect();
        let items = self.batch_get(&pks).await?;
        pks.iter()
            .map(|pk| match items.get(pk) {
                None => Ok(AddressMarks::default()),
                Some(item) => marks_of_item(item),
            })
            .collect()
    }

    async fn write_address_marks(
        &self,
        hash: &str,
        previous: &AddressMarks,
        next: &AddressMarks,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(address_pk(hash))),
            ("sk".into(), s(SINGLE)),
            ("kind".into(), s("address")),
            ("version".into(), n(next.version)),
            ("doc".into(), to_doc(next)?),
        ]);
        // A suppression written before marks were versioned has no `version`: version 0.
        let (condition, values) = if previous.version == 0 {
            (
                "attribute_not_exists(pk) OR attribute_not_exists(version)",
                vec![],
            )
        } else {
            (AT_VERSION, vec![(":version", n(previous.version))])
        };
        self.put_conditional(item, condition, &values, StoreError::VersionMismatch)
            .await
    }
}

/// An address's marks; an item written before marks existed (`erasure_id` only) is a
/// suppression.
fn marks_of_item(item: &Item) -> Result<AddressMarks, StoreError> {
    if item.contains_key("doc") {
        return from_item(item);
    }
    Ok(AddressMarks {
        suppressed: get_s(item, "erasure_id").map(|id| AddressMark {
            at: None,
            by: format!("erasure {id}"),
            reason: None,
        }),
        ..AddressMarks::default()
    })
}
