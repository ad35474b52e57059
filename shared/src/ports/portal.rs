//! What the customer portal asks of a store: its listings of tickets, sign-in requests and
//! codes, and sessions.

use async_trait::async_trait;

use crate::domain::error::StoreError;
use crate::domain::portal::{PortalSession, SignInCode, SignInRequest};
use crate::ports::page::Page;

#[async_trait]
pub trait PortalStore: Send + Sync {
    /// The ids of the tickets in portal listing `scope` (`domain::portal::portal_scopes`),
    /// newest public activity first. The stores keep the listings with every write of a
    /// ticket; the caller reads each ticket again and decides with `portal::visible`.
    async fn list_portal_tickets(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StoreError>;

    /// Queues a request for a sign-in code; queuing one with a known id changes nothing.
    async fn queue_sign_in(&self, request: &SignInRequest) -> Result<(), StoreError>;
    async fn get_sign_in(&self, id: &str) -> Result<Option<SignInRequest>, StoreError>;
    /// Takes a request off the queue (one that is gone: nothing happens).
    async fn delete_sign_in(&self, id: &str) -> Result<(), StoreError>;

    /// Stores the code sent to an address, replacing any code sent before.
    async fn put_code(&self, code: &SignInCode) -> Result<(), StoreError>;
    async fn get_code(&self, address_hash: &str) -> Result<Option<SignInCode>, StoreError>;
    /// Replaces `previous` by `next` (a wrong try counted) if it is still at its version.
    async fn replace_code(
        &self,
        previous: &SignInCode,
        next: &SignInCode,
    ) -> Result<(), StoreError>;
    /// Deletes `code` if it is still at its version (`VersionMismatch` otherwise): a code
    /// is used once, by whoever deletes it first.
    async fn use_code(&self, code: &SignInCode) -> Result<(), StoreError>;
    /// Deletes the code sent to an address, whatever its version (an erasure).
    async fn delete_code(&self, address_hash: &str) -> Result<(), StoreError>;

    async fn put_session(&self, session: &PortalSession) -> Result<(), StoreError>;
    async fn get_session(&self, token_hash: &str) -> Result<Option<PortalSession>, StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Deletes every session of a customer (an erasure: sessions name the address).
    async fn delete_sessions_of(&self, customer_id: &str) -> Result<(), StoreError>;
}
