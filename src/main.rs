//! `helpdesk`: the whole product on one machine. The same router and rules as the Lambda
//! functions, on an embedded SQLite store, with folders standing in for the buckets.

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use cli::{Cli, Command, ImportArgs, ServeArgs};
use helpdesk::local::{DATABASE_FILE, DataDir};
use helpdesk_shared::domain::import_job::{ImportOptions, ImportStatus};
use helpdesk_shared::http::ImportJobView;
use helpdesk_shared::services::imports::{Progress, ProgressFn};
use helpdesk_shared::telemetry;
use std::io::IsTerminal;

// jemalloc: with glibc's allocator a bulk import spent a third of its CPU in malloc, free and
// their arena locks (perf, 100k rows); jemalloc took the importer's CPU down by a third.
// Its settings are in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Customer data is private whatever the user's umask: every file and folder helpdesk
    // creates (database and its WAL, outbox, reports, raw mail, attachments, uploads) is the
    // owner's alone. Set before any thread starts, as umask is per process.
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("helpdesk: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Ingest(args) => {
                let data_dir = args.data_dir.for_command(DATABASE_FILE)?;
                ingest(args.files, data_dir, args.json).await
            }
            Command::Export(args) => {
                let data_dir = args.data_dir.for_command(DATABASE_FILE)?;
                export(args, data_dir).await
            }
            Command::Import(args) => {
                let data_dir = args.data_dir.for_command(DATABASE_FILE)?;
                let json = args.json;
                let (file, options) = import_options(args)?;
                import(file, options, data_dir, json).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("helpdesk: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The file and the job options of `helpdesk import`.
fn import_options(args: ImportArgs) -> Result<(PathBuf, ImportOptions), String> {
    let mapping = match &args.mapping {
        None => Default::default(),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{}: not a JSON object of column → property: {e}",
                    path.display()
                )
            })?
        }
    };
    let mut options = ImportOptions {
        mapping,
        dry_run: args.dry_run,
        create_missing_companies: args.create_missing_companies,
        send_welcome: args.send_welcome,
        kind: match args.tickets {
            true => helpdesk_shared::domain::import_job::ImportKind::Tickets,
            false => helpdesk_shared::domain::import_job::ImportKind::Customers,
        },
        create_missing_customers: args.create_missing_customers,
        ..ImportOptions::default()
    };
    if let Some(required) = args.required {
        options.required = required
            .into_iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
    }
    Ok((args.file, options))
}

async fn import(
    file: PathBuf,
    options: ImportOptions,
    data_dir: PathBuf,
    json: bool,
) -> Result<(), String> {
    telemetry::init(telemetry::Logs::Quiet);
    let data = DataDir::open(&data_dir)?;
    let app = data.app(None)?;
    let bar = std::io::stderr().is_terminal().then(progress_bar);
    let progress = bar.clone().map(|bar| {
        Arc::new(move |progress: &Progress| {
            bar.set_length(progress.total_rows);
            bar.set_position(progress.counts.rows);
            bar.set_message(progress.counts.failed.to_string());
        }) as ProgressFn
    });
    let job = data.import_file(&app, &file, options, progress).await;
    if let Some(bar) = bar {
        bar.finish();
    }
    let job = job?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ImportJobView::new(&job)).map_err(|e| e.to_string())?
        );
    } else {
        let c = job.counts;
        println!(
            "import {} {}{}: {} rows: {} created, {} updated, {} unchanged, {} failed, {} duplicates",
            job.id,
            serde_json::to_value(job.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            match (job.dry_run, job.options.kind) {
                (false, _) => "",
                (true, helpdesk_shared::domain::import_job::ImportKind::Tickets) => {
                    " (dry run: no ticket written)"
                }
                (true, _) => " (dry run: no customer written)",
            },
            c.rows,
            c.created,
            c.updated,
            c.unchanged,
            c.failed,
            c.duplicates
        );
        if !job.ignored_columns.is_empty() {
            println!("ignored columns: {}", job.ignored_columns.join(", "));
        }
        if let Some(report) = &job.error_report {
            println!("error report: {}", data.path().join(report).display());
        }
        if let Some(error) = &job.error {
            println!("error: {error}");
        }
    }
    if job.status == ImportStatus::Failed {
        return Err(job.error.unwrap_or_else(|| "the import failed".into()));
    }
    Ok(())
}

async fn export(args: cli::ExportArgs, data_dir: PathBuf) -> Result<(), String> {
    telemetry::init(telemetry::Logs::Quiet);
    let filter = args.filter()?;
    let data = DataDir::open(&data_dir)?;
    let app = data.app(None)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} {pos} customers {per_sec}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut progress = |count: u64| {
        if let Some(bar) = &bar {
            bar.set_position(count);
        }
    };
    let count = data
        .export_customers(
            &app,
            &filter,
            args.bom,
            args.output.as_deref(),
            &mut progress,
        )
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let count = count?;
    if let Some(path) = &args.output {
        eprintln!("exported {count} customers to {}", path.display());
    }
    Ok(())
}

