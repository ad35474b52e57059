//! The capabilities of the helpdesk, over the ports. HTTP handlers, Lambda handlers and the
//! local program call these; nothing here knows how it was called.

pub mod companies;
pub mod customers;
pub mod fields;
pub mod history;
pub mod imports;
#[cfg(feature = "mail-parsing")]
pub mod inbound;
pub mod inbound_records;
pub mod merges;
pub mod migrations;
pub mod notifications;
pub mod privacy;
pub mod replies;
pub mod retry;
pub mod tickets;

use std::sync::Arc;

use crate::ports::mailer::Mailer;
use crate::ports::objects::ObjectStore;
use crate::ports::store::Store;
use companies::CompanyService;
use customers::CustomerService;
use fields::FieldService;
use imports::{ImportContext, ImportService};
use inbound_records::InboundRecordService;
use merges::MergeService;
use migrations::MigrationService;
use notifications::{Notifier, WelcomeTemplate};
use privacy::PrivacyService;
use replies::feedback::FeedbackService;
use replies::sender::ReplySender;
use replies::{ReplyService, SupportAddress};
use tickets::TicketService;

/// Every capability wired over one store and the buckets: what the API serves and what local
/// mode runs. Each service holds only the ports it uses; this is where they are handed out.
/// Cheap to clone; built once per process.
#[derive(Clone)]
pub struct Helpdesk {
    pub customers: CustomerService,
    pub companies: CompanyService,
    pub fields: FieldService,
    pub imports: ImportService,
    pub tickets: TicketService,
    pub inbound: InboundRecordService,
    pub privacy: PrivacyService,
    pub merges: MergeService,
    pub migrations: MigrationService,
    pub replies: ReplyService,
    store: Arc<dyn Store>,
    #[cfg(feature = "mail-parsing")]
    mail: Arc<dyn ObjectStore>,
}

impl Helpdesk {
    /// `uploads` is where import files arrive (the import bucket or the data dir), `mail` where
    /// inbound mail, attachments and large bodies are kept.
    pub fn new(
        store: Arc<dyn Store>,
        uploads: Arc<dyn ObjectStore>,
        mail: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            customers: customer_service(&store),
            companies: CompanyService::new(store.clone(), store.clone(), store.clone()),
            fields: FieldService::new(store.clone()),
            imports: ImportService::new(store.clone(), store.clone(), uploads),
            tickets: TicketService::new(store.clone(), store.clone(), mail.clone(), store.clone()),
            inbound: InboundRecordService::new(store.clone()),
            privacy: PrivacyService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                mail.clone(),
            ),
            merges: merge_service(&store),
            migrations: MigrationService::new(store.clone()),
            replies: ReplyService::new(store.clone(), store.clone(), SupportAddress::fallback()),
            store,
            #[cfg(feature = "mail-parsing")]
            mail,
        }
    }

    /// Replies go out from `support` (the default is `helpdesk@localhost`).
    pub fn with_support_address(mut self, support: SupportAddress) -> Self {
        self.replies = ReplyService::new(self.store.clone(), self.store.clone(), support);
        self
    }

    /// An import run reading files from `sources` and writing reports to `reports`.
    pub fn import_context(
        &self,
        sources: Arc<dyn ObjectStore>,
        reports: Arc<dyn ObjectStore>,
    ) -> ImportContext {
        ImportContext::new(self.store.clone(), self.customers.clone(), sources, reports)
    }

    /// Inbound mail over this helpdesk's mail bucket.
    #[cfg(feature = "mail-parsing")]
    pub fn mail_context(&self) -> inbound::MailContext {
        mail_context(&self.store, self.mail.clone())
    }

    /// Welcome emails, sent by `mailer`.
    pub fn notifier(&self, mailer: Arc<dyn Mailer>, template: WelcomeTemplate) -> Notifier {
        Notifier {
            customers: self.store.clone(),
            mailer,
            template,
        }
    }
}

impl Helpdesk {
    /// Queued replies, sent by `mailer`.
    pub fn reply_sender(&self, mailer: Arc<dyn Mailer>) -> ReplySender {
        reply_sender(&self.store, mailer)
    }

    /// SES's delivery feedback, applied to replies and customers.
    pub fn feedback(&self) -> FeedbackService {
        FeedbackService::new(self.store.clone(), self.store.clone())
    }
}

/// Queued replies over one store (the notifier's, and local mode's).
pub fn reply_sender(store: &Arc<dyn Store>, mailer: Arc<dyn Mailer>) -> ReplySender {
    ReplySender {
        tickets: store.clone(),
        customers: store.clone(),
        mailer,
    }
}

/// The customer operations over one store (the import and inbound paths need them too).
fn customer_service(store: &Arc<dyn Store>) -> CustomerService {
    CustomerService::new(store.clone(), store.clone(), store.clone(), store.clone())
}

/// Merges over one store (the API's, and the jobs function's).
pub fn merge_service(store: &Arc<dyn Store>) -> MergeService {
    MergeService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        FieldService::new(store.clone()),
    )
}

/// Inbound mail over one store and the mail bucket.
#[cfg(feature = "mail-parsing")]
fn mail_context(store: &Arc<dyn Store>, mail: Arc<dyn ObjectStore>) -> inbound::MailContext {
    inbound::MailContext::new(
        customer_service(store),
        store.clone(),
        store.clone(),
        store.clone(),
        mail,
    )
}
