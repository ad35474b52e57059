//! What the mail connections are doing, for `GET /status`: an admin sees a wrong password or an
//! unreachable relay there (and in the log), not by noticing that no mail arrives.

use std::sync::{Arc, Mutex};

use helpdesk_shared::domain::clock;
use helpdesk_shared::domain::timestamp::Timestamp;

/// The IMAP side: connection state, the last fetch, counts and the last error.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImapStatus {
    /// `connecting`, `idle` (waiting with IDLE), `polling`, `fetching`, or `error`.
    pub state: &'static str,
    pub server: String,
    pub mailbox: String,
    pub idle_supported: Option<bool>,
    pub last_fetch_at: Option<Timestamp>,
    pub messages_ingested: u64,
    /// Messages over the inbound size limit, left in the mailbox for a person.
    pub messages_skipped: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// Seconds until the next attempt after an error.
    pub retry_in_seconds: Option<u64>,
}

/// The SMTP side: what went out and the last failure.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SmtpStatus {
    pub server: String,
    pub messages_sent: u64,
    pub last_sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
}

/// Both sides, shared by the mail tasks and the route.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MailStatus {
    pub imap: Option<ImapStatus>,
    pub smtp: Option<SmtpStatus>,
}

/// A handle the tasks update and the route reads.
#[derive(Clone, Default)]
pub struct SharedStatus(Arc<Mutex<MailStatus>>);

impl SharedStatus {
    pub fn snapshot(&self) -> MailStatus {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn imap(&self, change: impl FnOnce(&mut ImapStatus)) {
        if let Ok(mut status) = self.0.lock() {
            change(status.imap.get_or_insert_with(ImapStatus::default));
        }
    }

    pub fn smtp(&self, change: impl FnOnce(&mut SmtpStatus)) {
        if let Ok(mut status) = self.0.lock() {
            change(status.smtp.get_or_insert_with(SmtpStatus::default));
        }
    }

    pub fn imap_error(&self, error: &str, retry_in: std::time::Duration) {
        self.imap(|s| {
            s.state = "error";
            s.last_error = Some(error.to_string());
            s.last_error_at = Some(clock::now());
            s.retry_in_seconds = Some(retry_in.as_secs());
        });
    }

    pub fn smtp_error(&self, error: &str) {
        self.smtp(|s| {
            s.last_error = Some(error.to_string());
            s.last_error_at = Some(clock::now());
        });
    }
}