/// The import's progress bar on the terminal's stderr: rows done of the file's rows, failed
/// rows, speed and time left.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "[{bar:30}] {percent:>3}% {pos}/{len} rows ({msg} failed) {per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("#> "));
    }
    bar
}

/// Ingests each file and prints its outcome; fails (after the others) if any file could not be
/// read or the store failed. Ignored and failed messages are outcomes, not errors.
async fn ingest(files: Vec<PathBuf>, data_dir: PathBuf, json: bool) -> Result<(), String> {
    telemetry::init(telemetry::Logs::Quiet);
    let data = DataDir::open(&data_dir)?;
    let app = data.app(None)?;
    let mut errors = Vec::new();
    for file in &files {
        match data.ingest_file(&app, file).await {
            Ok(record) if json => {
                let mut value = serde_json::json!(record);
                if let Some(object) = value.as_object_mut() {
                    object.insert("file".into(), serde_json::json!(file.display().to_string()));
                }
                println!("{value}");
            }
            Ok(record) => println!("{}: {}", file.display(), describe(&record)),
            Err(error) => {
                eprintln!("{}: {error}", file.display());
                errors.push(file.display().to_string());
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("could not ingest {}", errors.join(", ")))
    }
}

fn describe(record: &helpdesk_shared::domain::inbound::InboundRecord) -> String {
    use helpdesk_shared::domain::inbound::InboundStatus;
    match record.status {
        InboundStatus::Ingested => format!(
            "ingested: customer {}{}, ticket {} ({})",
            record.customer_email.as_deref().unwrap_or("?"),
            if record.customer_created {
                " (new)"
            } else {
                ""
            },
            record.ticket_id.as_deref().unwrap_or("?"),
            record
                .thread_reason
                .map(|r| serde_json::json!(r)
                    .as_str()
                    .unwrap_or_default()
                    .to_string())
                .unwrap_or_default(),
        ),
        status => format!(
            "{}: {}",
            status.as_str(),
            record.reason.as_deref().unwrap_or("no reason recorded")
        ),
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    telemetry::init(telemetry::Logs::Text);
    let limits = helpdesk::local::Limits {
        header_timeout: Duration::from_secs(args.header_timeout),
        body_idle_timeout: Duration::from_secs(args.body_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    let data = DataDir::open(&args.data_dir.for_serve())?;
    let keys = std::env::var("HELPDESK_API_KEYS").ok();
    let (auth, keys_in_use) = data.authenticator(keys.as_deref())?;
    let uploaded = Arc::new(tokio::sync::Notify::new());
    let listen: SocketAddr = args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = match args.public_url {
        Some(url) => helpdesk::local::public_url(&url)?,
        None => format!("http://{address}"),
    };
    let portal = !args.no_portal;
    let sso = portal_sso(
        args.portal_sso_secret_file.as_deref(),
        args.portal_sso_create_customers,
    )?;
    let mail = args.mail.options().connections(data.outbox())?;
    let app = data
        .app_sending_with(portal.then_some(public_url.as_str()), mail.mailer.clone())?
        .allowing_private_webhooks(args.allow_private_webhooks);
    let router = helpdesk::local::router(
        data.clone(),
        &app,
        Arc::new(auth),
        uploaded.clone(),
        &public_url,
        helpdesk::local::PortalOptions {
            enabled: portal,
            sso,
        },
        mail.status.clone(),
    );
    if let Some(imap) = mail.imap {
        let fetch = helpdesk::local::mail::fetch_mail(imap, data.clone(), app.clone(), mail.status);
        tokio::spawn(fetch);
    }
    tokio::spawn(helpdesk::local::log_changes(app.clone()));
    tokio::spawn(helpdesk::local::deliver_webhooks(app.clone()));
    tokio::spawn(helpdesk::local::watch_folders(data.clone(), app, uploaded));
    println!("{keys_in_use}");
    println!(
        "helpdesk listening on http://{address} (data in {})",
        data.path().display()
    );
    helpdesk::local::serve(listener, router, limits, shutdown_signal()).await
}

/// Ctrl-C or SIGTERM: stop accepting, finish in-flight requests, exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The portal's single sign-on from the secret in `file` (surrounding whitespace ignored).
fn portal_sso(
    file: Option<&std::path::Path>,
    create_customers: bool,
) -> Result<Option<helpdesk_shared::services::portal::PortalSso>, String> {
    let Some(file) = file else {
        return Ok(None);
    };
    let secret = std::fs::read(file).map_err(|e| {
        format!(
            "cannot read the single sign-on secret {}: {e}",
            file.display()
        )
    })?;
    let secret = secret.trim_ascii();
    helpdesk_shared::services::portal::PortalSso::new(secret, create_customers).map(Some)
}
