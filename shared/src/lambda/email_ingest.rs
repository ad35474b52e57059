//! The email-ingest function's handler: SES receipt-rule events (Lambda action, after the S3
//! action stored the raw message) in, one inbound record per message out.

use aws_lambda_events::event::ses::SimpleEmailEvent;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::domain::error::HelpdeskError;
use crate::domain::inbound::INBOUND_PREFIX;
use crate::domain::inbound::Verdicts;
use crate::services::inbound::{Envelope, MailContext};

pub struct EmailIngestHandler {
    context: MailContext,
    /// The receipt rule's S3 object key prefix: raw mail is at `{prefix}{SES message id}`.
    prefix: String,
}

impl EmailIngestHandler {
    pub fn new(context: MailContext, prefix: Option<String>) -> Self {
        Self {
            context,
            prefix: prefix.unwrap_or_else(|| INBOUND_PREFIX.to_string()),
        }
    }

    /// Ingests every message of the event. An error means a store or bucket was unavailable:
    /// Lambda retries the event, and messages already done answer their first outcome.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event("email-ingest", &context, self.handle_event(event)).await
    }

    async fn handle_event(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let event: SimpleEmailEvent = serde_json::from_value(event.payload).map_err(|e| {
            HelpdeskError::bad_request("event", format!("not an SES receipt event: {e}"))
        })?;
        let mut outcomes = Vec::with_capacity(event.records.len());
        for record in event.records {
            let ses = record.ses;
            let id = ses
                .mail
                .message_id
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| HelpdeskError::bad_request("mail.messageId", "is missing"))?;
            let receipt = ses.receipt;
            let verdicts = Verdicts {
                spam: receipt.spam_verdict.status,
                virus: receipt.virus_verdict.status,
                spf: receipt.spf_verdict.status,
                dkim: receipt.dkim_verdict.status,
                dmarc: receipt.dmarc_verdict.status,
            };
            let received_at =
                crate::domain::clock::timestamp_from_millis(ses.mail.timestamp.timestamp_millis());
            let envelope = Envelope {
                raw_key: format!("{}{id}", self.prefix),
                id,
                received_at,
                verdicts: Some(verdicts),
            };
            let outcome = self.context.ingest_stored(envelope).await?;
            outcomes.push(json!({
                "id": outcome.id,
                "status": outcome.status,
                "reason": outcome.reason,
                "ticket_id": outcome.ticket_id,
                "thread_reason": outcome.thread_reason,
            }));
        }
        Ok(json!({ "messages": outcomes }))
    }
}
