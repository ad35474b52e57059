//! Import benchmark (`cargo bench --bench import`): rows/s and peak RSS for 100k and 1M-row
//! files, (a) into SQLite as `helpdesk import` does, (b) into DynamoDB through the store adapter
//! against dynoxide (`DYNAMODB_ENDPOINT`, as `bash tests/run` starts it) behind the metering
//! proxy, which adds 10 ms per request and throttles (ProvisionedThroughputExceededException)
//! above a write budget (default 40,000 items/s).
//!
//! (b) creates new customers 25 to a `BatchExecuteStatement`; `dynamodb-puts`, its baseline,
//! with one conditional `PutItem` each (as before). Both print the importer's own CPU (user +
//! sys of the scenario process, not the proxy's or dynoxide's) per row.
//!
//! (c) The same as (b) with the test suite's fault proxy in front of the metering proxy: one call in 7
//! fails before the table (JSON 500, throttling, HTML 500), one write in 5 loses its answer.
//!
//! (d) `sqlite-bare`: the bare-insert rate of the local schema, the baseline for (a). The same
//! rows, built as records before the clock starts (no CSV, mapping or validation), written
//! through the store's bulk write (prepared statements, batches of 1,000 as the import writes
//! them); only the writes are timed.
//!
//! The metering proxy counts capacity as dynoxide reports it and DynamoDB charges it
//! (benches/support/metering_proxy.rs, capacity.rs): (b) and
//! (c) print the write request units per imported row, in the table and in its indexes, and
//! the hottest partition key value's highest WRU in one second.
//!
//! `IMPORT_BENCH_AGAIN=1` makes (b) import two more files into the same table, and print the
//! WRU and RRU per row of each: the same file again (every row unchanged), and the same emails
//! with every last name changed (every row updated).
//!
//! (e) `limits` (not run by default: `IMPORT_BENCH_STORES=limits`): (b) with DynamoDB's own
//! limits in the proxy instead of the flat item budget: 40,000 WRU/s per table and per
//! index, 1,000 WRU/s per partition key value.
//!
//! Each scenario runs in a child process of this binary, so its peak RSS (VmHWM) is its own.
//! Set `IMPORT_BENCH_ROWS=100000` to run one size, `IMPORT_BENCH_STORES=dynamodb` to run one
//! store, `IMPORT_BENCH_WRITE_RATE` to change the budget. Nothing here asserts a time.

#[path = "support/local_dynamodb.rs"]
mod local_dynamodb;
#[path = "support/report.rs"]
mod report;

#[path = "support/metering_proxy.rs"]
mod metering_proxy;

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpdesk_shared::domain::customer::{Address, Customer, ImportMark, Profile};
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::domain::import_job::{ImportJob, ImportOptions, RowOutcome, RunAs};
use helpdesk_shared::objects::FolderStore;
use helpdesk_shared::ports::store::{CustomerStore, CustomerWrite, Store};
use helpdesk_shared::services::customers::CustomerService;
use helpdesk_shared::services::imports::{ImportContext, RunOptions, run_import};
use helpdesk_shared::store::dynamodb::{BulkInserts, DynamoStore};
use helpdesk_shared::store::sqlite::SqliteStore;

