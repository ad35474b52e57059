//! What the table's stream says, for its readers: which work a record shows as due (a welcome
//! email, a reply to send, a job to carry on). The stream carries the table's own layout, so it
//! is read here, beside the keys and items that define it.

use aws_lambda_events::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

use crate::domain::email::Email;
use crate::domain::ids::{JobId, MergeId, TicketId};
use crate::ports::due::DueWork;

use super::keys::{
    email_of_pk, erasure_of_pk, export_of_pk, merge_of_pk, message_of_sk, migration_of_pk,
    ticket_of_pk,
};

fn string<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

/// The work a record shows as due, answering for the cloud what `DueWorkSource` answers
/// locally: a customer item whose new image has `welcome_status = pending` (its welcome email),
/// a message item with `delivery_status = queued` (a reply to send), an erasure, merge,
/// migration or export item with `job_status = running`; `None` for any other record. The template's
/// event source filters pass exactly these records to the notifier and jobs functions.
pub fn due_work(record: &EventRecord) -> Option<DueWork> {
    let image = &record.change.new_image;
    let pk = string(image, "pk")?;
    match string(image, "kind")? {
        "customer" if string(image, "welcome_status") == Some("pending") => {
            email_of_pk(pk).map(|email| DueWork::Welcome {
                email: Email::stored(email),
            })
        }
        "message" if string(image, "delivery_status") == Some("queued") => {
            let ticket_id = TicketId::of(ticket_of_pk(pk)?);
            let message_key = string(image, "sk").and_then(message_of_sk)?.to_string();
            Some(DueWork::Reply {
                ticket_id,
                message_key,
            })
        }
        "sign_in" if string(image, "signin_status") == Some("pending") => {
            super::portal::sign_in_of_pk(pk).map(|id| DueWork::SignIn { id: id.to_string() })
        }
        kind if string(image, "job_status") == Some("running") => match kind {
            "erasure" => erasure_of_pk(pk).map(|e| DueWork::Erasure { id: JobId::of(e) }),
            "merge" => merge_of_pk(pk).map(|m| DueWork::Merge { id: MergeId::of(m) }),
            "migration" => migration_of_pk(pk).map(|m| DueWork::Migration {
                name: m.to_string(),
            }),
            "export" => export_of_pk(pk).map(|e| DueWork::Export { id: JobId::of(e) }),
            _ => None,
        },
        _ => None,
    }
}

/// A record's document in a stream image, if it has one that parses.
fn doc_in<T: serde::de::DeserializeOwned>(image: &serde_dynamo::Item) -> Option<T> {
    match image.get("doc") {
        Some(AttributeValue::B(json)) => serde_json::from_slice(json).ok(),
        Some(AttributeValue::S(json)) => serde_json::from_str(json).ok(),
        _ => None,
    }
}

/// The change of a record the change log follows (customer, company, ticket, message, import,
/// erasure, merge), from a stream record's keys and images; `None` for any other item (claims,
/// aliases, index items, the log's own items). The template's filter on the notifier passes
/// exactly these key shapes.
pub fn record_change(record: &EventRecord) -> Option<crate::domain::events::RecordChange> {
    use crate::domain::events::RecordChange as Change;
    let keys = &record.change.keys;
    let (old, new) = (&record.change.old_image, &record.change.new_image);
    let pk = string(keys, "pk")?;
    let sk = string(keys, "sk")?;
    // A merge turns its source's item into an alias of the target (an undo turns it back):
    // the customer goes (or comes back) though the item stays.
    let customer = [old, new]
        .iter()
        .any(|image| string(image, "kind") == Some("customer"));
    let single = sk == super::keys::SINGLE;
    macro_rules! pair {
        ($variant:ident) => {
            Change::$variant(doc_in(old), doc_in(new))
        };
    }
    let change = if pk.starts_with("EMAIL#") && customer {
        pair!(Customer)
    } else if pk.starts_with("COMPANY#") && single {
        pair!(Company)
    } else if pk.starts_with("TICKET#") && single {
        pair!(Ticket)
    } else if pk.starts_with("TICKET#") && sk.starts_with(super::keys::MESSAGE_SK) {
        pair!(Message)
    } else if pk.starts_with("IMPORT#") && single {
        pair!(Import)
    } else if pk.starts_with("ERASURE#") && single {
        pair!(Erasure)
    } else if pk.starts_with("MERGE#") && single {
        pair!(Merge)
    } else {
        return None;
    };
    Some(change)
}
