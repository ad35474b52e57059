//! Customer export benchmark (`cargo bench --bench export`): `helpdesk export` of
//! `EXPORT_BENCH_ROWS` customers (default 100,000 and 1,000,000) from SQLite, rows/s and the
//! command's peak RSS, compared in the same run with its baseline, the importer reading the
//! exported file back (`helpdesk import --dry-run`), which also checks the round trip at scale:
//! every row must come back `unchanged`.
//!
//! The customers are put in by `helpdesk import` of a generated file (every template column
//! filled, lists, an address, social links, a custom field). Nothing here asserts a time.

#[path = "support/report.rs"]
mod report;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
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

/// Runs `helpdesk ARGS`; answers its wall time, its own peak RSS (from `wait4`) and its stdout.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its peak RSS"
)]
fn run(args: &[&str]) -> (Duration, f64, String) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("helpdesk runs");
    let pid = i32::try_from(child.id()).expect("pid");
    let mut stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).expect("output");
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for the child this spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let took = started.elapsed();
    let text = reader.join().expect("reader");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "helpdesk {args:?} failed: {text}"
    );
    (took, usage.ru_maxrss as f64 / 1024.0, text)
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
