//! Inbound mail benchmark (`cargo bench --bench mail`): messages/s and peak RSS for
//! (1) a generated corpus of threads with replies (default 2,000 messages: 500 threads of a first
//! message and three replies threaded by In-Reply-To, References and the subject token, some with
//! HTML and attachments), and (2) one 25 MB message with attachments.
//!
//! (1b) The same corpus with Cc: each first message copied to the previous thread's sender (a
//! customer by then) and to someone who is not a customer, who sends the token reply (a new
//! sender naming a ticket whose mail was addressed to them: it joins). Compared with (1) in the
//! same run.
//!
//! Both ingest through the shared pipeline on the SQLite store with a folder for the mail bucket,
//! as `helpdesk ingest` does, one message after another (each SES delivery is one invocation).
//! (3) Agents' replies through the local pipeline: written as `POST /tickets/{id}/messages` writes
//! them (default 2,000 over 200 tickets), then sent as `helpdesk serve` sends them (the queued
//! replies, each claimed, written to the outbox folder as `.eml`, and settled).
//! `MAIL_BENCH_REPLIES` sets how many.
//! Each scenario runs in a child process of this binary, so its peak RSS (VmHWM) is its own.
//! `MAIL_BENCH_MESSAGES` sets the corpus size, `MAIL_BENCH_LARGE_MB` the large message's size.
//! Nothing here asserts a time.

#[path = "support/replies.rs"]
mod replies;
#[path = "support/report.rs"]
mod report;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use helpdesk_shared::domain::inbound::InboundStatus;
use helpdesk_shared::objects::FolderStore;
use helpdesk_shared::services::customers::CustomerService;
use helpdesk_shared::services::inbound::{Envelope, MailContext};
use helpdesk_shared::store::sqlite::SqliteStore;

