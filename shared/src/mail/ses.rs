//! The cloud's mailer: SES API v2, raw content.

use async_trait::async_trait;

use crate::ports::mailer::MailError;
use crate::ports::mailer::Mailer;
use crate::ports::mailer::OutgoingMail;

use super::mime::message_id;

/// The cloud: SES API v2, raw content (so the headers above go out as written).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
}

impl SesMailer {
    /// SES has no idempotency key: a send whose answer was lost, sent again, is a second email.
    /// So the SDK does not retry sends on its own; [`Mailer::send`] retries throttling only,
    /// which SES answers before it accepts anything.
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_sesv2::Client::from_conf(config),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
        let mime = mail
            .to_mime(&message_id(&mail.from))
            .map_err(|e| MailError::Rejected(format!("cannot write the message: {e}")))?;
        let raw = RawMessage::builder()
            .data(aws_sdk_sesv2::primitives::Blob::new(mime))
            .build()
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let request = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().raw(raw).build());
        let until = crate::budget::retry_until();
        let mut attempt = 0u32;
        let output = loop {
            let error = match request.clone().send().await {
                Ok(output) => break output,
                Err(error) => error,
            };
            let text = aws_sdk_sesv2::error::DisplayErrorContext(&error).to_string();
            let throttled = error.as_service_error().is_some_and(|e| {
                e.is_too_many_requests_exception() || e.is_limit_exceeded_exception()
            });
            if throttled && let Some(wait) = crate::budget::next_wait(attempt, until) {
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            // A refusal by SES is final; throttling and transport faults are not.
            return Err(if error.as_service_error().is_some() && !throttled {
                MailError::Rejected(text)
            } else {
                MailError::Unavailable(text)
            });
        };
        Ok(output.message_id.unwrap_or_default())
    }
}
