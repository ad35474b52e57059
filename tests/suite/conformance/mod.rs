//! One conformance suite, run against both stores: every test of its modules (one per
//! capability) is instantiated for SQLite and for DynamoDB (dynoxide) by the `conformance!` macro.

use crate::support::customer;
use helpdesk_shared::domain::company::Company;
use helpdesk_shared::domain::customer::{Customer, Note};
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::domain::error::StoreError;
use helpdesk_shared::domain::field::{FieldDefinition, FieldType};
use helpdesk_shared::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use helpdesk_shared::domain::ticket::{
    Mailbox, MessageBody, ThreadReason, Ticket, TicketMessage, TicketStatus,
};
use helpdesk_shared::domain::timestamp::Timestamp;
use helpdesk_shared::ports::store::{
    CustomerQuery, CustomerStore, CustomerWrite, MessageWrite, Store, TicketWrite,
};
use std::sync::Arc;

/// A normalised email, as records hold them.
fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid test email")
}

fn with_alternates(primary: &str, alternates: &[&str]) -> Customer {
    let mut c = customer(primary);
    c.profile.alternate_emails = alternates.iter().map(|a| email(a)).collect();
    c
}

fn named(email: &str, first: &str, last: &str) -> Customer {
    let mut c = customer(email);
    c.profile.first_name = Some(first.into());
    c.profile.last_name = Some(last.into());
    c
}

fn company(name: &str, domains: &[&str]) -> Company {
    Company {
        id: helpdesk_shared::new_id(),
        name: name.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        notes: None,
        portal_default_access: Default::default(),
        created_by: None,
        changed_by: None,
        created_at: helpdesk_shared::now(),
        updated_at: helpdesk_shared::now(),
        version: 1,
    }
}

fn stamp(at: &str) -> Timestamp {
    Timestamp::parse(at).expect("a test timestamp")
}

fn note(text: &str, at: &str) -> Note {
    Note {
        id: helpdesk_shared::new_id(),
        author: "agent".into(),
        text: text.into(),
        created_at: stamp(at),
        moved_by: None,
    }
}

fn next(c: &Customer, change: impl FnOnce(&mut Customer)) -> Customer {
    let by = helpdesk_shared::domain::history::Actor::caller("conformance");
    let mut n = c.next_version(c.profile.clone(), &helpdesk_shared::now(), by);
    change(&mut n);
    n
}

// Tickets, messages and inbound records ------------------------------------------------------

fn ticket(id: &str, customer_id: &str, created_at: &str) -> Ticket {
    Ticket {
        id: id.into(),
        subject: format!("subject of {id}"),
        customer_id: customer_id.into(),
        customer_email: "ann@example.com".into(),
        company_id: None,
        status: TicketStatus::Open,
        message_count: 1,
        last_message_at: stamp(created_at),
        follow_up_of: None,
        moved_by: None,
        changed_by: None,
        last_agent_message: None,
        cc_customers: Vec::new(),
        last_public_at: None,
        tags: Vec::new(),
        imported: None,
        created_at: stamp(created_at),
        updated_at: stamp(created_at),
        version: 1,
    }
}

fn message(id: &str, ticket_id: &str, message_id: &str, at: &str) -> TicketMessage {
    TicketMessage {
        id: id.into(),
        ticket_id: ticket_id.into(),
        message_id: message_id.into(),
        from: Mailbox {
            name: Some("Ann".into()),
            email: "ann@example.com".into(),
        },
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        date: None,
        received_at: stamp(at),
        subject: "hello".into(),
        body: MessageBody {
            text: format!("text of {id}"),
            html: None,
            reply_text: format!("text of {id}"),
        },
        body_key: None,
        attachments: vec![],
        thread_reason: ThreadReason::New,
        unauthenticated: false,
        kind: Default::default(),
        author: None,
        delivery: None,
        in_reply_to: None,
        references: Vec::new(),
    }
}

fn record(id: &str, status: InboundStatus, at: &str) -> InboundRecord {
    InboundRecord {
        id: id.into(),
        status,
        reason: None,
        received_at: stamp(at),
        raw_key: format!("inbound/{id}"),
        from: None,
        subject: None,
        message_id: None,
        customer_email: None,
        customer_created: false,
        ticket_id: None,
        thread_reason: None,
        verdicts: Verdicts::default(),
    }
}

fn write(ticket: TicketWrite, message: TicketMessage) -> MessageWrite {
    let inbound = record(&message.id, InboundStatus::Ingested, &message.received_at);
    MessageWrite {
        ticket,
        message,
        inbound: Some(inbound),
    }
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::sqlite_store()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::dynamo_store().await).await;
                }
            )*
        }
    };
}

mod companies_fields;
mod customers;
mod guards;
mod lifecycle;
mod listings;
mod tickets;
