//! What happened to received mail, for agents: the inbound records. Reading them needs no mail
//! parsing, so the API has them without linking the ingest pipeline.

use crate::domain::caller::Caller;
use crate::domain::error::HelpdeskError;
use crate::domain::inbound::{InboundRecord, InboundStatus};
use crate::ports::store::Page;
use std::sync::Arc;

use crate::ports::store::InboundStore;

/// Reading the inbound records.
#[derive(Clone)]
pub struct InboundRecordService {
    store: Arc<dyn InboundStore>,
}

impl InboundRecordService {
    pub fn new(store: Arc<dyn InboundStore>) -> Self {
        Self { store }
    }

    /// What happened to received mail (optionally of one status), newest first.
    pub async fn list_inbound(
        &self,
        caller: &Caller,
        status: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, HelpdeskError> {
        caller.require_staff()?;
        let status = match status {
            None => None,
            Some(raw) => Some(InboundStatus::parse(raw).ok_or_else(|| {
                HelpdeskError::bad_request("status", "must be ingested, ignored or failed")
            })?),
        };
        Ok(self.store.list_inbound(status, after, limit).await?)
    }

    /// What happened to one received message.
    pub async fn get_inbound(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<InboundRecord, HelpdeskError> {
        caller.require_staff()?;
        self.store
            .get_inbound(id)
            .await?
            .ok_or_else(|| HelpdeskError::NotFound(format!("inbound message {id}")))
    }
}
