//! Local mode's wiring: everything over one SQLite store and one data folder, which stands in
//! for both buckets; outgoing mail goes to the outbox folder.

use std::sync::Arc;

use super::*;
use crate::domain::error::HelpdeskError;
use crate::objects::FolderStore;
use crate::ports::due::DueWorkSource;
use crate::services::inbound::MailContext;
use crate::store::sqlite::SqliteStore;

/// How local mode sends: from where, the welcome email's text, and through what (the outbox).
pub struct LocalMail {
    pub support: SupportAddress,
    pub welcome: WelcomeTemplate,
    pub mailer: Arc<dyn Mailer>,
}

/// The parts of `helpdesk serve` and of the one-shot commands.
#[derive(Clone)]
pub struct Local {
    store: Arc<dyn Store>,
    folder: Arc<FolderStore>,
    support: SupportAddress,
    /// What is due: asked every few seconds by the watcher, as the cloud's stream says it.
    pub due: Arc<dyn DueWorkSource>,
    /// Does the due work: mail to the outbox, erasures, merges, migrations.
    pub runner: DueWorkRunner,
    /// Inbound mail: raw mail, attachments and bodies in the data folder.
    pub inbound: MailContext,
    /// The change log's writer, and the queue the database fills with each change.
    changes: crate::services::changes::ChangeLogger,
    queue: Arc<dyn crate::ports::changes::ChangeQueue>,
    /// Webhooks and their outbox.
    webhooks: crate::services::webhooks::WebhookService,
}

/// Local mode over `store` and the data `folder` (its objects: uploads, raw mail, reports).
pub fn local(store: Arc<SqliteStore>, folder: Arc<FolderStore>, mail: LocalMail) -> Local {
    let due: Arc<dyn DueWorkSource> = store.clone();
    let queue: Arc<dyn crate::ports::changes::ChangeQueue> = store.clone();
    let webhooks = crate::services::webhooks::WebhookService::new(store.clone(), false);
    let store: Arc<dyn Store> = store;
    let objects: Arc<dyn ObjectStore> = folder.clone();
    let runner = local_runner(&store, objects.clone(), mail.mailer, mail.welcome);
    Local {
        inbound: inbound(&store, objects),
        changes: change_logger(&store),
        queue,
        webhooks,
        store,
        folder,
        support: mail.support,
        due,
        runner,
    }
}

/// What local mode's watcher runs: mail (to the outbox, or through an SMTP relay), erasures,
/// merges, migrations. The outbox keeps a copy of what it sent: an erasure deletes those too.
/// Recipients a relay refuses are marked as after a hard bounce.
pub fn local_runner(
    store: &Arc<dyn Store>,
    objects: Arc<dyn ObjectStore>,
    mailer: Arc<dyn Mailer>,
    welcome: WelcomeTemplate,
) -> DueWorkRunner {
    let mailer: Arc<dyn Mailer> = Arc::new(
        crate::services::replies::refusals::MarkRefusedRecipients::new(mailer, feedback(store)),
    );
    DueWorkRunner {
        erasures: Some(privacy(store, objects.clone(), Some(mailer.clone()))),
        exports: Some(exports(store, objects)),
        merges: Some(merges(store)),
        migrations: Some(MigrationService::new(store.clone())),
        ..mail_runner(store, mailer, welcome)
    }
}

impl Local {
    /// The API's state, callers authenticated by `auth`, links made from `links`.
    pub fn api_state(
        &self,
        auth: Arc<dyn crate::http::auth::Authenticator>,
        links: crate::http::Links,
    ) -> crate::http::AppState {
        let folder: Arc<dyn ObjectStore> = self.folder.clone();
        let mut state = api_state(
            &self.store,
            folder.clone(),
            folder,
            self.support.clone(),
            auth,
            links,
        );
        state.webhooks = Some(self.webhooks.clone());
        state
    }

    /// This app with webhooks to loopback and private addresses allowed
    /// (`--allow-private-webhooks`).
    pub fn allowing_private_webhooks(mut self, allow: bool) -> Self {
        self.webhooks.allow_private = allow;
        self
    }

    /// The webhooks, for their delivery loop.
    pub fn webhooks(&self) -> &crate::services::webhooks::WebhookService {
        &self.webhooks
    }

    /// The custom field definitions, for views built outside a request (webhook bodies).
    pub async fn field_set(&self) -> Result<crate::domain::field::FieldSet, HelpdeskError> {
        customers(&self.store).field_set().await
    }

    /// Turns the changes queued since the last call into events in the change log (the cloud's
    /// notifier does it from the table's stream); answers how many events were filed.
    pub async fn log_changes(&self) -> Result<usize, HelpdeskError> {
        self.changes.drain(self.queue.as_ref()).await
    }

    /// Forgets events older than the feed keeps (30 days).
    pub async fn sweep_change_log(&self) -> Result<usize, HelpdeskError> {
        self.changes
            .sweep(crate::services::changes::RETENTION_DAYS)
            .await
    }

    /// Deletes merges whose undo window has passed (the cloud's table expires them itself);
    /// answers how many.
    pub async fn forget_expired_merges(&self) -> Result<usize, HelpdeskError> {
        let now = crate::domain::clock::now();
        Ok(self.store.forget_expired_merges(&now, 100).await?)
    }

    /// The customer export (`helpdesk export`, and the API's export jobs).
    pub fn exports(&self) -> crate::services::exports::ExportService {
        exports(&self.store, self.folder.clone())
    }

    /// The data folder, whose download tokens the local download route redeems.
    pub fn folder(&self) -> &Arc<FolderStore> {
        &self.folder
    }

    /// An import run reading its file from `sources` (the data folder, or the folder of a
    /// file named on the command line), its report written into the data folder.
    pub fn import_run(&self, sources: Arc<dyn ObjectStore>) -> ImportContext {
        import_run(&self.store, sources, self.folder.clone())
    }
}
