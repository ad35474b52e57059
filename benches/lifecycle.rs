//! Customer lifecycle benchmark (`cargo bench --bench lifecycle`): a merge, its undo and an
//! erasure of a customer with 10,000 messages, through the metering proxy in front of dynoxide (which
//! charges as DynamoDB does) and a folder standing in for the mail bucket.
//!
//! The customer has 500 tickets of 20 messages, each message with its inbound record and raw
//! mail, and 100 notes. Printed per operation: wall time (the request plus its job run to the
//! end), DynamoDB requests, WRU and RRU. Loops are bounded by count; nothing here asserts a time.

#[path = "support/report.rs"]
mod report;

#[path = "support/metering_proxy.rs"]
mod metering_proxy;

// Only `Units` and the prices are used here; the table helpers serve the other benches.
#[allow(dead_code)]
#[path = "support/unit_costs.rs"]
mod unit_costs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::domain::caller::{Caller, Role};
use helpdesk_shared::domain::customer::{Customer, Note, Profile};
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::domain::error::HelpdeskError;
use helpdesk_shared::domain::history::Actor;
use helpdesk_shared::domain::history::HistoryEntry;
use helpdesk_shared::domain::ids::{JobId, MergeId};
use helpdesk_shared::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use helpdesk_shared::domain::merge::Merge;
use helpdesk_shared::domain::patch::Command;
use helpdesk_shared::domain::ticket::{
    Mailbox, MessageBody, ThreadReason, Ticket, TicketMessage, TicketStatus,
};
use helpdesk_shared::ports::objects::ObjectStore;
use helpdesk_shared::ports::store::{MessageWrite, Store, TicketWrite};
use helpdesk_shared::services::customers::customer_record;
use helpdesk_shared::services::merges::MergeOutcome;
use helpdesk_shared::services::privacy::ExportSink;
use serde_json::json;
use unit_costs::Units;

const TICKETS: usize = 500;
const MESSAGES_PER_TICKET: usize = 20;
const NOTES: usize = 100;
/// Seeding writes this many tickets at once.
const SEED_CONCURRENCY: usize = 16;
const NO_DEADLINE: Duration = Duration::from_secs(24 * 3600);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("# helpdesk customer lifecycle benchmark\n");
    println!("machine: {}", report::machine());
    runtime.block_on(lifecycle());
}

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid email")
}

