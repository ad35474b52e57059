//! The wiring, in one place: one constructor per entry point (the API, csv-import,
//! email-ingest, notifier, jobs and delivery-feedback functions, and local mode), each building
//! its services over the adapters it is given. Entry points read their configuration, make
//! their adapters and call one of these; tests call the same constructors over test adapters.
//!
//! Every service holds only the ports it uses; here is where they are handed out.

#[cfg(all(feature = "sqlite", feature = "http", feature = "mail-parsing"))]
mod local;

#[cfg(all(feature = "sqlite", feature = "http", feature = "mail-parsing"))]
pub use local::{Local, LocalMail, local, local_runner};

use std::sync::Arc;
#[cfg(any(feature = "jobs", feature = "notifier", feature = "csv-import"))]
use std::time::Duration;

use crate::ports::mailer::Mailer;
use crate::ports::objects::ObjectStore;
use crate::ports::store::Store;
#[cfg(feature = "http")]
use crate::services::companies::CompanyService;
use crate::services::customers::CustomerService;
use crate::services::due::DueWorkRunner;
use crate::services::fields::FieldService;
use crate::services::imports::ImportContext;
#[cfg(feature = "http")]
use crate::services::imports::ImportService;
#[cfg(feature = "http")]
use crate::services::inbound_records::InboundRecordService;
use crate::services::merges::MergeService;
use crate::services::migrations::MigrationService;
use crate::services::notifications::{Notifier, WelcomeTemplate};
use crate::services::privacy::PrivacyService;
#[cfg(feature = "http")]
use crate::services::replies::ReplyService;
use crate::services::replies::SupportAddress;
use crate::services::replies::feedback::FeedbackService;
use crate::services::replies::sender::ReplySender;
#[cfg(feature = "http")]
use crate::services::tickets::TicketService;

/// The API's state: every service over one store, the upload bucket (import files) and the
/// mail bucket (raw mail, attachments, bodies, exports).
#[cfg(feature = "http")]
pub fn api_state(
    store: &Arc<dyn Store>,
    uploads: Arc<dyn ObjectStore>,
    mail: Arc<dyn ObjectStore>,
    support: SupportAddress,
    auth: Arc<dyn crate::http::auth::Authenticator>,
    links: crate::http::Links,
) -> crate::http::AppState {
    let s = store;
    crate::http::AppState {
        customers: customers(s),
        addresses: crate::services::customers::AddressService::new(addresses(s), customers(s)),
        avatars: avatars(s, mail.clone(), uploads.clone()),
        companies: CompanyService::new(s.clone(), s.clone(), s.clone()),
        fields: FieldService::new(s.clone()),
        imports: ImportService::new(s.clone(), s.clone(), uploads),
        tickets: TicketService::new(s.clone(), s.clone(), mail.clone(), s.clone()),
        inbound: InboundRecordService::new(s.clone()),
        privacy: privacy(s, mail.clone(), None),
        exports: exports(s, mail.clone()),
        merges: merges(s),
        migrations: MigrationService::new(s.clone()),
        replies: ReplyService::new(
            s.clone(),
            s.clone(),
            support.clone(),
            addresses(s),
            crate::services::limits::RateLimiter::new(s.clone()),
        ),
        portal: portal(s, mail, support),
        changes: crate::services::changes::ChangeFeed::new(s.clone()),
        webhooks: None,
        auth,
        links,
    }
}

/// Events to the EventBridge bus `bus`, rendered with the store's field definitions.
#[cfg(feature = "notifier")]
pub fn event_bridge(
    config: &aws_types::SdkConfig,
    store: &Arc<dyn Store>,
    bus: String,
) -> Arc<dyn crate::ports::changes::EventSink> {
    Arc::new(crate::publish::eventbridge::EventBridgeSink::new(
        aws_sdk_eventbridge::Client::new(config),
        bus,
        store.clone(),
    ))
}

/// The change log's writer over the store: the notifier (cloud) and `helpdesk serve` run it.
pub fn change_logger(store: &Arc<dyn Store>) -> crate::services::changes::ChangeLogger {
    let s = store;
    crate::services::changes::ChangeLogger::new(
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
    )
}