const SCENARIO_FLAG: &str = "--scenario";
const PROXY_FLAG: &str = "--metering-proxy";
const FAULTS_FLAG: &str = "--with-faults";
const LIMITS_FLAG: &str = "--with-dynamodb-limits";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == PROXY_FLAG) {
        serve_proxy(
            args.iter().any(|a| a == FAULTS_FLAG),
            args.iter().any(|a| a == LIMITS_FLAG),
        );
        return;
    }
    if let Some(position) = args.iter().position(|a| a == SCENARIO_FLAG) {
        let kind = args[position + 1].clone();
        let rows: usize = args[position + 2].parse().expect("rows");
        let file = PathBuf::from(&args[position + 3]);
        let endpoint = args
            .get(position + 4)
            .cloned()
            .zip(args.get(position + 5).cloned());
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
    let dynoxide = metering_proxy::dynoxide_endpoint();
    match &dynoxide {
        Some(_) => println!(
            "DynamoDB: dynoxide behind the metering proxy (its own process), 10 ms per request, throttles above {rate:.0} items/s\n"
        ),
        None => println!("DynamoDB: {}\n", metering_proxy::NOT_MEASURED),
    }
    println!("| store | rows | time | rows/s | peak RSS |");
    println!("|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("helpdesk-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for rows in sizes {
        let file = dir.join(format!("customers-{rows}.csv"));
        generate(&file, rows);
        let stores = std::env::var("IMPORT_BENCH_STORES")
            .unwrap_or_else(|_| "sqlite-bare,sqlite,dynamodb-puts,dynamodb,faults".into());
        let mut rates: Vec<(&str, f64)> = Vec::new();
        for kind in [
            "sqlite-bare",
            "sqlite",
            "dynamodb-puts",
            "dynamodb",
            "faults",
            "limits",
        ]
        .into_iter()
        .filter(|k| stores.split(',').any(|s| s == *k))
        .filter(|k| k.starts_with("sqlite") || dynoxide.is_some())
        {
            // The proxy runs in its own process: its memory is not the import's.
            let mut proxy = (!kind.starts_with("sqlite")).then(|| {
                let mut command = Command::new(std::env::current_exe().expect("self"));
                command.arg(PROXY_FLAG);
                if kind == "faults" {
                    command.arg(FAULTS_FLAG);
                }
                if kind == "limits" {
                    command.arg(LIMITS_FLAG);
                }
                command
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("metering proxy starts")
            });
            // Its first line: the address to use and the table it made.
            let endpoint = proxy.as_mut().map(|child| {
                let stdout = child.stdout.take().expect("stdout");
                let line = BufReader::new(stdout)
                    .lines()
                    .next()
                    .expect("address line")
                    .expect("utf-8");
                let (address, table) = line.split_once(' ').expect("address and table");
                (address.to_string(), table.to_string())
            });
            let mut command = Command::new(std::env::current_exe().expect("self"));
            command.args([
                SCENARIO_FLAG,
                kind,
                &rows.to_string(),
                file.to_str().expect("path"),
            ]);
            if let Some((address, table)) = &endpoint {
                command.args([address, table]);
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
            if let (Some((endpoint, table)), Some(mut child)) = (endpoint, proxy) {
                let stats = proxy_stats(&endpoint);
                let _ = child.kill();
                let _ = child.wait();
                let stored = dynoxide
                    .as_deref()
                    .map_or(0, |engine| count_and_drop(engine, &table));
                // Nothing lost, nothing twice: every customer once, plus the jobs, plus the
                // salt the address registry's lookups are hashed with. The third import's
                // history entries are the change log's to file (from the stream), not the
                // importer's.
                let again = kind == "dynamodb" && std::env::var_os("IMPORT_BENCH_AGAIN").is_some();
                let jobs = if again { 3 } else { 1 };
                assert_eq!(stored, rows as u64 + jobs + 1, "{stats}");
                // Capacity as DynamoDB charges it (dynoxide reports it, the proxy counts it).
                let wru = |index: &str| stats["capacity"][index]["wru"].as_f64().unwrap_or(0.0);
                let table = wru("table") / rows as f64;
                let indexes = ["listing", "by_first", "by_last", "by_group"]
                    .iter()
                    .map(|index| wru(index))
                    .sum::<f64>()
                    / rows as f64;
                let hottest = stats["hottest"][0]["wru_per_second"]
                    .as_f64()
                    .unwrap_or(0.0);
                // On-demand writes in us-east-1 (since November 2024): $0.625 per million WRU.
                let dollars = (table + indexes) * 0.625;
                extra = if again {
                    // The counters hold all three imports: the lines below split them.
                    format!(
                        " ({} requests, {} throttled in all three imports; hottest partition {hottest:.0} WRU/s)",
                        stats["requests"], stats["throttled"]
                    )
                } else {
                    format!(
                        " ({} requests, {} throttled; WRU per row: {table:.2} table + {indexes:.2} indexes = ${dollars:.2} per million rows; hottest partition {hottest:.0} WRU/s)",
                        stats["requests"], stats["throttled"]
                    )
                };
            }
            println!("{}", text.replacen("{extra}", &extra, 1));
            // The fourth column is rows/s.
            if let Some(rate) = text
                .split('|')
                .nth(4)
                .and_then(|r| r.trim().parse::<f64>().ok())
            {
                rates.push((kind, rate));
            }
        }
        let rate_of = |wanted: &str| rates.iter().find(|(k, _)| *k == wanted).map(|(_, r)| *r);
        if let (Some(import), Some(bare)) = (rate_of("sqlite"), rate_of("sqlite-bare")) {
            println!(
                "| sqlite import / bare inserts | {rows} | | {:.0}% | |",
                100.0 * import / bare
            );
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

/// Runs the metering proxy in front of dynoxide until killed (behind the fault proxy with
/// `faults`), on a new table; the first line on stdout is the address to use and the table.
fn serve_proxy(faults: bool, limits: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let engine = metering_proxy::dynoxide_endpoint().expect("DYNAMODB_ENDPOINT");
        let table = format!("bench-import-{}", std::process::id());
        DynamoStore::create_table(&local_dynamodb::client(&engine), &table)
            .await
            .expect("CreateTable");
        let latency = Duration::from_millis(10);
        let proxy = if limits {
            // DynamoDB's own limits instead of the flat item budget.
            let limits = metering_proxy::capacity::Limits::DYNAMODB;
            metering_proxy::MeteringProxy::start_with_limits(&engine, latency, 0.0, limits).await
        } else {
            metering_proxy::MeteringProxy::start(&engine, latency, write_rate()).await
        };
        if faults {
            let faults = fault_proxy::FaultProxy::start(&proxy.endpoint(), 7, 5, 20_261_201).await;
            println!("{} {table}", faults.endpoint());
        } else {
            println!("{} {table}", proxy.endpoint());
        }
        std::future::pending::<()>().await;
    });
}

/// How many items `table` on dynoxide held; it is then dropped, so that dynoxide (in memory)
/// holds one run at a time. dynoxide counts items for `DescribeTable` (DynamoDB refreshes its
/// count only every six hours; a Scan of a million items here takes an hour).
fn count_and_drop(engine: &str, table: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = local_dynamodb::client(engine);
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable");
        let count = described.table().and_then(|t| t.item_count()).unwrap_or(0);
        client
            .delete_table()
            .table_name(table)
            .send()
            .await
            .expect("DeleteTable");
        u64::try_from(count).unwrap_or(0)
    })
}

fn proxy_stats(endpoint: &str) -> serde_json::Value {
    use std::io::Read;
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("metering proxy");
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

fn scenario(kind: &str, rows: usize, file: &Path, endpoint: Option<(String, String)>) {
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
        if kind == "sqlite-bare" {
            let (elapsed, during, after) = bare_sqlite(rows, &work).await;
            println!(
                "| sqlite, bare inserts | {rows} | {:.1} s | {:.0} | {:.0} MiB |",
                elapsed.as_secs_f64(),
                rows as f64 / elapsed.as_secs_f64(),
                report::peak_rss_mib()
            );
            let ms = |t: [f64; 3]| format!("{:.1} / {:.1} / {:.1} ms", t[0], t[1], t[2]);
            println!(
                "| listings of 50 at {rows} (first page / name search / by domain) | with keys in the backlog: {} | merged: {} | | |",
                ms(during),
                ms(after)
            );
            let _ = std::fs::remove_dir_all(&work);
            return;
        }
        let endpoint_url = endpoint.as_ref().map(|(address, _)| address.clone());
        let store: Arc<dyn Store> = match endpoint {
            None => Arc::new(SqliteStore::open(&work.join("helpdesk.db")).expect("sqlite")),
            Some((endpoint, table)) => {
                // The baseline: one conditional PutItem per new customer, as before #27.
                let inserts = if kind == "dynamodb-puts" {
                    BulkInserts::Puts
                } else {
                    BulkInserts::Statements
                };
                Arc::new(
                    DynamoStore::new(local_dynamodb::client(endpoint), table)
                        .with_bulk_inserts(inserts),
                )
            }
        };
        let started = Instant::now();
        let cpu_before = report::cpu_seconds();
        let job = import_file(&store, file, &work).await;
        let elapsed = started.elapsed();
        let cpu = report::cpu_seconds() - cpu_before;
        assert_eq!(
            job.counts.created as usize, rows,
            "every row created: {:?}",
            job.counts
        );
        println!(
            "| {kind}{{extra}} | {rows} | {:.1} s (importer CPU {cpu:.1} s, {:.0} µs per row) | {:.0} | {:.0} MiB |",
            elapsed.as_secs_f64(),
            cpu * 1e6 / rows as f64,
            rows as f64 / elapsed.as_secs_f64(),
            report::peak_rss_mib()
        );
        // What rows that change nothing, and rows that change a name, cost.
        if let (Some(endpoint), true) = (
            endpoint_url,
            kind == "dynamodb" && std::env::var_os("IMPORT_BENCH_AGAIN").is_some(),
        ) {
            let units = |stats: &serde_json::Value| {
                let sum = |what: &str| {
                    ["table", "listing", "by_first", "by_last", "by_group"]
                        .iter()
                        .map(|index| stats["capacity"][index][what].as_f64().unwrap_or(0.0))
                        .sum::<f64>()
                };
                (sum("wru"), sum("rru"))
            };
            let (wru, rru) = units(&proxy_stats(&endpoint));
            println!(
                "| {kind}, new rows (the import above) | {rows} | | {:.2} WRU + {:.2} RRU per row | |",
                wru / rows as f64,
                rru / rows as f64
            );
            let updated = work.join("updated.csv");
            generate_renamed(&updated, rows);
            for (label, path) in [("same file again (unchanged)", file.to_path_buf()), ("every last name changed (updated)", updated)] {
                let before = units(&proxy_stats(&endpoint));
                let (started, cpu) = (Instant::now(), report::cpu_seconds());
                let job = import_file(&store, &path, &work).await;
                let (took, cpu) = (started.elapsed().as_secs_f64(), report::cpu_seconds() - cpu);
                let after = units(&proxy_stats(&endpoint));
                assert_eq!(job.counts.failed, 0, "{:?}", job.counts);
                println!(
                    "| {kind}, {label} | {rows} | {took:.1} s (importer CPU {cpu:.1} s, {:.0} µs per row) | {:.2} WRU + {:.2} RRU per row | |",
                    cpu * 1e6 / rows as f64,
                    (after.0 - before.0) / rows as f64,
                    (after.1 - before.1) / rows as f64
                );
            }
        }
        let _ = std::fs::remove_dir_all(&work);
    });
}

