//! Real mail for local mode (`cargo bench --bench mailbox`), against real servers on 127.0.0.1:
//!
//! 1. **IMAP in**: `MAILBOX_BENCH_MESSAGES` messages (default 1,000) waiting in a Dovecot
//!    mailbox, fetched and ingested by `helpdesk serve --imap-url` (each fetched, stored through
//!    the inbound pipeline and marked `\Seen`); baseline: the same messages dropped as `.eml`
//!    files into `DATA_DIR/inbox/` of another `helpdesk serve`, the same pipeline without IMAP.
//! 2. **SMTP out**: as many messages sent through the SMTP mailer to aiosmtpd (one connection
//!    per message, each recipient offered on its own), with and without the outbox copy;
//!    baseline: the outbox mailer alone, which is all local mode had before.
//!
//! Nothing here asserts a time.

#[path = "support/report.rs"]
mod report;
#[path = "support/serve.rs"]
mod serve;
#[path = "../tests/suite/local/mail/servers.rs"]
#[allow(
    dead_code,
    reason = "the tests use more of the servers than the benchmark"
)]
mod servers;

/// What `servers` needs from the test suite's support.
mod support {
    pub fn temp_dir(label: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("helpdesk-bench-{label}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}

use std::time::{Duration, Instant};

use helpdesk_shared::mail::OutboxMailer;
use helpdesk_shared::ports::mailer::{Mailer, OutgoingMail};
use serve::{get, serve, wait_for};

fn main() {
    let messages: usize = std::env::var("MAILBOX_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    println!("# helpdesk mailbox benchmark\n");
    println!("machine: {}", report::machine());
    println!("servers: Dovecot (IMAP) and aiosmtpd (SMTP) on 127.0.0.1, plain connections\n");
    println!("| path | messages | time | messages/s |");
    println!("|---|---|---|---|");
    imap_in(messages);
    smtp_out(messages);
}

fn row(path: &str, messages: usize, took: Duration) {
    let rate = messages as f64 / took.as_secs_f64();
    println!(
        "| {path} | {messages} | {:.2} s | {rate:.0} |",
        took.as_secs_f64()
    );
}

fn message(n: usize) -> String {
    format!(
        "From: Person {p} <person{p}@company{c}.example>\r\nTo: support@helpdesk.test\r\n\
         Subject: Order {n} arrived damaged\r\nMessage-ID: <bench-{n}@company{c}.example>\r\n\
         Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         The box for order {n} was crushed and the contents are broken.\r\n{}",
        "Details follow in this line of text.\r\n".repeat(20),
        p = n % 200,
        c = n % 50
    )
}

fn imap_in(messages: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dovecot = servers::Dovecot::start();
    runtime.block_on(async {
        let mut session = dovecot.client().await;
        for n in 0..messages {
            session
                .append("INBOX", None, None, message(n).as_bytes())
                .await
                .expect("APPEND");
        }
        session.logout().await.expect("logout");
    });

    let dropped = support::temp_dir("inbox");
    std::fs::create_dir_all(dropped.join("inbox")).expect("inbox");
    for n in 0..messages {
        std::fs::write(dropped.join(format!("inbox/{n:06}.eml")), message(n)).expect("write");
    }
    let (server, started) = serve(&dropped, &[], &[]);
    wait_for(|| std::fs::read_dir(dropped.join("inbox")).map_or(0, |d| d.count()) == 0);
    row(
        "inbox/ folder, same pipeline (baseline)",
        messages,
        started.elapsed(),
    );
    drop(server);

    let fetched = support::temp_dir("imap");
    let url = format!(
        "imap://support%40helpdesk.test@127.0.0.1:{}/INBOX",
        dovecot.port
    );
    let args = ["--insecure-mail", "--imap-url", url.as_str()];
    let env = [("HELPDESK_IMAP_PASSWORD", servers::MAILBOX_PASSWORD)];
    let (server, started) = serve(&fetched, &args, &env);
    let key = std::fs::read_to_string(fetched.join("admin.key")).expect("key");
    wait_for(|| {
        let status = get(&server.address, "/status", key.trim());
        status["mail"]["imap"]["messages_ingested"].as_u64() == Some(messages as u64)
    });
    row(
        "IMAP: fetched, ingested, marked \\Seen",
        messages,
        started.elapsed(),
    );
}

fn smtp_out(messages: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sink = servers::SmtpSink::start();
    let mail = |n: usize| OutgoingMail {
        from: "Support <support@helpdesk.test>".into(),
        to: format!("Person {n} <person{n}@company.example>"),
        subject: format!("Re: Order {n} arrived damaged"),
        text: "We are sending a new one today.\n".repeat(10),
        message_id: Some(format!("reply-{n}@helpdesk.test")),
        in_reply_to: Some(format!("bench-{n}@company.example")),
        ..OutgoingMail::default()
    };
    let send_all = |mailer: &dyn Mailer| {
        let started = Instant::now();
        runtime.block_on(async {
            for n in 0..messages {
                mailer.send(&mail(n)).await.expect("sent");
            }
        });
        started.elapsed()
    };
    let outbox = OutboxMailer::new(support::temp_dir("outbox"));
    row("outbox folder only (baseline)", messages, send_all(&outbox));
    for (copy, label) in [(false, "SMTP"), (true, "SMTP with the outbox copy")] {
        let options = helpdesk::local::mail::MailOptions {
            smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port)),
            smtp_per_minute: 60_000,
            outbox_copy: copy,
            insecure: true,
            ..Default::default()
        };
        let connections = options
            .connections(OutboxMailer::new(support::temp_dir("copies")))
            .expect("settings");
        let mailer = connections.mailer.expect("an SMTP mailer");
        row(label, messages, send_all(mailer.as_ref()));
    }
    assert_eq!(
        sink.received().len(),
        2 * messages,
        "the relay took every message"
    );
}
