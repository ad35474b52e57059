//! What the table's stream says, for its readers: which customer a record is about, whether
//! that customer's welcome email is due, which reply is due to be sent, and which job a record
//! wakes. The stream carries the table's own layout, so
//! it is read here, beside the keys and items that define it.

use aws_lambda_events::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

use super::keys::{
    email_of_pk, erasure_of_pk, merge_of_pk, message_of_sk, migration_of_pk, ticket_of_pk,
};

fn string<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

/// The email of the customer whose welcome email the record shows as due (a customer item
/// whose new image has `welcome_status = pending`), or `None` for any other record.
pub fn welcome_due(record: &EventRecord) -> Option<&str> {
    let image = &record.change.new_image;
    let due = string(image, "kind") == Some("customer")
        && string(image, "welcome_status") == Some("pending");
    if !due {
        return None;
    }
    string(image, "pk").and_then(email_of_pk)
}

/// The ticket id and message position of the reply a record shows as queued for sending (a
/// message item whose new image has `delivery_status = queued`), or `None` for any other record.
pub fn reply_due(record: &EventRecord) -> Option<(&str, &str)> {
    let image = &record.change.new_image;
    let due = string(image, "kind") == Some("message")
        && string(image, "delivery_status") == Some("queued");
    if !due {
        return None;
    }
    let ticket = string(image, "pk").and_then(ticket_of_pk)?;
    let message = string(image, "sk").and_then(message_of_sk)?;
    Some((ticket, message))
}

/// A job a stream record shows as still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunningJob<'a> {
    Erasure(&'a str),
    Merge(&'a str),
    Migration(&'a str),
}

/// The job (erasure, merge or migration) a record shows as still running (its new image has
/// `job_status = running`), or `None` for any other record.
pub fn running_job(record: &EventRecord) -> Option<RunningJob<'_>> {
    let image = &record.change.new_image;
    if string(image, "job_status") != Some("running") {
        return None;
    }
    let pk = string(image, "pk")?;
    match string(image, "kind")? {
        "erasure" => erasure_of_pk(pk).map(RunningJob::Erasure),
        "merge" => merge_of_pk(pk).map(RunningJob::Merge),
        "migration" => migration_of_pk(pk).map(RunningJob::Migration),
        _ => None,
    }
}