/// Imports `file` as a new job, as `helpdesk import` does, and answers the finished job.
async fn import_file(store: &Arc<dyn Store>, file: &Path, work: &Path) -> ImportJob {
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
    store.insert_job(&job).await.expect("job");
    let customers = CustomerService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        helpdesk_shared::services::addresses::AddressBook::new(store.clone(), store.clone()),
    );
    let context = ImportContext::new(
        store.clone(),
        customers,
        store.clone(),
        Arc::new(FolderStore::new(file.parent().expect("folder"))),
        Arc::new(FolderStore::new(work)),
    );
    let outcome = run_import(&context, &job.id, RunOptions::default())
        .await
        .expect("import runs");
    outcome.job().clone()
}

/// [`generate`]'s file with every last name changed.
fn generate_renamed(path: &Path, rows: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(file, "Email,First Name,Last Name").expect("write");
    for i in 0..rows {
        writeln!(
            file,
            "person{i}@company{}.example,First{i},Moved{i}",
            i % 5_000
        )
        .expect("write");
    }
    file.flush().expect("flush");
}

/// The bare-insert baseline: the benchmark file's rows as records, written in batches of 1,000
/// through the store's bulk write, then the end of the load. Only the store's writes are
/// timed. Also answers listing times before and after the end of the load.
async fn bare_sqlite(rows: usize, work: &Path) -> (Duration, [f64; 3], [f64; 3]) {
    let store = SqliteStore::open(&work.join("helpdesk.db")).expect("sqlite");
    let job = helpdesk_shared::new_id();
    let mut spent = Duration::ZERO;
    for start in (0..rows).step_by(1_000) {
        let writes: Vec<CustomerWrite> = (start..rows.min(start + 1_000))
            .map(|i| CustomerWrite::Insert(generated_customer(i, &job)))
            .collect();
        let started = Instant::now();
        let outcomes = store.write_customers(&writes).await.expect("bulk write");
        spent += started.elapsed();
        assert!(outcomes.iter().all(Result::is_ok), "every row written");
    }
    // Listings while the last keys wait in the backlog, then once the load is over.
    let during = listing_times(&store).await;
    let started = Instant::now();
    store.finish_bulk_writes().await.expect("end of the load");
    let spent = spent + started.elapsed();
    let after = listing_times(&store).await;
    (spent, during, after)
}