/// Avatars: pictures kept in `pictures` (the mail bucket), direct uploads in `uploads`.
pub fn avatars(
    store: &Arc<dyn Store>,
    pictures: Arc<dyn ObjectStore>,
    uploads: Arc<dyn ObjectStore>,
) -> crate::services::avatars::AvatarService {
    crate::services::avatars::AvatarService::new(store.clone(), pictures, uploads)
}

/// The customer portal over the store and the mail bucket (on; a deployment may turn it off).
pub fn portal(
    store: &Arc<dyn Store>,
    mail: Arc<dyn ObjectStore>,
    support: SupportAddress,
) -> crate::services::portal::PortalService {
    crate::services::portal::PortalService::new(crate::services::portal::PortalPorts {
        customers: store.clone(),
        tickets: store.clone(),
        portal: store.clone(),
        addresses: addresses(store),
        limits: crate::services::limits::RateLimiter::new(store.clone()),
        mail,
        support,
        creator: customers(store),
        enabled: true,
    })
}

/// The API function: the router over the table and both buckets, callers from the JWT
/// authorizer's claims.
#[cfg(feature = "http")]
pub fn api(
    store: &Arc<dyn Store>,
    uploads: Arc<dyn ObjectStore>,
    mail: Arc<dyn ObjectStore>,
    support: SupportAddress,
    portal_enabled: bool,
    portal_sso: Option<crate::services::portal::PortalSso>,
) -> axum::Router {
    let auth = Arc::new(crate::http::auth::JwtClaimsAuthenticator);
    let links = crate::http::Links::default();
    let mut state = api_state(store, uploads, mail, support, auth, links);
    state.portal.enabled = portal_enabled;
    state.portal.sso = portal_sso;
    crate::http::router(state)
}

/// An import run reading files from `sources` and writing reports to `reports`.
pub fn import_run(
    store: &Arc<dyn Store>,
    sources: Arc<dyn ObjectStore>,
    reports: Arc<dyn ObjectStore>,
) -> ImportContext {
    ImportContext::new(
        store.clone(),
        customers(store),
        store.clone(),
        sources,
        reports,
    )
}

/// The csv-import function: S3 events and its own continuations run imports; `continuation`
/// hands a run past its deadline to the next invocation.
#[cfg(feature = "csv-import")]
pub fn csv_import<C: crate::lambda::csv_import::Continuation>(
    store: &Arc<dyn Store>,
    bucket: Arc<dyn ObjectStore>,
    mail: Arc<dyn ObjectStore>,
    continuation: C,
    safety_margin: Duration,
) -> crate::lambda::csv_import::CsvImportHandler<C> {
    let context = import_run(store, bucket.clone(), bucket.clone());
    let avatars = avatars(store, mail, bucket);
    crate::lambda::csv_import::CsvImportHandler::new(context, avatars, continuation, safety_margin)
}

/// Inbound mail over one store and the mail bucket.
#[cfg(feature = "mail-parsing")]
pub fn inbound(
    store: &Arc<dyn Store>,
    mail: Arc<dyn ObjectStore>,
) -> crate::services::inbound::MailContext {
    crate::services::inbound::MailContext::new(customers(store), store.clone(), store.clone(), mail)
}

/// The email-ingest function: SES receipt events, the raw mail read from `mail` under
/// `prefix` (default `inbound/`).
#[cfg(feature = "email-ingest")]
pub fn email_ingest(
    store: &Arc<dyn Store>,
    mail: Arc<dyn ObjectStore>,
    prefix: Option<String>,
) -> crate::lambda::email_ingest::EmailIngestHandler {
    crate::lambda::email_ingest::EmailIngestHandler::new(inbound(store, mail), prefix)
}

/// The mail part of due work: welcome emails and queued replies, sent by `mailer`.
pub fn mail_runner(
    store: &Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    template: WelcomeTemplate,
) -> DueWorkRunner {
    let sign_ins =
        template
            .portal_url
            .clone()
            .map(|portal_url| crate::services::portal::SignInSender {
                customers: store.clone(),
                portal: store.clone(),
                addresses: addresses(store),
                mailer: mailer.clone(),
                mail: crate::services::portal::SignInMail {
                    sender: template.sender.clone(),
                    portal_url,
                },
            });
    DueWorkRunner {
        sign_ins,
        welcomes: Some(Notifier {
            customers: store.clone(),
            mailer: mailer.clone(),
            template,
            addresses: addresses(store),
        }),
        replies: Some(reply_sender(store, mailer)),
        ..DueWorkRunner::default()
    }
}

