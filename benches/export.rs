//! Customer export benchmark (`cargo bench --bench export`): `helpdesk export` of
//! `EXPORT_BENCH_ROWS` customers (default 100,000 and 1,000,000) from SQLite, rows/s and the
//! command's peak RSS, compared in the same run with its baseline, the importer reading the
//! exported file back (`helpdesk import --dry-run`), which also checks the round trip at scale:
//! every row must come back `unchanged`.
//!
//! The customers are put in by `helpdesk import` of a generated file (every template column
//! filled, lists, an address, social links). Nothing here asserts a time.
//!
//! With `DYNAMODB_ENDPOINT` (dynoxide, as `bash tests/run` starts it), the same on DynamoDB
//! for `EXPORT_BENCH_DYNAMODB_ROWS` customers (default 100,000): the export service writing
//! the file, against the importer's dry run of it, each in a child process of this binary.

#[path = "support/command.rs"]
mod command;
#[path = "support/local_dynamodb.rs"]
mod local_dynamodb;
#[path = "support/report.rs"]
mod report;

use std::path::Path;
use std::time::Duration;

use command::run_program;

const SCENARIO_FLAG: &str = "--scenario";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == SCENARIO_FLAG) {
        dynamodb::scenario(&args[at + 1], &args[at + 2], Path::new(&args[at + 3]));
        return;
    }
    let sizes: Vec<usize> = std::env::var("EXPORT_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000]);
    println!("# helpdesk customer export benchmark\n");
    println!("machine: {}", report::machine());
    println!("store: SQLite (`helpdesk export` and `helpdesk import` as commands)\n");
    println!("| customers | command | time | rows/s | peak RSS |");
    println!("|---|---|---|---|---|");
    for rows in sizes {
        let dir = std::env::temp_dir().join(format!(
            "helpdesk-export-bench-{rows}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let source = dir.join("source.csv");
        generate(&source, rows);
        let data = dir.join("data");
        let (_, _, status) = run(&[
            "import",
            path(&source),
            "--required",
            "email",
            "--data-dir",
            path(&data),
            "--json",
        ]);
        assert!(status.contains("\"created\": "), "import: {status}");
        let exported = dir.join("export.csv");
        let (took, rss, _) = run(&[
            "export",
            "--output",
            path(&exported),
            "--data-dir",
            path(&data),
        ]);
        line(rows, "`helpdesk export`", took, rss);
        let (took, rss, job) = run(&[
            "import",
            path(&exported),
            "--dry-run",
            "--json",
            "--data-dir",
            path(&data),
        ]);
        line(
            rows,
            "`helpdesk import --dry-run` of the export (baseline)",
            took,
            rss,
        );
        let job: serde_json::Value = serde_json::from_str(&job).expect("the job as JSON");
        assert_eq!(
            job["counts"]["unchanged"], rows as u64,
            "every row unchanged: {job}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    match std::env::var("DYNAMODB_ENDPOINT") {
        Ok(endpoint) => dynamodb::compare(&endpoint),
        Err(_) => {
            println!("\nDynamoDB: not measured (set DYNAMODB_ENDPOINT to a dynoxide endpoint)")
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn line(rows: usize, command: &str, took: Duration, rss_mib: f64) {
    let rate = rows as f64 / took.as_secs_f64();
    println!(
        "| {rows} | {command} | {:.2} s | {rate:.0} | {rss_mib:.0} MiB |",
        took.as_secs_f64()
    );
}

/// The DynamoDB half, on dynoxide: each step in a child process of this binary.
mod dynamodb {
    use std::path::Path;
    use std::sync::Arc;

    use helpdesk_shared::domain::caller::{Caller, Role};
    use helpdesk_shared::domain::import_job::ImportOptions;
    use helpdesk_shared::objects::FolderStore;
    use helpdesk_shared::ports::store::Store;
    use helpdesk_shared::store::dynamodb::DynamoStore;

    use super::local_dynamodb::{client, import_file, new_table};

    pub fn compare(endpoint: &str) {
        let rows: usize = std::env::var("EXPORT_BENCH_DYNAMODB_ROWS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        let dir =
            std::env::temp_dir().join(format!("helpdesk-export-bench-ddb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let table = new_table(endpoint, "export-bench");
        let source = dir.join("source.csv");
        super::generate(&source, rows);
        println!("\nDynamoDB (dynoxide on 127.0.0.1), {rows} customers:\n");
        println!("| customers | step | time | rows/s | peak RSS |");
        println!("|---|---|---|---|---|");
        let step = |kind: &str, file: &Path| {
            let me = std::env::current_exe().expect("self");
            let args = [
                super::SCENARIO_FLAG,
                kind,
                &format!("{endpoint} {table}"),
                super::path(file),
            ];
            super::run_program(me.to_str().expect("path"), &args)
        };
        let (took, rss, _) = step("load", &source);
        super::line(rows, "importer, new customers (loading)", took, rss);
        let exported = dir.join("export.csv");
        let (took, rss, out) = step("export", &exported);
        assert_eq!(out.trim(), rows.to_string(), "every customer exported");
        super::line(rows, "export service writing the CSV", took, rss);
        let (took, rss, out) = step("dry-run", &exported);
        assert_eq!(out.trim(), rows.to_string(), "every row unchanged");
        super::line(
            rows,
            "importer's dry run of the export (baseline)",
            took,
            rss,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    pub fn scenario(kind: &str, place: &str, file: &Path) {
        let (endpoint, table) = place.split_once(' ').expect("endpoint and table");
        let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client(endpoint), table));
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            match kind {
                "export" => {
                    let admin = Caller::new("bench", [Role::Admin], true);
                    let exports = helpdesk_shared::app::exports(
                        &store,
                        Arc::new(FolderStore::new(std::env::temp_dir())),
                    );
                    let mut out =
                        std::io::BufWriter::new(std::fs::File::create(file).expect("file"));
                    let filter = Default::default();
                    let count = exports
                        .write_csv(&admin, &filter, false, &mut out, &mut |_| {})
                        .await
                        .expect("export");
                    println!("{count}");
                }
                _ => {
                    let options = ImportOptions {
                        dry_run: kind == "dry-run",
                        required: vec!["email".into()],
                        ..ImportOptions::default()
                    };
                    let job = import_file(&store, file, options).await;
                    let done = if kind == "dry-run" {
                        job.counts.unchanged
                    } else {
                        job.counts.created
                    };
                    println!("{done}");
                }
            }
        });
    }
}

/// Runs `helpdesk ARGS`; answers its wall time, its own peak RSS and its stdout.
fn run(args: &[&str]) -> (Duration, f64, String) {
    run_program(env!("CARGO_BIN_EXE_helpdesk"), args)
}

/// `rows` customers with every template column filled.
fn generate(file: &Path, rows: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("create"));
    writeln!(
        out,
        "{}",
        helpdesk_shared::domain::customer_csv::COLUMNS.join(",")
    )
    .expect("write");
    for n in 0..rows {
        writeln!(
            out,
            "person{n}@company{c}.example,Pérson,Nümber {n},,+1 555 {p:04},alt{n}@home.example,\
             vip;tier-{t},\"Met at the fair, asked for \"\"the manual\"\"\",{n} Main St,Apt {t},\
             Springfield,IL,627{t:02},US,own,,twitter=https://x.com/p{n}",
            c = n % 5000,
            p = n % 10_000,
            t = n % 50
        )
        .expect("write");
    }
    out.flush().expect("flush");
}
