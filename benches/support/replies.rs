//! The replies scenario of the mail benchmark: agents' replies written through the reply
//! service (what `POST /tickets/{id}/messages` calls) and sent through the outbox, on SQLite,
//! as `helpdesk serve` runs them. Prints its rows of the mail benchmark's table.

use std::sync::Arc;
use std::time::Instant;

use helpdesk_shared::domain::caller::{Caller, Role};
use helpdesk_shared::domain::inbound::InboundStatus;
use helpdesk_shared::domain::patch::Command;
use helpdesk_shared::mail::OutboxMailer;
use helpdesk_shared::objects::FolderStore;
use helpdesk_shared::services::inbound::Envelope;
use helpdesk_shared::services::notifications::SendOutcome;
use helpdesk_shared::services::replies::SupportAddress;
use helpdesk_shared::store::sqlite::SqliteStore;

pub fn scenario() {
    let replies: usize = std::env::var("MAIL_BENCH_REPLIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let tickets = (replies / 10).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let work = std::env::temp_dir().join(format!("helpdesk-replies-{}", std::process::id()));
        std::fs::create_dir_all(&work).expect("work dir");
        let store = Arc::new(SqliteStore::open(&work.join("helpdesk.db")).expect("sqlite"));
        let folder = Arc::new(FolderStore::new(&work));
        let support = SupportAddress::parse("Acme Support <support@helpdesk.test>").expect("address");
        let shared: Arc<dyn helpdesk_shared::ports::store::Store> = store.clone();
        let helpdesk = helpdesk_shared::app::api_state(
            &shared,
            folder.clone(),
            folder.clone(),
            support,
            Arc::new(helpdesk_shared::http::auth::JwtClaimsAuthenticator),
            helpdesk_shared::http::Links::default(),
        );
        // The tickets the replies answer: one customer mail each.
        let context = helpdesk_shared::app::inbound(&shared, folder);
        let mut ids = Vec::with_capacity(tickets);
        for n in 0..tickets {
            let raw = format!(
                "From: Customer {n} <c{n}@customers.test>\r\nTo: support@helpdesk.test\r\nSubject: Question {n}\r\nMessage-ID: <q{n}@customers.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHow do I do thing {n}?\r\n"
            );
            let envelope = Envelope {
                id: format!("bench-{n}"),
                raw_key: format!("inbound/bench-{n}"),
                received_at: helpdesk_shared::now(),
                verdicts: None,
            };
            let record = context.ingest(envelope, raw.as_bytes()).await.expect("ingest");
            assert_eq!(record.status, InboundStatus::Ingested, "{record:?}");
            ids.push(helpdesk_shared::domain::ids::TicketId::of(
                record.ticket_id.expect("a ticket"),
            ));
        }
        // A team: one agent may send 20 replies a minute (the per-agent limit), so each agent
        // here writes 20.
        let agent = |n: usize| {
            Caller::new(format!("bench-agent-{}", n / 20), [Role::Agent], false)
                .with_name(Some("Sam".into()))
        };
        let started = Instant::now();
        for n in 0..replies {
            let body = serde_json::json!({
                "text": format!("Here is how, part {n}.\nKind regards"),
                "html": format!("<p>Here is how, part <b>{n}</b>.</p>"),
            });
            helpdesk
                .replies
                .post_message(&agent(n), &ids[n % tickets], Command::parse(body).expect("input"))
                .await
                .expect("reply written");
        }
        let written = started.elapsed();
        let sender =
            helpdesk_shared::app::reply_sender(&shared, Arc::new(OutboxMailer::new(work.join("outbox"))));
        let started = Instant::now();
        let mut sent = 0usize;
        loop {
            use helpdesk_shared::ports::due::{DueWork, DueWorkSource};
            let due = store.due_work(100).await.expect("queued replies");
            if due.is_empty() {
                break;
            }
            for work in due {
                let DueWork::Reply { ticket_id, message_key } = work else {
                    continue;
                };
                let outcome = sender.send(&ticket_id, &message_key).await.expect("sent");
                assert_eq!(outcome, SendOutcome::Sent);
                sent += 1;
            }
        }
        let sending = started.elapsed();
        assert_eq!(sent, replies, "every reply goes out once");
        let files = std::fs::read_dir(work.join("outbox")).expect("outbox").count();
        assert_eq!(files, replies, "one .eml per reply");
        let rss = super::report::peak_rss_mib();
        for (label, elapsed) in [
            ("replies written (reply service)", written),
            ("replies sent (outbox)", sending),
            ("replies, written and sent", written + sending),
        ] {
            println!(
                "| {label} | {replies} | – | {:.2} s | {:.0} | {rss:.0} MiB |",
                elapsed.as_secs_f64(),
                replies as f64 / elapsed.as_secs_f64(),
            );
        }
        let _ = std::fs::remove_dir_all(&work);
    });
}