/// Median milliseconds of 7 runs of three listings of 50: the first page by email, a name
/// search (`first12`, which 1,111 customers of 1M match), and customers without a company at
/// one domain.
async fn listing_times(store: &SqliteStore) -> [f64; 3] {
    use helpdesk_shared::ports::store::CustomerQuery;
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..7 {
        for (i, prefix) in [None, Some("first12")].into_iter().enumerate() {
            let query = CustomerQuery {
                prefix: prefix.map(str::to_string),
                limit: 50,
                ..CustomerQuery::default()
            };
            let started = Instant::now();
            let page = store.list_customers(&query).await.expect("listing");
            times[i].push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(page.items.len(), 50);
        }
        let started = Instant::now();
        let page = store
            .list_unassigned_by_domain("company42.example", None, 50)
            .await
            .expect("by domain");
        times[2].push(started.elapsed().as_secs_f64() * 1e3);
        assert!(!page.items.is_empty());
    }
    times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    })
}

/// Row `i` of [`generate`]'s file as the import stores it.
fn generated_customer(i: usize, job: &str) -> Customer {
    let now = helpdesk_shared::now();
    Customer {
        id: helpdesk_shared::new_id(),
        profile: Profile {
            email: Email::parse(&format!("person{i}@company{}.example", i % 5_000)).expect("email"),
            first_name: Some(format!("First{i}")),
            last_name: Some(format!("Last{}", i % 977)),
            phones: vec![format!(
                "+1 555 {:04} {:04}",
                i % 10_000,
                (i / 10_000) % 10_000
            )],
            tags: vec!["customer".into(), format!("tier{}", i % 3)],
            address: Some(Address {
                city: Some(format!("City {}", i % 50)),
                country: Some("US".into()),
                ..Address::default()
            }),
            ..Profile::default()
        },
        welcome: None,
        import_mark: Some(ImportMark {
            job: job.to_string(),
            row: i as u64 + 2,
            outcome: RowOutcome::Created,
        }),
        blocked: None,
        undeliverable: None,
        complained: None,
        portal: Default::default(),
        avatar_image: None,
        created_by: None,
        changed_by: None,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    }
}