/// The job part of due work: erasures, merges and migrations.
pub fn job_runner(store: &Arc<dyn Store>, mail: Arc<dyn ObjectStore>) -> DueWorkRunner {
    DueWorkRunner {
        erasures: Some(privacy(store, mail.clone(), None)),
        merges: Some(merges(store)),
        migrations: Some(MigrationService::new(store.clone())),
        exports: Some(exports(store, mail)),
        ..DueWorkRunner::default()
    }
}

/// Customer exports: requested through the API, written into the mail bucket's `exports/`.
pub fn exports(
    store: &Arc<dyn Store>,
    mail: Arc<dyn ObjectStore>,
) -> crate::services::exports::ExportService {
    crate::services::exports::ExportService::new(
        store.clone(),
        FieldService::new(store.clone()),
        store.clone(),
        mail,
    )
}

/// The notifier function: the table's stream into the change log (its events on to `events`,
/// EventBridge, when given), and the welcome emails and replies it shows due.
#[cfg(feature = "notifier")]
pub fn notifier(
    store: &Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    template: WelcomeTemplate,
    events: Option<Arc<dyn crate::ports::changes::EventSink>>,
) -> crate::lambda::due_work::DueWorkHandler {
    let runner = mail_runner(store, mailer, template);
    let mut logger = change_logger(store);
    if let Some(sink) = events {
        logger = logger.with_sink(sink);
    }
    crate::lambda::due_work::DueWorkHandler::new("notifier", runner, Duration::ZERO)
        .with_change_log(logger)
}

/// The jobs function: stream records of erasures, merges and migrations running; `margin` is
/// kept back from each invocation's deadline for the checkpoint that wakes the next run.
#[cfg(feature = "jobs")]
pub fn jobs(
    store: &Arc<dyn Store>,
    mail: Arc<dyn ObjectStore>,
    margin: Duration,
) -> crate::lambda::due_work::DueWorkHandler {
    crate::lambda::due_work::DueWorkHandler::new("jobs", job_runner(store, mail), margin)
}

/// SES's delivery feedback (bounces, complaints) applied to replies and customers.
pub fn feedback(store: &Arc<dyn Store>) -> FeedbackService {
    FeedbackService::new(store.clone(), store.clone(), addresses(store))
}

/// The delivery-feedback function: SES events from EventBridge.
#[cfg(feature = "delivery-feedback")]
pub fn delivery_feedback(
    store: &Arc<dyn Store>,
) -> crate::lambda::delivery_feedback::DeliveryFeedbackHandler {
    crate::lambda::delivery_feedback::DeliveryFeedbackHandler::new(feedback(store))
}

fn customers(store: &Arc<dyn Store>) -> CustomerService {
    CustomerService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        addresses(store),
    )
}

/// The address marks over one store (hashed with its salt).
pub fn addresses(store: &Arc<dyn Store>) -> crate::services::addresses::AddressBook {
    crate::services::addresses::AddressBook::new(store.clone(), store.clone())
}

fn merges(store: &Arc<dyn Store>) -> MergeService {
    MergeService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        FieldService::new(store.clone()),
    )
}

fn privacy(
    store: &Arc<dyn Store>,
    mail: Arc<dyn ObjectStore>,
    sent: Option<Arc<dyn Mailer>>,
) -> PrivacyService {
    PrivacyService::new(crate::services::privacy::PrivacyPorts {
        customers: store.clone(),
        history: store.clone(),
        tickets: store.clone(),
        inbound: store.clone(),
        erasures: store.clone(),
        merges: store.clone(),
        portal: store.clone(),
        changes: store.clone(),
        addresses: addresses(store),
        mail,
        sent,
    })
}

/// Queued replies, sent by `mailer`.
pub fn reply_sender(store: &Arc<dyn Store>, mailer: Arc<dyn Mailer>) -> ReplySender {
    ReplySender {
        tickets: store.clone(),
        customers: store.clone(),
        mailer,
        addresses: addresses(store),
    }
}
