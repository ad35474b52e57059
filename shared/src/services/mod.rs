//! The capabilities of the helpdesk, over the ports. HTTP handlers, Lambda handlers and the
//! local program call these; nothing here knows how it was called.

pub mod companies;
pub mod customers;
pub mod fields;
pub mod imports;
#[cfg(feature = "mail-parsing")]
pub mod inbound;
pub mod inbound_records;
pub mod notifications;
pub mod retry;
pub mod tickets;

use std::sync::Arc;

use crate::ports::store::Store;

/// The services over one store. Cheap to clone; built once per process.
#[derive(Clone)]
pub struct Helpdesk {
    pub(crate) store: Arc<dyn Store>,
}

impl Helpdesk {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
