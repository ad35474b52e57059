//! Privacy requests: erasing everything held about a person, and exporting it.

mod anonymise;
mod erase_exports;
mod erase_steps;
pub mod erasure;
mod export;

use std::sync::Arc;

pub use export::{EXPORTS_PREFIX, ExportSink};

use crate::ports::mailer::Mailer;
use crate::ports::objects::ObjectStore;
use crate::ports::portal::PortalStore;
use crate::ports::store::{
    CustomerStore, ErasureStore, HistoryStore, InboundStore, MergeStore, TicketStore,
};
use crate::services::addresses::AddressBook;

/// Erasure and export: they reach every store that holds something about a person, and the
/// mail bucket (bodies, attachments, raw mail).
#[derive(Clone)]
pub struct PrivacyService {
    customers: Arc<dyn CustomerStore>,
    history: Arc<dyn HistoryStore>,
    tickets: Arc<dyn TicketStore>,
    inbound: Arc<dyn InboundStore>,
    erasures: Arc<dyn ErasureStore>,
    merges: Arc<dyn MergeStore>,
    portal: Arc<dyn PortalStore>,
    /// The change log: the person's events go with them.
    changes: Arc<dyn crate::ports::changes::ChangeLog>,
    addresses: AddressBook,
    mail: Arc<dyn ObjectStore>,
    /// Where copies of sent mail are kept, if anywhere (local mode's outbox).
    sent: Option<Arc<dyn Mailer>>,
}

/// What [`PrivacyService`] reaches.
pub struct PrivacyPorts {
    pub customers: Arc<dyn CustomerStore>,
    pub history: Arc<dyn HistoryStore>,
    pub tickets: Arc<dyn TicketStore>,
    pub inbound: Arc<dyn InboundStore>,
    pub erasures: Arc<dyn ErasureStore>,
    pub merges: Arc<dyn MergeStore>,
    pub portal: Arc<dyn PortalStore>,
    pub changes: Arc<dyn crate::ports::changes::ChangeLog>,
    pub addresses: AddressBook,
    pub mail: Arc<dyn ObjectStore>,
    pub sent: Option<Arc<dyn Mailer>>,
}

impl PrivacyService {
    pub fn new(ports: PrivacyPorts) -> Self {
        Self {
            customers: ports.customers,
            history: ports.history,
            tickets: ports.tickets,
            inbound: ports.inbound,
            erasures: ports.erasures,
            merges: ports.merges,
            portal: ports.portal,
            changes: ports.changes,
            addresses: ports.addresses,
            mail: ports.mail,
            sent: ports.sent,
        }
    }
}
