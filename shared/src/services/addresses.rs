//! The address book: marks on addresses (`domain::address`) read and written by every path
//! that creates a customer, gives one an email, or sends mail. Addresses are hashed with the
//! table's salt (the one erasure tombstones use) before they are looked up or stored.

use std::sync::Arc;

use crate::domain::address::{AddressMark, AddressMarks, MarkKind};
use crate::domain::erasure::email_hash;
use crate::domain::error::{HelpdeskError, StoreError};
use crate::domain::validation::FieldError;
use crate::ports::store::{AddressStore, ErasureStore};
use crate::services::retry::{Attempt, retry_on_conflict};

/// Addresses read in one request.
const READ_AT_ONCE: usize = 100;

#[derive(Clone)]
pub struct AddressBook {
    marks: Arc<dyn AddressStore>,
    salts: Arc<dyn ErasureStore>,
    /// The salt, read once per process.
    salt: Arc<tokio::sync::OnceCell<String>>,
}

impl AddressBook {
    pub fn new(marks: Arc<dyn AddressStore>, salts: Arc<dyn ErasureStore>) -> Self {
        Self {
            marks,
            salts,
            salt: Arc::default(),
        }
    }

    /// The salted hash an address is kept under.
    pub async fn hash(&self, email: &str) -> Result<String, HelpdeskError> {
        let salts = &self.salts;
        let salt = self
            .salt
            .get_or_try_init(|| async { salts.erasure_salt().await })
            .await?;
        Ok(email_hash(salt, email))
    }

    /// The marks of each address, answer `i` for `emails[i]`.
    pub async fn marks_of(&self, emails: &[&str]) -> Result<Vec<AddressMarks>, HelpdeskError> {
        let mut hashes = Vec::with_capacity(emails.len());
        for email in emails {
            hashes.push(self.hash(email).await?);
        }
        // The chunks at once: an import batch's thousand addresses cost one round trip.
        let reads = hashes
            .chunks(READ_AT_ONCE)
            .map(|chunk| self.marks.address_marks(chunk));
        let chunks = futures::future::try_join_all(reads).await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    pub async fn marks(&self, email: &str) -> Result<AddressMarks, HelpdeskError> {
        Ok(self.marks_of(&[email]).await?.pop().unwrap_or_default())
    }

    /// Sets (`Some`) or lifts (`None`) one mark of an address; answers whether it changed.
    pub async fn set(
        &self,
        email: &str,
        kind: MarkKind,
        mark: Option<AddressMark>,
    ) -> Result<bool, HelpdeskError> {
        let hash = self.hash(email).await?;
        self.set_hashed(&hash, kind, mark).await
    }

    /// As [`AddressBook::set`], for an address known only by its hash (an erased one).
    pub async fn set_hashed(
        &self,
        hash: &str,
        kind: MarkKind,
        mark: Option<AddressMark>,
    ) -> Result<bool, HelpdeskError> {
        let hashes = [hash.to_string()];
        retry_on_conflict("address", || async {
            let current = self
                .marks
                .address_marks(&hashes)
                .await?
                .pop()
                .unwrap_or_default();
            // A mark already there keeps its first date and author.
            if current.get(kind).is_some() == mark.is_some() {
                return Ok(Attempt::Done(false));
            }
            let next = current.with(kind, mark.clone());
            match self.marks.write_address_marks(hash, &current, &next).await {
                Ok(()) => Ok(Attempt::Done(true)),
                Err(StoreError::VersionMismatch) => Ok(Attempt::Conflict),
                Err(other) => Err(other.into()),
            }
        })
        .await
    }
}

impl AddressBook {
    /// Lets `next` (a new customer, or `previous` changed) have its new addresses, reading
    /// their marks: see [`crate::domain::address::admit`].
    pub async fn admit(
        &self,
        next: &mut crate::domain::customer::Customer,
        previous: Option<&crate::domain::customer::Customer>,
    ) -> Result<(), HelpdeskError> {
        let emails: Vec<String> = crate::domain::address::new_addresses(next, previous)
            .into_iter()
            .map(|(_, email)| email)
            .collect();
        if emails.is_empty() {
            return Ok(());
        }
        let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        let marks = self.marks_of(&refs).await?;
        admitted(crate::domain::address::admit(next, previous, &marks))
    }
}

impl AddressBook {
    /// After a change of a blocked customer: the addresses it gained are blocked too, so
    /// deleting the customer later lifts the block from none of them. (Its other addresses
    /// were marked when it was blocked; an erasure's block is not an admin's and marks none.)
    pub async fn keep_block(
        &self,
        previous: &crate::domain::customer::Customer,
        next: &crate::domain::customer::Customer,
    ) -> Result<(), HelpdeskError> {
        let Some(block) = next
            .blocked
            .as_ref()
            .filter(|_| next.erasure_under_way().is_none())
        else {
            return Ok(());
        };
        let mark = AddressMark {
            at: Some(block.at.clone()),
            by: block.by.clone(),
            reason: None,
        };
        for (_, email) in crate::domain::address::new_addresses(next, Some(previous)) {
            self.set(&email, MarkKind::Blocked, Some(mark.clone()))
                .await?;
        }
        Ok(())
    }
}

/// A refused address is a conflict with what the helpdesk knows of it (409), naming the field.
pub fn admitted(outcome: Result<(), Vec<FieldError>>) -> Result<(), HelpdeskError> {
    outcome.map_err(|errors| HelpdeskError::Conflict {
        detail: "an address cannot be given to this customer".into(),
        errors,
    })
}
