//! The delivery-feedback function's handler: SES events from the configuration set's
//! EventBridge destination (`Email Bounced`, `Email Complaint`) in, marks on replies and
//! customers out. The event's `detail` is SES's event publishing record (eventType, bounce or
//! complaint, mail with its tags).

use std::collections::HashMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::delivery::{DeliveryFeedback, FeedbackKind, ReplyRef, tag_safe};
use crate::domain::error::HelpdeskError;
use crate::domain::timestamp::Timestamp;
use crate::services::replies::feedback::FeedbackService;

pub struct DeliveryFeedbackHandler {
    feedback: FeedbackService,
}

/// SES's event record, as much of it as the helpdesk reads.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    event_type: String,
    mail: SesMail,
    #[serde(default)]
    bounce: Option<SesBounce>,
    #[serde(default)]
    complaint: Option<SesComplaint>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SesMail {
    message_id: String,
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SesBounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<SesRecipient>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SesComplaint {
    complained_recipients: Vec<SesRecipient>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SesRecipient {
    email_address: String,
    #[serde(default)]
    diagnostic_code: Option<String>,
}

impl DeliveryFeedbackHandler {
    pub fn new(feedback: FeedbackService) -> Self {
        Self { feedback }
    }

    /// An error means the store was unavailable: Lambda retries the (asynchronous) event,
    /// then hands it to the dead-letter queue. Events the helpdesk does not act on (other
    /// event types, malformed ones) are answered as ignored, never retried.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HelpdeskError> {
        let context = event.context.clone();
        crate::telemetry::per_event("delivery-feedback", &context, async {
            let feedback = match feedback_of(event.payload) {
                Ok(Some(feedback)) => feedback,
                Ok(None) => return Ok(json!({ "ignored": "not a bounce or complaint" })),
                Err(why) => {
                    tracing::warn!(reason = %why, "delivery feedback ignored");
                    return Ok(json!({ "ignored": why }));
                }
            };
            let outcome = self.feedback.apply(&feedback).await?;
            Ok(json!({ "applied": outcome }))
        })
        .await
    }
}

/// The `source` of SES's events on EventBridge.
const SES_SOURCE: &str = "aws.ses";

/// The `detail-type`s of the events this function acts on.
const FEEDBACK_TYPES: [&str; 2] = ["Email Bounced", "Email Complaint Received"];

/// The feedback an EventBridge event carries; `None` for SES events of other types.
fn feedback_of(payload: Value) -> Result<Option<DeliveryFeedback>, String> {
    let event: EventBridgeEvent<SesEvent> =
        serde_json::from_value(payload).map_err(|e| format!("not an SES event: {e}"))?;
    // The rule routes only these here; the handler does not take that on trust: anything
    // that can invoke the function could otherwise mark addresses.
    if event.source != SES_SOURCE {
        return Err(format!("not from SES (source {:?})", event.source));
    }
    if !FEEDBACK_TYPES.contains(&event.detail_type.as_str()) {
        return Err(format!(
            "not a bounce or complaint (detail-type {:?})",
            event.detail_type
        ));
    }
    let detail = event.detail;
    let at = |timestamp: &Option<String>| {
        timestamp
            .as_deref()
            .and_then(|t| Timestamp::parse(t).ok())
            .unwrap_or_else(crate::domain::clock::now)
    };
    let recipients = |list: &[SesRecipient], why: &str| {
        list.iter()
            .map(|r| {
                let reason = r.diagnostic_code.clone().unwrap_or_else(|| why.to_string());
                (r.email_address.trim().to_ascii_lowercase(), reason)
            })
            .collect::<Vec<_>>()
    };
    let (kind, at) = match detail.event_type.as_str() {
        "Bounce" => {
            let bounce = detail.bounce.ok_or("a Bounce event without its bounce")?;
            let why = format!(
                "{} bounce ({})",
                bounce.bounce_type,
                bounce.bounce_sub_type.as_deref().unwrap_or("General")
            );
            let list = recipients(&bounce.bounced_recipients, &why);
            let kind = if bounce.bounce_type == "Permanent" {
                FeedbackKind::HardBounce(list)
            } else {
                FeedbackKind::SoftBounce(list)
            };
            (kind, at(&bounce.timestamp))
        }
        "Complaint" => {
            let complaint = detail
                .complaint
                .ok_or("a Complaint event without its complaint")?;
            let why = format!(
                "complaint ({})",
                complaint
                    .complaint_feedback_type
                    .as_deref()
                    .unwrap_or("unspecified")
            );
            let list = recipients(&complaint.complained_recipients, &why);
            (FeedbackKind::Complaint(list), at(&complaint.timestamp))
        }
        _ => return Ok(None),
    };
    let tag = |name: &str| {
        detail
            .mail
            .tags
            .get(name)
            .and_then(|values| values.first())
            .filter(|value| tag_safe(value))
            .cloned()
    };
    let reply = match (tag("kind").as_deref(), tag("ticket"), tag("message")) {
        (Some("reply"), Some(ticket_id), Some(message_id)) => Some(ReplyRef {
            ticket_id,
            message_id,
            written: tag("written"),
        }),
        _ => None,
    };
    Ok(Some(DeliveryFeedback {
        provider_id: detail.mail.message_id,
        reply,
        kind,
        at,
    }))
}
