//! What happened to each received message: the inbound record, its status and SES verdicts.

use crate::domain::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::ticket::ThreadReason;

/// Where SES stores raw mail in the mail bucket (the receipt rule's S3 object key prefix).
pub const INBOUND_PREFIX: &str = "inbound/";
/// SES accepts messages up to 40 MB; anything larger cannot come from it.
pub const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InboundStatus {
    /// In a ticket.
    Ingested,
    /// Deliberately left out: automated mail, spam or virus verdict, a duplicate.
    Ignored,
    /// Could not be read (malformed, no sender): kept in the bucket for a person to look at.
    Failed,
}

impl InboundStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ingested" => Some(Self::Ingested),
            "ignored" => Some(Self::Ignored),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingested => "ingested",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }
}

/// SES's receipt verdicts (`PASS`, `FAIL`, `GRAY`, `PROCESSING_FAILED`, `DISABLED`); `None`
/// when not known (local files without SES headers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Verdicts {
    pub spam: Option<String>,
    pub virus: Option<String>,
    pub spf: Option<String>,
    pub dkim: Option<String>,
    pub dmarc: Option<String>,
}

#[cfg(feature = "mail-parsing")]
pub(crate) fn fails(verdict: &Option<String>) -> bool {
    verdict
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("FAIL"))
}

fn passes(verdict: &Option<String>) -> bool {
    verdict
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("PASS"))
}

impl Verdicts {
    /// SES judged the sender (SPF or DKIM verdicts are present) and neither SPF nor DKIM
    /// passed: nothing vouches for the sender (`GRAY`, `FAIL` and `PROCESSING_FAILED` alike;
    /// DMARC is not enough, as a domain without a DMARC policy is `GRAY`). Mail without SES
    /// verdicts (a local `.eml` file an operator dropped in) is not judged.
    pub fn unverified(&self) -> bool {
        let judged = self.spf.is_some() || self.dkim.is_some();
        judged && !passes(&self.spf) && !passes(&self.dkim)
    }
}

/// What happened to one received message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// The SES message id (cloud) or `eml-` and a digest of the file (local).
    pub id: String,
    pub status: InboundStatus,
    /// Why it was ignored or failed.
    pub reason: Option<String>,
    pub received_at: Timestamp,
    /// The raw message, kept whatever the outcome.
    pub raw_key: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub customer_email: Option<String>,
    /// Whether this message created the customer.
    pub customer_created: bool,
    pub ticket_id: Option<String>,
    pub thread_reason: Option<ThreadReason>,
    pub verdicts: Verdicts,
}

impl InboundRecord {
    /// Position in the inbound listing (newest first).
    pub fn list_key(&self) -> String {
        format!("{}#{}", self.received_at, self.id)
    }
}
