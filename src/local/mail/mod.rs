//! Real mail for `helpdesk serve`: the support mailbox fetched over IMAP, and welcome emails,
//! replies and portal codes sent through the team's SMTP relay. Without them, mail goes to
//! `DATA_DIR/outbox/` and comes from `DATA_DIR/inbox/` as before.

mod bookmark;
mod connect;
mod imap;
mod settings;
mod smtp;
mod status;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use helpdesk_shared::mail::OutboxMailer;
use helpdesk_shared::ports::mailer::Mailer;

pub use imap::fetch_mail;
pub use settings::{AfterIngest, ImapSettings, SmtpSettings};
pub use smtp::{SmtpMailer, WithOutboxCopy};
pub use status::{MailStatus, SharedStatus};

/// The mail settings of `helpdesk serve`, as given (command line, environment).
#[derive(Debug, Clone, Default)]
pub struct MailOptions {
    pub imap_url: Option<String>,
    pub imap_password_file: Option<PathBuf>,
    pub imap_poll: Duration,
    pub imap_move_to: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_per_minute: u32,
    /// Keep a copy of what SMTP sent in the outbox folder.
    pub outbox_copy: bool,
    /// `imap://` and `smtp://` without TLS: test servers on this machine only.
    pub insecure: bool,
}

/// What the options make: the mailer (when SMTP is set), the mailbox to fetch, and the status
/// both report to.
pub struct MailConnections {
    pub mailer: Option<Arc<dyn Mailer>>,
    pub imap: Option<ImapSettings>,
    pub status: SharedStatus,
}

impl MailOptions {
    /// Checks the settings and reads the passwords; an error names what to fix.
    pub fn connections(&self, outbox: OutboxMailer) -> Result<MailConnections, String> {
        let status = SharedStatus::default();
        let imap = match &self.imap_url {
            None => None,
            Some(url) => {
                let password = settings::password("IMAP", self.imap_password_file.as_deref())?;
                let (server, mailbox) = settings::imap_endpoint(url, password, self.insecure)?;
                let after = match self.imap_move_to.as_deref().map(str::trim) {
                    Some(folder) if !folder.is_empty() => AfterIngest::MoveTo(folder.to_string()),
                    _ => AfterIngest::MarkSeen,
                };
                Some(ImapSettings {
                    server,
                    mailbox,
                    poll: self.imap_poll,
                    after,
                })
            }
        };
        let mailer = match &self.smtp_url {
            None => None,
            Some(url) => {
                let password = settings::password("SMTP", self.smtp_password_file.as_deref())?;
                let server = settings::smtp_endpoint(url, password, self.insecure)?;
                let relay = SmtpMailer::new(
                    SmtpSettings {
                        server,
                        per_minute: self.smtp_per_minute,
                    },
                    status.clone(),
                );
                let mailer: Arc<dyn Mailer> = match self.outbox_copy {
                    true => Arc::new(WithOutboxCopy { relay, outbox }),
                    false => Arc::new(relay),
                };
                Some(mailer)
            }
        };
        Ok(MailConnections {
            mailer,
            imap,
            status,
        })
    }
}

/// `GET /status` (admins): the mail connections' state, last fetch, counts and errors.
pub async fn status_route(
    axum::Extension(status): axum::Extension<SharedStatus>,
    caller: helpdesk_shared::domain::caller::Caller,
) -> Result<axum::Json<serde_json::Value>, helpdesk_shared::http::ApiError> {
    caller.require_admin()?;
    let mail = status.snapshot();
    Ok(axum::Json(
        serde_json::json!({ "status": "ok", "mail": mail }),
    ))
}
