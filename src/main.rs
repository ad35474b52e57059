//! `helpdesk`: the whole product on one machine. The same router and rules as the Lambda
//! functions, on an embedded SQLite store, with folders standing in for the buckets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use helpdesk_shared::local::DataDir;
use helpdesk_shared::{api, telemetry};

#[derive(Parser)]
#[command(
    name = "helpdesk",
    version,
    about = "Customer management for support teams, running locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API on a local address.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where the database (and later the import and mail folders) live.
        #[arg(long, default_value = "./data", env = "HELPDESK_DATA_DIR")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
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
            Command::Serve { listen, data_dir } => serve(listen, data_dir).await,
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

async fn serve(listen: SocketAddr, data_dir: PathBuf) -> Result<(), String> {
    telemetry::init(false);
    let data = DataDir::open(&data_dir)?;
    let helpdesk = data.helpdesk()?;
    let keys = std::env::var("HELPDESK_API_KEYS").ok();
    let (auth, created_key) = data.authenticator(keys.as_deref())?;
    let router = api::router(helpdesk, Arc::new(auth));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    match (created_key, keys.is_some()) {
        (Some(key), _) => println!(
            "Created an admin API key (kept in {}):\n\n    {key}\n\nSend it as: Authorization: Bearer {key}",
            data.path()
                .join(helpdesk_shared::local::ADMIN_KEY_FILE)
                .display()
        ),
        (None, false) => println!(
            "Admin API key: see {}",
            data.path()
                .join(helpdesk_shared::local::ADMIN_KEY_FILE)
                .display()
        ),
        (None, true) => println!("Using the API keys from HELPDESK_API_KEYS"),
    }
    println!(
        "helpdesk listening on http://{address} (data in {})",
        data.path().display()
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
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
