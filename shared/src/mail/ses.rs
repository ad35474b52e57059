//! The cloud's mailer: SES API v2, raw content.

use async_trait::async_trait;

use crate::ports::mailer::MailError;
use crate::ports::mailer::Mailer;
use crate::ports::mailer::OutgoingMail;
use crate::ports::mailer::Sent;

use super::mime::bare_address;

/// The cloud: SES API v2, raw content (so the headers above go out as written).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    /// Sends through this configuration set, whose event destination reports bounces and
    /// complaints.
    configuration_set: Option<String>,
    /// The domain of the Message-IDs SES gives the mail it sends from this region.
    message_id_domain: String,
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
        let region = client
            .config()
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_else(|| "us-east-1".to_string());
        Self {
            client: aws_sdk_sesv2::Client::from_conf(config),
            configuration_set: None,
            message_id_domain: ses_message_id_domain(&region),
        }
    }

    /// Sends through `name` (from `SES_CONFIGURATION_SET`), so its event destination hears of
    /// bounces and complaints.
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name.filter(|n| !n.trim().is_empty());
        self
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Sent, MailError> {
        use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
        // SES gives the mail its own Message-ID (answered below), whatever it carried.
        let (_, mime) = mail.identified_mime()?;
        let raw = RawMessage::builder()
            .data(aws_sdk_sesv2::primitives::Blob::new(mime))
            .build()
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        // Bare addresses: SES wants 7-bit ASCII here, and a display name with a comma would
        // read as two. The names travel in the MIME headers, encoded (RFC 2047).
        let mut destination = Destination::builder().to_addresses(bare_address(&mail.to));
        for cc in &mail.cc {
            destination = destination.cc_addresses(bare_address(cc));
        }
        let mut request = self
            .client
            .send_email()
            .from_email_address(bare_address(&mail.from))
            .destination(destination.build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone());
        for (name, value) in &mail.tags {
            let tag = MessageTag::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| MailError::Rejected(e.to_string()))?;
            request = request.email_tags(tag);
        }
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
        let provider_id = output.message_id.unwrap_or_default();
        Ok(Sent {
            message_id: format!("{provider_id}@{}", self.message_id_domain),
            provider_id,
            refused: Vec::new(),
        })
    }
}

/// SES replaces a message's Message-ID by `<SES message id>@<region's domain>`: us-east-1
/// answers for `email.amazonses.com`, every other region for `<region>.amazonses.com`.
fn ses_message_id_domain(region: &str) -> String {
    if region == "us-east-1" {
        "email.amazonses.com".to_string()
    } else {
        format!("{region}.amazonses.com")
    }
}
