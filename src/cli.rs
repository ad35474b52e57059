//! The command line of `helpdesk`: what each command takes, with the help it prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

/// Where the data lives unless `--data-dir` or `HELPDESK_DATA_DIR` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "./data";

#[derive(Parser)]
#[command(
    name = "helpdesk",
    version,
    about = "Customer management for support teams, on one machine",
    long_about = "Customer management for support teams, on one machine: an HTTP API, bulk \
                  CSV import and inbound mail, with every record in one SQLite file.\n\n\
                  Start with `helpdesk serve`; the other commands work on the same data dir, \
                  also while the server runs.",
    after_help = "Examples:\n  \
        helpdesk serve                                  # http://127.0.0.1:3000, data in ./data\n  \
        helpdesk import contacts.csv --dry-run          # what an import would do\n  \
        helpdesk ingest mail/*.eml                      # mail files become tickets\n\n\
        Documentation: docs/README.md in the source, or `helpdesk <command> --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API, and work on the data dir's folders (inbox, imports, outbox).
    #[command(
        long_about = "Serves the HTTP API on a local address and, every two seconds, imports CSV \
                      files dropped into DATA_DIR/imports/, ingests .eml files dropped into \
                      DATA_DIR/inbox/, writes welcome emails and replies to DATA_DIR/outbox/ and \
                      runs erasures, merges and migrations.\n\n\
                      API keys: set HELPDESK_API_KEYS=\"KEY:ROLE[+manage_companies][=Display \
                      Name],...\" (roles admin or agent, keys of 16 characters or more). The \
                      first start also creates an admin key in DATA_DIR/admin.key and prints it \
                      once; it keeps working beside HELPDESK_API_KEYS until the file is deleted.\n\n\
                      Mail: replies go out from SUPPORT_ADDRESS (\"Name <address>\"), welcome \
                      emails from WELCOME_SENDER, with WELCOME_SUBJECT and WELCOME_BODY; \
                      through --smtp-url when set. --imap-url fetches the support mailbox.\n\n\
                      Events: every change is in the change feed (GET /changes) and posted, \
                      signed, to the webhooks admins register (POST /webhooks).",
        after_help = "Examples:\n  \
            helpdesk serve\n  \
            helpdesk serve --listen 0.0.0.0:8080 --public-url https://help.example.com\n  \
            HELPDESK_IMAP_PASSWORD=… HELPDESK_SMTP_PASSWORD=… helpdesk serve \\\n      \
              --imap-url imaps://support%40example.com@imap.example.com/INBOX \\\n      \
              --smtp-url smtp://support%40example.com@smtp.example.com:587\n  \
            HELPDESK_API_KEYS='k3y-for-ann-0123456:agent=Ann Lee' helpdesk serve --data-dir /srv/helpdesk"
    )]
    Serve(ServeArgs),
    /// Import customers (or, with --tickets, tickets) from a CSV file, with a report of the
    /// rows that fail.
    #[command(
        long_about = "Imports customers from a CSV file into the data dir: each row creates or \
                      updates the customer with its email. Headers are matched to properties by \
                      their names (Google Contacts and Outlook exports work as they are); \
                      --mapping names the others. Rows that fail are listed in \
                      DATA_DIR/import-reports/<job>.errors.csv with their row numbers. With \
                      --tickets the file holds tickets (external_id, customer_email, subject, \
                      status, created_at, tags, description) and their further messages (rows \
                      with text), for customers imported before; importing it again changes \
                      nothing, and nothing is sent.",
        after_help = "Examples:\n  \
            helpdesk import contacts.csv --dry-run\n  \
            helpdesk import contacts.csv --mapping mapping.json --create-missing-companies\n  \
            helpdesk import --tickets tickets.csv\n\n\
            mapping.json: {\"Kundennummer\": \"custom_fields.customer_no\", \"Fax\": \"ignore\"}"
    )]
    Import(ImportArgs),
    /// Ingest raw email files (.eml): senders become customers, messages join their tickets.
    #[command(
        long_about = "Ingests raw email files (RFC 5322 .eml) into the data dir, as mail to the \
                      support address is: each sender becomes a customer if needed and the \
                      message joins its ticket or starts one. Prints one outcome per file; \
                      ingesting a file twice changes nothing.",
        after_help = "Examples:\n  \
            helpdesk ingest mail/*.eml\n  \
            helpdesk ingest --json message.eml"
    )]
    Ingest(IngestArgs),
    /// Export customers as CSV that `helpdesk import` reads back unchanged.
    #[command(
        long_about = "Writes the customers as CSV: the import template's columns in its order, \
                      lists in one cell each (separated by ;), social links as network=url \
                      pairs, the company by its id, portal access, each custom field as \
                      cf_<key>, and created_at and updated_at (which the importer ignores). \
                      Importing the file as it is changes nothing. Cells that a spreadsheet \
                      would run as a formula (= + - @) get a ' in front, which the importer \
                      takes off again.",
        after_help = "Examples:\n  \
            helpdesk export --output customers.csv\n  \
            helpdesk export --bom --blocked --output blocked.csv     # for Excel\n  \
            helpdesk export --updated-since 2026-12-01 > recent.csv"
    )]
    Export(ExportArgs),
}

