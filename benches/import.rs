//! Import benchmark (`cargo bench --bench import`): rows/s and peak RSS for 100k and 1M-row
//! files, (a) into SQLite as `helpdesk import` does, (b) into DynamoDB through the store adapter
//! against a local DynamoDB-protocol endpoint that adds 10 ms per request and throttles
//! (ProvisionedThroughputExceededException) above a write budget (default 40,000 items/s).
//!
//! (c) The same as (b) with the test suite's fault proxy in front of the endpoint: one call in 7
//! fails before the table (JSON 500, throttling, HTML 500), one write in 5 loses its answer.
//!
//! Each scenario runs in a child process of this binary, so its peak RSS (VmHWM) is its own.
//! Set `IMPORT_BENCH_ROWS=100000` to run one size, `IMPORT_BENCH_STORES=dynamodb` to run one
//! store, `IMPORT_BENCH_WRITE_RATE` to change the budget. Nothing here asserts a time.

#[path = "support/report.rs"]
mod report;

#[path = "support/fake_dynamodb.rs"]
mod fake_dynamodb;

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::Helpdesk;
use helpdesk_shared::domain::import_job::{ImportJob, ImportOptions, RunAs};
use helpdesk_shared::objects::FolderStore;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::services::imports::{ImportContext, RunOptions, run_import};
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::store::sqlite::SqliteStore;

const SCENARIO_FLAG: &str = "--scenario";
const FAKE_FLAG: &str = "--fake-dynamodb";
const FAULTS_FLAG: &str = "--with-faults";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == FAKE_FLAG) {
        serve_fake(args.iter().any(|a| a == FAULTS_FLAG));
        return;
    }
    if let Some(position) = args.iter().position(|a| a == SCENARIO_FLAG) {
        let kind = args[position + 1].clone();
        let rows: usize = args[position + 2].parse().expect("rows");
        let file = PathBuf::from(&args[position + 3]);
        let endpoint = args.get(position + 4).cloned();
        scenario(&kind, rows, &file, endpoint);
        return;
    }
    let sizes: Vec<usize> = match std::env::var("IMPORT_BENCH_ROWS") {
        Ok(rows) => vec![rows.parse().expect("IMPORT_BENCH_ROWS is a number")],
        Err(_) => vec![100_000, 1_000_000],
    };
    let rate = write_rate();
    println!("# helpdesk import benchmark\n");
    println!("machine: {}", report::machine());
    println!(
        "DynamoDB endpoint: local fake in its own process, 10 ms per request, throttles above {rate:.0} items/s\n"
    );
    println!("| store | rows | time | rows/s | peak RSS |");
    println!("|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("helpdesk-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for rows in sizes {
        let file = dir.join(format!("customers-{rows}.csv"));
        generate(&file, rows);
        let stores = std::env::var("IMPORT_BENCH_STORES")
            .unwrap_or_else(|_| "sqlite,dynamodb,faults".into());
        for kind in ["sqlite", "dynamodb", "faults"]
            .into_iter()
            .filter(|k| stores.split(',').any(|s| s == *k))
        {
            // The endpoint runs in its own process: its memory is not the import's.
            let mut fake = (kind != "sqlite").then(|| {
                let mut command = Command::new(std::env::current_exe().expect("self"));
                command.arg(FAKE_FLAG);
                if kind == "faults" {
                    command.arg(FAULTS_FLAG);
                }
                command
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("fake endpoint starts")
            });
            let endpoint = fake.as_mut().map(|child| {
                let stdout = child.stdout.take().expect("stdout");
                BufReader::new(stdout)
                    .lines()
                    .next()
                    .expect("address line")
                    .expect("utf-8")
            });
            let mut command = Command::new(std::env::current_exe().expect("self"));
            command.args([
                SCENARIO_FLAG,
                kind,
                &rows.to_string(),
                file.to_str().expect("path"),
            ]);
            if let Some(endpoint) = &endpoint {
                command.arg(endpoint);
            }
            let output = command.output().expect("scenario runs");
            let text = String::from_utf8_lossy(&output.stdout)
                .trim_end()
                .to_string();
            if !output.status.success() {
                panic!(
                    "{kind} {rows}: {}{}",
                    text,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let mut extra = String::new();
            if let (Some(endpoint), Some(mut child)) = (endpoint, fake) {
                let stats = fake_stats(&endpoint);
                let _ = child.kill();
                let _ = child.wait();
                // Nothing lost, nothing twice: every customer once, plus the job.
                assert_eq!(
                    stats["items_stored"].as_u64(),
                    Some(rows as u64 + 1),
                    "{stats}"
                );
                extra = format!(
                    " ({} requests, {} throttled)",
                    stats["requests"], stats["throttled"]
                );
            }
            println!("{}", text.replacen("{extra}", &extra, 1));
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

/// Runs the fake DynamoDB endpoint until killed (behind the fault proxy with `faults`); the
/// address to use is the first line on stdout.
fn serve_fake(faults: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let fake = fake_dynamodb::FakeDynamo::start(Duration::from_millis(10), write_rate()).await;
        if faults {
            let proxy = fault_proxy::FaultProxy::start(&fake.endpoint(), 7, 5, 20_261_201).await;
            println!("{}", proxy.endpoint());
        } else {
            println!("{}", fake.endpoint());
        }
        std::future::pending::<()>().await;
    });
}

fn fake_stats(endpoint: &str) -> serde_json::Value {
    use std::io::Read;
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("fake endpoint");
    write!(
        stream,
        "GET /stats HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).expect("stats JSON")
}

fn scenario(kind: &str, rows: usize, file: &Path, endpoint: Option<String>) {
    // Warnings only (stderr), unless RUST_LOG asks for more.
    helpdesk_shared::telemetry::init(helpdesk_shared::telemetry::Logs::Quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let work =
            std::env::temp_dir().join(format!("helpdesk-import-{kind}-{}", std::process::id()));
        std::fs::create_dir_all(&work).expect("work dir");
        let store: Arc<dyn Store> = match endpoint {
            None => Arc::new(SqliteStore::open(&work.join("helpdesk.db")).expect("sqlite")),
            Some(endpoint) => {
                let config = aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                    .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                    .endpoint_url(endpoint)
                    .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                        "bench", "bench", None, None, "bench",
                    ))
                    .build();
                Arc::new(DynamoStore::new(
                    aws_sdk_dynamodb::Client::from_conf(config),
                    "bench",
                ))
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
        println!(
            "| {kind}{{extra}} | {rows} | {:.1} s | {:.0} | {:.0} MiB |",
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64(),
            report::peak_rss_mib()
        );
        let _ = std::fs::remove_dir_all(&work);
    });
}
