//! Ticket import benchmark (`cargo bench --bench ticket_import`): `helpdesk import --tickets`
//! of `TICKET_BENCH_TICKETS` tickets (default 100,000), each with three more messages (a
//! reply, the customer's answer, an internal note: 300,000 messages), for 10,000 customers
//! imported first, on SQLite. Tickets and messages per second and the command's peak RSS,
//! against the baseline in the same run of importing the same file again, where every row is
//! found already there (which also checks, at scale, that nothing is written twice).
//! Nothing here asserts a time.

#[path = "support/command.rs"]
mod command;
#[path = "support/local_dynamodb.rs"]
mod local_dynamodb;
#[path = "support/report.rs"]
mod report;

use std::io::Write;
use std::path::Path;

use command::run_program;

const CUSTOMERS: usize = 10_000;
const SCENARIO_FLAG: &str = "--scenario";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == SCENARIO_FLAG) {
        dynamodb::scenario(&args[at + 1], &args[at + 2], Path::new(&args[at + 3]));
        return;
    }
    let tickets: usize = std::env::var("TICKET_BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("helpdesk-ticket-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (customers, file, data) = (
        dir.join("customers.csv"),
        dir.join("tickets.csv"),
        dir.join("data"),
    );
    write_customers(&customers);
    write_tickets(&file, tickets);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", path(&data), "--json"]);
        run_program(env!("CARGO_BIN_EXE_helpdesk"), &all)
    };
    let (_, _, loaded) = run(&["import", path(&customers)]);
    assert!(
        loaded.contains(&format!("\"created\": {CUSTOMERS}")),
        "{loaded}"
    );
    println!("# helpdesk ticket import benchmark\n");
    println!("machine: {}", report::machine());
    println!(
        "store: SQLite (`helpdesk import --tickets` as a command), {tickets} tickets with {} \
         messages besides their first, for {CUSTOMERS} customers\n",
        tickets * 3
    );
    println!("| run | rows | time | tickets/s | messages/s | rows/s | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    let rows = tickets * 4;
    for (label, expect) in [
        ("first import: every row written", "created"),
        (
            "the same file again (baseline): every row found",
            "unchanged",
        ),
    ] {
        let (took, rss, job) = run(&["import", "--tickets", path(&file)]);
        let job: serde_json::Value = serde_json::from_str(&job).expect("the job as JSON");
        assert_eq!(job["counts"][expect], rows as u64, "{label}: {job}");
        print_line(label, tickets, took, rss);
    }
    let _ = std::fs::remove_dir_all(&dir);
    match std::env::var("DYNAMODB_ENDPOINT") {
        Ok(endpoint) => dynamodb::compare(&endpoint),
        Err(_) => {
            println!("\nDynamoDB: not measured (set DYNAMODB_ENDPOINT to a dynoxide endpoint)")
        }
    }
}

fn print_line(label: &str, tickets: usize, took: std::time::Duration, rss: f64) {
    let (rows, seconds) = (tickets * 4, took.as_secs_f64());
    println!(
        "| {label} | {rows} | {seconds:.1} s | {:.0} | {:.0} | {:.0} | {rss:.0} MiB |",
        tickets as f64 / seconds,
        (tickets * 3) as f64 / seconds,
        rows as f64 / seconds
    );
}

/// The same on DynamoDB (dynoxide): each step a child process of this binary running the
/// import service against the table.
mod dynamodb {
    use std::path::Path;
    use std::sync::Arc;

    use helpdesk_shared::domain::import_job::{ImportKind, ImportOptions};
    use helpdesk_shared::ports::store::Store;
    use helpdesk_shared::store::dynamodb::DynamoStore;

    use super::local_dynamodb::{client, import_file, new_table};

    pub fn compare(endpoint: &str) {
        let tickets: usize = std::env::var("TICKET_BENCH_DYNAMODB_TICKETS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(5_000);
        let dir =
            std::env::temp_dir().join(format!("helpdesk-ticket-bench-ddb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let table = new_table(endpoint, "ticket-bench");
        let (customers, file) = (dir.join("customers.csv"), dir.join("tickets.csv"));
        super::write_customers(&customers);
        super::write_tickets(&file, tickets);
        let step = |kind: &str, file: &Path| {
            let me = std::env::current_exe().expect("self");
            let place = format!("{endpoint} {table}");
            let args = [super::SCENARIO_FLAG, kind, &place, super::path(file)];
            super::run_program(me.to_str().expect("path"), &args)
        };
        step("customers", &customers);
        println!("\nDynamoDB (dynoxide on 127.0.0.1), {tickets} tickets:\n");
        println!("| run | rows | time | tickets/s | messages/s | rows/s | peak RSS |");
        println!("|---|---|---|---|---|---|---|");
        let (took, rss, out) = step("tickets", &file);
        assert_eq!(out.trim(), (tickets * 4).to_string(), "every row written");
        super::print_line("first import: every row written", tickets, took, rss);
        let (took, rss, out) = step("tickets", &file);
        assert_eq!(out.trim(), "0", "nothing written twice");
        super::print_line("the same file again (baseline)", tickets, took, rss);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Imports `file` (customers or tickets) into the table; prints how many rows it created.
    pub fn scenario(kind: &str, place: &str, file: &Path) {
        let (endpoint, table) = place.split_once(' ').expect("endpoint and table");
        let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client(endpoint), table));
        let options = ImportOptions {
            kind: match kind {
                "tickets" => ImportKind::Tickets,
                _ => ImportKind::Customers,
            },
            ..ImportOptions::default()
        };
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let done = runtime.block_on(import_file(&store, file, options));
        println!("{}", done.counts.created);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn write_customers(file: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("create"));
    writeln!(out, "Email,First Name,Last Name").expect("write");
    for n in 0..CUSTOMERS {
        writeln!(
            out,
            "person{n}@company{}.example,Pérson,Nümber {n}",
            n % 500
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

/// Each ticket: its row (with a description), an agent's reply, the customer's answer and an
/// internal note, on consecutive days of 2024.
fn write_tickets(file: &Path, tickets: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("create"));
    writeln!(
        out,
        "external_id,customer_email,subject,status,created_at,tags,description,author_email,text,internal"
    )
    .expect("write");
    for n in 0..tickets {
        let customer = format!(
            "person{}@company{}.example",
            n % CUSTOMERS,
            (n % CUSTOMERS) % 500
        );
        let day = n % 28 + 1;
        writeln!(
            out,
            "OD-{n},{customer},Order {n} has not arrived,solved,2024-03-{day:02},shipping; tier-{t},\
             \"Ordered on the 1st, tracking says \"\"in transit\"\" since.\",,,",
            t = n % 7
        )
        .expect("write");
        for (hour, author, text, internal) in [
            (
                9,
                "agent@support.example",
                "We are checking with the carrier.",
                "false",
            ),
            (
                11,
                customer.as_str(),
                "Thanks, still nothing here.",
                "false",
            ),
            (
                12,
                "agent@support.example",
                "Carrier lost it; reship approved.",
                "true",
            ),
        ] {
            writeln!(
                out,
                "OD-{n},,,,2024-03-{day:02}T{hour:02}:00:00Z,,,{author},\"{text}\",{internal}"
            )
            .expect("write");
        }
    }
    out.flush().expect("flush");
}