/// The data dir option every command has.
#[derive(Args)]
pub struct DataDirArg {
    /// Where the database and its folders live [default: ./data]. `import` and `ingest` refuse
    /// the default when it holds no database, so that they never fill a new one by mistake.
    #[arg(long, env = "HELPDESK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The data dir for `serve`, which makes it when it is new.
    pub fn for_serve(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The data dir for a one-shot command: a named one is used (and made) as it is; the
    /// default only when it already holds a database.
    pub fn for_command(&self, database_file: &str) -> Result<PathBuf, String> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let default = Path::new(DEFAULT_DATA_DIR);
        if default.join(database_file).exists() {
            return Ok(default.to_path_buf());
        }
        let here = std::env::current_dir()
            .map(|d| d.join("data").display().to_string())
            .unwrap_or_else(|_| DEFAULT_DATA_DIR.into());
        Err(format!(
            "no helpdesk data in {here}: run this in the folder where `helpdesk serve` keeps \
             its data, or name the data dir with --data-dir DIR (or HELPDESK_DATA_DIR); a data \
             dir named that way is created when it is new"
        ))
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// The base URL clients reach this server at (upload and download links are built from
    /// it, never from a request's Host header). Default: http://<listen address>.
    #[arg(long, env = "HELPDESK_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Seconds a client has to send a request's headers (1-30).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub header_timeout: u64,
    /// Seconds a request body may pause between two pieces (1-600).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_timeout: u64,
    /// Open connections at most (1-65536); more wait until one closes.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_connections: u64,
    /// Turn the customer portal off: its routes answer 404 and welcome emails carry no link.
    #[arg(long)]
    pub no_portal: bool,
    /// A file holding the portal's single sign-on secret (at least 32 bytes): a host
    /// application then opens portal sessions with HS256 JWTs (`POST /portal/sessions
    /// {"jwt"}`). Off without it.
    #[arg(long, env = "HELPDESK_PORTAL_SSO_SECRET_FILE", value_name = "PATH")]
    pub portal_sso_secret_file: Option<PathBuf>,
    /// With single sign-on: a token for an address without a customer creates the customer.
    #[arg(long, env = "HELPDESK_PORTAL_SSO_CREATE_CUSTOMERS")]
    pub portal_sso_create_customers: bool,
    /// Let webhooks (POST /webhooks) reach loopback and private addresses, such as a service
    /// on this machine; off, so that a webhook cannot be pointed at internal services.
    #[arg(long, env = "HELPDESK_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// Real mail: the support mailbox over IMAP, sending through an SMTP relay. Passwords come from
/// a file or the environment, never from the command line.
#[derive(Args)]
#[command(next_help_heading = "Mail (docs/mail.md)")]
pub struct MailArgs {
    /// Fetch the support mailbox: imaps://USER@HOST[:993]/MAILBOX, or imap:// (STARTTLS on
    /// 143). Password: HELPDESK_IMAP_PASSWORD or --imap-password-file.
    #[arg(long, env = "HELPDESK_IMAP_URL", value_name = "URL")]
    pub imap_url: Option<String>,
    #[arg(long, env = "HELPDESK_IMAP_PASSWORD_FILE", value_name = "PATH")]
    pub imap_password_file: Option<PathBuf>,
    /// Seconds between looks when the server has no IDLE (5-3600).
    #[arg(long, env = "HELPDESK_IMAP_POLL_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub imap_poll_seconds: u64,
    /// Move each stored message to this folder (made if missing) instead of marking it \Seen.
    #[arg(long, env = "HELPDESK_IMAP_MOVE_TO", value_name = "FOLDER")]
    pub imap_move_to: Option<String>,
    /// Send through this relay: smtp://[USER@]HOST[:587] (STARTTLS) or smtps://…:465.
    /// Password: HELPDESK_SMTP_PASSWORD or --smtp-password-file.
    #[arg(long, env = "HELPDESK_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    #[arg(long, env = "HELPDESK_SMTP_PASSWORD_FILE", value_name = "PATH")]
    pub smtp_password_file: Option<PathBuf>,
    /// Messages per minute at most through the relay (1-60000).
    #[arg(long, env = "HELPDESK_SMTP_PER_MINUTE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=60000))]
    pub smtp_per_minute: u32,
    /// With SMTP, keep no copy of sent mail in DATA_DIR/outbox/.
    #[arg(long, env = "HELPDESK_NO_OUTBOX_COPY")]
    pub no_outbox_copy: bool,
    /// Allow imap:// and smtp:// without TLS: for test servers on this machine only.
    #[arg(long)]
    pub insecure_mail: bool,
}

impl MailArgs {
    pub fn options(&self) -> helpdesk::local::mail::MailOptions {
        helpdesk::local::mail::MailOptions {
            imap_url: self.imap_url.clone(),
            imap_password_file: self.imap_password_file.clone(),
            imap_poll: std::time::Duration::from_secs(self.imap_poll_seconds),
            imap_move_to: self.imap_move_to.clone(),
            smtp_url: self.smtp_url.clone(),
            smtp_password_file: self.smtp_password_file.clone(),
            smtp_per_minute: self.smtp_per_minute,
            outbox_copy: !self.no_outbox_copy,
            insecure: self.insecure_mail,
        }
    }
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file: UTF-8 (with or without BOM), a header row, then one customer per row.
    pub file: PathBuf,
    /// Count what would happen and report the rows that would fail; write no customer.
    #[arg(long)]
    pub dry_run: bool,
    /// A JSON file mapping column headers to properties, e.g. {"E-mail": "email"}; "ignore"
    /// skips a column.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Create the companies named in the file that do not exist yet.
    #[arg(long)]
    pub create_missing_companies: bool,
    /// Properties every row must have (comma-separated) [default: email,first_name,last_name].
    #[arg(long, value_delimiter = ',', value_name = "PROPERTIES")]
    pub required: Option<Vec<String>>,
    /// Queue a welcome email for every customer created (`helpdesk serve` writes them).
    #[arg(long)]
    pub send_welcome: bool,
    /// The file holds tickets and their messages, not customers.
    #[arg(long)]
    pub tickets: bool,
    /// With --tickets: create a customer for an address nobody has, instead of failing the row.
    #[arg(long, requires = "tickets")]
    pub create_missing_customers: bool,
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Print the finished job as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write here (owner-only, replaced when complete) instead of to standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Start with a UTF-8 byte-order mark, for spreadsheet apps.
    #[arg(long)]
    pub bom: bool,
    /// Only the customers of this company (its id).
    #[arg(long, value_name = "ID")]
    pub company_id: Option<String>,
    /// Only blocked customers.
    #[arg(long, conflicts_with = "unblocked")]
    pub blocked: bool,
    /// Only customers who are not blocked.
    #[arg(long)]
    pub unblocked: bool,
    /// Only customers changed at or after this date (2026-12-01) or RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub updated_since: Option<String>,
    #[command(flatten)]
    pub data_dir: DataDirArg,
}

impl ExportArgs {
    pub fn filter(&self) -> Result<helpdesk_shared::services::exports::ExportFilter, String> {
        Ok(helpdesk_shared::services::exports::ExportFilter {
            company_id: self.company_id.clone(),
            blocked: match (self.blocked, self.unblocked) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            updated_since: self
                .updated_since
                .as_deref()
                .map(helpdesk::local::parse_since)
                .transpose()?,
        })
    }
}

#[derive(Args)]
pub struct IngestArgs {
    /// One or more RFC 5322 messages (.eml).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Print one JSON record per message instead of a line of text.
    #[arg(long)]
    pub json: bool,
}