async fn lifecycle() {
    let Some((fake, table)) = metering_proxy::on_new_table("bench-lifecycle").await else {
        println!("\nlifecycle: {}", metering_proxy::NOT_MEASURED);
        return;
    };
    let store: Arc<dyn Store> = Arc::new(helpdesk_shared::store::dynamodb::DynamoStore::new(
        fake.client(),
        table,
    ));
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-life-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mail = Arc::new(helpdesk_shared::objects::FolderStore::new(dir.clone()));
    let helpdesk = helpdesk_shared::app::api_state(
        &store,
        mail.clone(),
        mail.clone(),
        helpdesk_shared::services::replies::SupportAddress::fallback(),
        Arc::new(helpdesk_shared::http::auth::JwtClaimsAuthenticator),
        helpdesk_shared::http::Links::default(),
    );
    let admin = Caller::new("bench-admin", [Role::Admin], true);
    let by = Actor::caller("bench-admin");

    let profile = |address: &str, first: &str| Profile {
        email: email(address),
        first_name: Some(first.into()),
        ..Profile::default()
    };
    let target = customer_record(profile("ann@acme.test", "Ann"), false, by.clone());
    let mut source = customer_record(profile("annie@home.test", "Annie"), false, by.clone());
    source.profile.alternate_emails = vec![email("a.lee@home.test")];
    store.insert_customer(&target).await.expect("target");
    store.insert_customer(&source).await.expect("source");

    let seeding = Instant::now();
    seed(&store, mail.as_ref(), &source.id).await;
    for i in 0..NOTES {
        let note = Note {
            id: format!("note-{i:04}"),
            author: "bench".into(),
            text: format!("note {i}"),
            created_at: helpdesk_shared::now(),
            moved_by: None,
        };
        store.add_note(&source, &note).await.expect("note");
    }
    println!(
        "\nseeded {TICKETS} tickets × {MESSAGES_PER_TICKET} messages ({} messages, each with its inbound record and raw mail) and {NOTES} notes in {:.1} s\n",
        TICKETS * MESSAGES_PER_TICKET,
        seeding.elapsed().as_secs_f64()
    );
    println!("{}", unit_costs::TIMED_HEADER);
    let row = |name: &str, took: Duration, before: Units| {
        println!("{}", Units::of(&fake).per(before, 1).timed_row(name, took));
    };

    // Merge: the records in the request, then the job moves tickets, notes and history.
    let (before, started) = (Units::of(&fake), Instant::now());
    let outcome = helpdesk
        .merges
        .merge(
            &admin,
            &email("ann@acme.test"),
            Command::parse(json!({"from": ["annie@home.test"]})).expect("input"),
        )
        .await
        .expect("merge");
    let MergeOutcome::Started(merge) = outcome else {
        panic!("not a merge");
    };
    let merged = helpdesk
        .merges
        .run_merge(&MergeId::of(merge.id.as_str()), NO_DEADLINE)
        .await
        .expect("moves");
    row(
        &format!(
            "merge (moves {} tickets, {} notes, {} history entries)",
            merged.counts.tickets, merged.counts.notes, merged.counts.history
        ),
        started.elapsed(),
        before,
    );

    // Undo: the records restored, then everything moved back.
    let (before, started) = (Units::of(&fake), Instant::now());
    helpdesk
        .merges
        .undo(&admin, &MergeId::of(merge.id.as_str()))
        .await
        .expect("undo");
    let undone = helpdesk
        .merges
        .run_merge(&MergeId::of(merge.id.as_str()), NO_DEADLINE)
        .await
        .expect("moves back");
    row(
        &format!("undo ({:?})", undone.status),
        started.elapsed(),
        before,
    );

    // Export of the source (10,000 messages): read page by page into a sink that writes
    // each piece and keeps nothing, against the baseline that collects the whole export
    // first (as the export did before it streamed).
    for (label, mut sink) in [
        (
            "export, streamed: each piece written and dropped",
            ExportBytes::streamed(),
        ),
        (
            "export, baseline: the whole export collected first",
            ExportBytes::collected(),
        ),
    ] {
        let (before, started) = (Units::of(&fake), Instant::now());
        report::reset_peak_rss();
        let rss = report::rss_mib();
        helpdesk
            .privacy
            .export(&admin, &email("annie@home.test"), &mut sink)
            .await
            .expect("export");
        let bytes = sink.finish();
        let growth = report::peak_rss_mib() - rss;
        row(
            &format!(
                "{label} ({:.1} MB of JSON, peak RSS +{growth:.0} MiB)",
                bytes as f64 / 1e6
            ),
            started.elapsed(),
            before,
        );
    }

    // Erasure of the source again holding its 10,000 messages.
    let (before, started) = (Units::of(&fake), Instant::now());
    let erasure = helpdesk
        .privacy
        .request_erasure(
            &admin,
            &email("annie@home.test"),
            Command::parse(json!({})).expect("input"),
        )
        .await
        .expect("erasure");
    let erased = helpdesk
        .privacy
        .run_erasure(&JobId::of(erasure.id.as_str()), NO_DEADLINE)
        .await
        .expect("erasure run");
    row(
        &format!(
            "erasure (deletes {} tickets, {} messages, {} inbound records, {} objects)",
            erased.counts.tickets,
            erased.counts.messages,
            erased.counts.inbound_records,
            erased.counts.objects
        ),
        started.elapsed(),
        before,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An export sink that serialises what it is handed: at once into a byte count (streamed),
/// or into a document kept whole until the end (the baseline).
struct ExportBytes {
    keep: bool,
    bytes: usize,
    kept: Vec<serde_json::Value>,
}

impl ExportBytes {
    fn streamed() -> Self {
        ExportBytes {
            keep: false,
            bytes: 0,
            kept: Vec::new(),
        }
    }
    fn collected() -> Self {
        ExportBytes {
            keep: true,
            bytes: 0,
            kept: Vec::new(),
        }
    }
    fn take<T: serde::Serialize>(&mut self, piece: &T) -> Result<(), HelpdeskError> {
        if self.keep {
            self.kept
                .push(serde_json::to_value(piece).expect("serialises"));
        } else {
            self.bytes += serde_json::to_vec(piece).expect("serialises").len();
        }
        Ok(())
    }
    fn finish(self) -> usize {
        if self.keep {
            serde_json::to_vec(&self.kept).expect("serialises").len()
        } else {
            self.bytes
        }
    }
}

impl ExportSink for ExportBytes {
    fn customer(&mut self, customer: &Customer) -> Result<(), HelpdeskError> {
        self.take(customer)
    }
    fn note(&mut self, note: &Note) -> Result<(), HelpdeskError> {
        self.take(note)
    }
    fn history(&mut self, entry: &HistoryEntry) -> Result<(), HelpdeskError> {
        self.take(entry)
    }
    fn ticket(&mut self, ticket: &Ticket) -> Result<(), HelpdeskError> {
        self.take(ticket)
    }
    fn message(&mut self, message: &TicketMessage) -> Result<(), HelpdeskError> {
        self.take(message)
    }
    fn inbound(&mut self, record: &InboundRecord) -> Result<(), HelpdeskError> {
        self.take(record)
    }
    fn merge(&mut self, merge: &Merge) -> Result<(), HelpdeskError> {
        self.take(merge)
    }
}

/// The source's tickets, each message stored as inbound mail is (ticket, message, Message-ID
/// claim and inbound record in one transaction) with its raw mail in the folder.
async fn seed(store: &Arc<dyn Store>, mail: &dyn ObjectStore, customer_id: &str) {
    use futures::StreamExt;
    futures::stream::iter(0..TICKETS)
        .for_each_concurrent(SEED_CONCURRENCY, |t| async move {
            let mut ticket: Option<Ticket> = None;
            for m in 0..MESSAGES_PER_TICKET {
                let id = format!("ses-{t:04}-{m:02}");
                let now = helpdesk_shared::now();
                let message = TicketMessage {
                    id: id.clone(),
                    ticket_id: format!("T{t:04}"),
                    message_id: format!("{id}@home.test"),
                    from: Mailbox {
                        name: Some("Annie".into()),
                        email: "annie@home.test".into(),
                    },
                    reply_to: vec![],
                    to: vec![],
                    cc: vec![],
                    date: None,
                    received_at: now.clone(),
                    subject: format!("ticket {t}"),
                    body: MessageBody {
                        text: "The printer is on fire again. ".repeat(10),
                        html: None,
                        reply_text: "The printer is on fire again.".into(),
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
                };
                let write = match &ticket {
                    None => TicketWrite::Insert(Ticket {
                        id: message.ticket_id.clone(),
                        subject: message.subject.clone(),
                        customer_id: customer_id.to_string(),
                        customer_email: "annie@home.test".into(),
                        company_id: None,
                        status: TicketStatus::Open,
                        message_count: 1,
                        last_message_at: now.clone(),
                        follow_up_of: None,
                        moved_by: None,
                        changed_by: None,
                        last_agent_message: None,
                        cc_customers: Vec::new(),
                        last_public_at: None,
                        tags: Vec::new(),
                        imported: None,
                        created_at: now.clone(),
                        updated_at: now.clone(),
                        version: 1,
                    }),
                    Some(previous) => {
                        let mut next = previous.clone();
                        next.version += 1;
                        next.message_count += 1;
                        next.last_message_at = now.clone();
                        TicketWrite::Replace {
                            previous: previous.clone(),
                            next,
                        }
                    }
                };
                let raw_key = format!("inbound/{id}");
                mail.put(
                    &raw_key,
                    b"From: annie@home.test\r\n\r\nfire\r\n".to_vec(),
                    "message/rfc822",
                )
                .await
                .expect("raw mail");
                let inbound = InboundRecord {
                    id: id.clone(),
                    status: InboundStatus::Ingested,
                    reason: None,
                    received_at: now,
                    raw_key,
                    from: Some("annie@home.test".into()),
                    subject: Some(message.subject.clone()),
                    message_id: Some(message.message_id.clone()),
                    customer_email: Some("annie@home.test".into()),
                    customer_created: false,
                    ticket_id: Some(message.ticket_id.clone()),
                    thread_reason: Some(ThreadReason::New),
                    verdicts: Verdicts::default(),
                };
                let next_ticket = write.ticket().clone();
                store
                    .store_message(&MessageWrite {
                        ticket: write,
                        message,
                        inbound: Some(inbound),
                    })
                    .await
                    .expect("store message");
                ticket = Some(next_ticket);
            }
        })
        .await;
}
