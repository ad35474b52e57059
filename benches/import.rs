//! Import benchmark (`cargo bench --bench import`): rows/s and peak RSS for 100k and 1M-row
//! files, (a) into SQLite as `helpdesk import` does, (b) into DynamoDB through the store adapter
//! against a local DynamoDB-protocol endpoint that adds 10 ms per request and throttles
//! (ProvisionedThroughputExceededException) above a write budget (default 40,000 items/s).
//!
//! Each scenario runs in a child process of this binary, so its peak RSS (VmHWM) is its own.
//! Set `IMPORT_BENCH_ROWS=100000` to run one size, `IMPORT_BENCH_WRITE_RATE` to change the
//! budget. Nothing here asserts a time.

#[path = "support/fake_dynamodb.rs"]
mod fake_dynamodb;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::Helpdesk;
use helpdesk_shared::imports::{
    ImportContext, ImportJob, ImportOptions, RunAs, RunOptions, run_import,
};
use helpdesk_shared::objects::FolderStore;
use helpdesk_shared::store::Store;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::store::sqlite::SqliteStore;

const SCENARIO_FLAG: &str = "--scenario";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|a| a == SCENARIO_FLAG) {
        let kind = args[position + 1].clone();
        let rows: usize = args[position + 2].parse().expect("rows");
        let file = PathBuf::from(&args[position + 3]);
        scenario(&kind, rows, &file);
        return;
    }
    let sizes: Vec<usize> = match std::env::var("IMPORT_BENCH_ROWS") {
        Ok(rows) => vec![rows.parse().expect("IMPORT_BENCH_ROWS is a number")],
        Err(_) => vec![100_000, 1_000_000],
    };
    let rate = write_rate();
    println!("# helpdesk import benchmark\n");
    println!("machine: {}", machine());
    println!(
        "DynamoDB endpoint: in-process fake, 10 ms per request, throttles above {rate:.0} items/s\n"
    );
    println!("| store | rows | time | rows/s | peak RSS |");
    println!("|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("helpdesk-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for rows in sizes {
        let file = dir.join(format!("customers-{rows}.csv"));
        generate(&file, rows);
        for kind in ["sqlite", "dynamodb"] {
            let output = Command::new(std::env::current_exe().expect("self"))
                .args([
                    SCENARIO_FLAG,
                    kind,
                    &rows.to_string(),
                    file.to_str().expect("path"),
                ])
                .output()
                .expect("scenario runs");
            let text = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                panic!(
                    "{kind} {rows}: {}{}",
                    text,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            print!("{text}");
        }
        let _ = std::fs::remove_file(&file);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_rate() -> f64 {
    std::env::var("IMPORT_BENCH_WRITE_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40_000.0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpu}, {cores} cores")
}

/// A realistic export: names, company-less business emails over many domains, phones, tags.
fn generate(path: &Path, rows: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(file, "Email,First Name,Last Name,Phone,Tags,City,Country").expect("write");
    for i in 0..rows {
        writeln!(
            file,
            "person{i}@company{}.example,First{i},Last{},+1 555 {:04} {:04},customer;tier{},City {},US",
            i % 5_000,
            i % 977,
            i % 10_000,
            (i / 10_000) % 10_000,
            i % 3,
            i % 50
        )
        .expect("write");
    }
    file.flush().expect("flush");
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn scenario(kind: &str, rows: usize, file: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let work =
            std::env::temp_dir().join(format!("helpdesk-import-{kind}-{}", std::process::id()));
        std::fs::create_dir_all(&work).expect("work dir");
        let (store, fake): (Arc<dyn Store>, Option<fake_dynamodb::FakeDynamo>) = match kind {
            "sqlite" => (
                Arc::new(SqliteStore::open(&work.join("helpdesk.db")).expect("sqlite")),
                None,
            ),
            _ => {
                let fake =
                    fake_dynamodb::FakeDynamo::start(Duration::from_millis(10), write_rate()).await;
                let config = aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                    .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                    .endpoint_url(fake.endpoint())
                    .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                        "bench", "bench", None, None, "bench",
                    ))
                    .build();
                (
                    Arc::new(DynamoStore::new(
                        aws_sdk_dynamodb::Client::from_conf(config),
                        "bench",
                    )),
                    Some(fake),
                )
            }
        };
        let helpdesk = Helpdesk::new(store);
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let job = ImportJob::new(
            helpdesk_shared::new_id(),
            name,
            ImportOptions::default(),
            RunAs::system(),
        );
        helpdesk.store().insert_import_job(&job).await.expect("job");
        let context = ImportContext {
            helpdesk: helpdesk.clone(),
            sources: Arc::new(FolderStore::new(file.parent().expect("folder"))),
            reports: Arc::new(FolderStore::new(&work)),
        };
        let started = Instant::now();
        let outcome = run_import(&context, &job.id, RunOptions::default())
            .await
            .expect("import runs");
        let elapsed = started.elapsed();
        let job = outcome.job();
        assert_eq!(
            job.counts.created as usize, rows,
            "every row created: {:?}",
            job.counts
        );
        let throttled = match &fake {
            Some(fake) => {
                let stats = fake.stats();
                // Nothing lost, nothing twice: every customer once, plus the job.
                assert_eq!(stats.items_stored, rows + 1, "{stats:?}");
                assert!(stats.items_written >= rows as u64, "{stats:?}");
                format!(
                    " ({} requests, {} throttled)",
                    stats.requests, stats.throttled
                )
            }
            None => String::new(),
        };
        println!(
            "| {kind}{throttled} | {rows} | {:.1} s | {:.0} | {:.0} MiB |",
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64(),
            peak_rss_mib()
        );
        let _ = std::fs::remove_dir_all(&work);
    });
}
