//! Privacy requests: erasing everything held about a person, and exporting it.

pub mod erasure;
mod export;

use std::sync::Arc;

pub use export::{EXPORTS_PREFIX, Export, ExportedTicket};

use crate::ports::objects::ObjectStore;
use crate::ports::store::{CustomerStore, ErasureStore, HistoryStore, InboundStore, TicketStore};

/// Erasure and export: they reach every store that holds something about a person, and the
/// mail bucket (bodies, attachments, raw mail).
#[derive(Clone)]
pub struct PrivacyService {
    customers: Arc<dyn CustomerStore>,
    history: Arc<dyn HistoryStore>,
    tickets: Arc<dyn TicketStore>,
    inbound: Arc<dyn InboundStore>,
    erasures: Arc<dyn ErasureStore>,
    mail: Arc<dyn ObjectStore>,
}

impl PrivacyService {
    pub fn new(
        customers: Arc<dyn CustomerStore>,
        history: Arc<dyn HistoryStore>,
        tickets: Arc<dyn TicketStore>,
        inbound: Arc<dyn InboundStore>,
        erasures: Arc<dyn ErasureStore>,
        mail: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            customers,
            history,
            tickets,
            inbound,
            erasures,
            mail,
        }
    }
}