const SCENARIO_FLAG: &str = "--scenario";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|a| a == SCENARIO_FLAG) {
        let kind = args[position + 1].clone();
        let folder = PathBuf::from(&args[position + 2]);
        scenario(&kind, &folder);
        return;
    }
    let messages: usize = std::env::var("MAIL_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let large_mb: usize = std::env::var("MAIL_BENCH_LARGE_MB")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(25);
    println!("# helpdesk inbound mail benchmark\n");
    println!("machine: {}", report::machine());
    println!("store: SQLite, mail bucket: a folder (the pipeline `helpdesk ingest` runs)\n");
    println!("| scenario | messages | bytes | time | messages/s | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("helpdesk-mail-bench-{}", std::process::id()));
    let corpus = dir.join("corpus");
    let copied = dir.join("copied");
    let large = dir.join("large");
    for folder in [&corpus, &copied, &large] {
        std::fs::create_dir_all(folder).expect("dir");
    }
    generate_corpus(&corpus, messages, false);
    generate_corpus(&copied, messages, true);
    generate_large(&large.join("large.eml"), large_mb * 1024 * 1024);
    for (kind, folder) in [
        ("corpus", &corpus),
        ("copied", &copied),
        ("large", &large),
        ("replies", &corpus),
    ] {
        let output = Command::new(std::env::current_exe().expect("self"))
            .args([SCENARIO_FLAG, kind, folder.to_str().expect("path")])
            .output()
            .expect("scenario runs");
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            panic!("{kind}: {text}{}", String::from_utf8_lossy(&output.stderr));
        }
        print!("{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Threads of four: a first message, a reply with In-Reply-To, an Outlook-style reply with
/// only References, and a reply that kept only the subject token (filled in at ingest time,
/// since the ticket id is not known in advance: see `scenario`). `copied`: the first message
/// has a Cc (the previous thread's sender and a watcher), and the watcher sends the token reply.
fn generate_corpus(folder: &Path, messages: usize, copied: bool) {
    let threads = messages.div_ceil(4);
    let mut written = 0;
    for reply in 0..4 {
        for thread in 0..threads {
            if written == messages {
                return;
            }
            let watcher = format!("Watcher {thread} <watcher{thread}@elsewhere.example>");
            let sender = if copied && reply == 3 {
                watcher.clone()
            } else {
                format!(
                    "Person {thread} <person{thread}@company{}.example>",
                    thread % 50
                )
            };
            let cc = if copied && reply == 0 {
                let previous = thread.saturating_sub(1);
                format!(
                    "Cc: person{previous}@company{}.example, {watcher}\r\n",
                    previous % 50
                )
            } else {
                String::new()
            };
            let id = |n: usize| format!("<t{thread}-m{n}@company{}.example>", thread % 50);
            let subject = match reply {
                0 => format!("Order {thread} arrived damaged"),
                3 => format!("Re: [#TOKEN-{thread}] Order {thread} arrived damaged"),
                _ => format!("Re: Order {thread} arrived damaged"),
            };
            let threading = match reply {
                0 | 3 => String::new(),
                1 => format!("In-Reply-To: {}\r\nReferences: {}\r\n", id(0), id(0)),
                _ => format!("References: {} {}\r\n", id(0), id(1)),
            };
            let body = if thread % 5 == 0 {
                // Every fifth thread: HTML alternative and a 10 KB attachment.
                let attachment = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n".repeat(280);
                format!(
                    "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMessage {reply} about order {thread}.\r\n\r\nOn Mon, Support wrote:\r\n> earlier text\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Message {reply} about <b>order {thread}</b>.</p><blockquote>earlier text</blockquote>\r\n--alt--\r\n--mix\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"photo-{thread}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--mix--\r\n"
                )
            } else {
                format!(
                    "Content-Type: text/plain; charset=utf-8\r\n\r\nMessage {reply} about order {thread}.\r\nThe box was crushed and the contents are broken.\r\n\r\nOn Mon, Support wrote:\r\n> earlier text\r\n"
                )
            };
            let raw = format!(
                "From: {sender}\r\nTo: help@helpdesk.example\r\n{cc}Subject: {subject}\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: {}\r\n{threading}MIME-Version: 1.0\r\n{body}",
                id(reply)
            );
            std::fs::write(folder.join(format!("{reply}-{thread:06}.eml")), raw).expect("write");
            written += 1;
        }
    }
}

/// One message of about `size` bytes: a text body and three base64 attachments.
fn generate_large(path: &Path, size: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    write!(
        file,
        "From: Big Sender <big@large.example>\r\nTo: help@helpdesk.example\r\nSubject: Logs and screenshots\r\nMessage-ID: <large@large.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nEverything is attached.\r\n"
    )
    .expect("write");
    let per_attachment = size / 3;
    // 76-character base64 lines, as mail clients write them.
    let line = "TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdC4u\r\n";
    for n in 0..3 {
        write!(
            file,
            "--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"part-{n}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        )
        .expect("write");
        for _ in 0..per_attachment / line.len() {
            file.write_all(line.as_bytes()).expect("write");
        }
    }
    write!(file, "--big--\r\n").expect("write");
    file.flush().expect("flush");
}

fn scenario(kind: &str, folder: &Path) {
    if kind == "replies" {
        return replies::scenario();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let work =
            std::env::temp_dir().join(format!("helpdesk-mail-{kind}-{}", std::process::id()));
        std::fs::create_dir_all(&work).expect("work dir");
        let store = Arc::new(SqliteStore::open(&work.join("helpdesk.db")).expect("sqlite"));
        let customers = CustomerService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            helpdesk_shared::services::addresses::AddressBook::new(store.clone(), store.clone()),
        );
        let mail = Arc::new(FolderStore::new(&work));
        let context = MailContext::new(customers, store.clone(), store, mail);
        let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
            .expect("folder")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        let mut tickets: std::collections::HashMap<String, String> = Default::default();
        let (mut bytes, mut ingested) = (0usize, 0usize);
        let started = Instant::now();
        for (n, path) in files.iter().enumerate() {
            let mut raw = std::fs::read(path).expect("read");
            // Token replies name the ticket their thread's first message opened.
            if let Some(start) = find(&raw, b"[#TOKEN-") {
                let end = start + find(&raw[start..], b"]").expect("token end");
                let thread = String::from_utf8_lossy(&raw[start + 8..end]).to_string();
                let ticket = tickets
                    .get(&thread)
                    .expect("first message ingested")
                    .clone();
                raw.splice(start + 2..end, ticket.into_bytes());
            }
            bytes += raw.len();
            let envelope = Envelope {
                id: format!("bench-{n}"),
                raw_key: format!("inbound/bench-{n}"),
                received_at: helpdesk_shared::now(),
                verdicts: None,
            };
            let record = context.ingest(envelope, &raw).await.expect("ingest");
            assert_eq!(record.status, InboundStatus::Ingested, "{record:?}");
            ingested += 1;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if let Some(thread) = name.strip_prefix("0-").and_then(|n| n.strip_suffix(".eml")) {
                let thread = thread.trim_start_matches('0');
                let thread = if thread.is_empty() { "0" } else { thread };
                tickets.insert(
                    thread.to_string(),
                    record.ticket_id.clone().expect("ticket"),
                );
            } else if kind != "large" {
                use helpdesk_shared::domain::ticket::ThreadReason;
                assert!(
                    !matches!(
                        record.thread_reason,
                        Some(ThreadReason::New | ThreadReason::NotParticipant)
                    ),
                    "every reply threads: {record:?}"
                );
            }
        }
        let elapsed = started.elapsed();
        println!(
            "| {kind} | {ingested} | {:.1} MB | {:.2} s | {:.0} | {:.0} MiB |",
            bytes as f64 / 1e6,
            elapsed.as_secs_f64(),
            ingested as f64 / elapsed.as_secs_f64(),
            report::peak_rss_mib()
        );
        let _ = std::fs::remove_dir_all(&work);
    });
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
