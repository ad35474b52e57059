//! An IMAP session as configured: TLS from the start (`imaps`), STARTTLS before the login
//! (`imap`), or plain only with `--insecure-mail`; then logged in.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::settings::{Endpoint, ImapSettings, Security};

/// Connecting, TLS and the login each give up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection, encrypted or not.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

pub type Session = async_imap::Session<Box<dyn Io>>;

/// What ends a session.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The server refused the user and password.
    #[error("login refused: {0}")]
    Login(String),
    /// Anything else: unreachable, TLS, a dropped connection, a command refused.
    #[error("{0}")]
    Other(String),
}

impl From<async_imap::error::Error> for ImapError {
    fn from(error: async_imap::error::Error) -> Self {
        Self::Other(error.to_string())
    }
}

impl From<std::io::Error> for ImapError {
    fn from(error: std::io::Error) -> Self {
        Self::Other(error.to_string())
    }
}

/// The server's extensions this client uses.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub idle: bool,
    pub move_: bool,
}

/// Connected, encrypted as configured and logged in; with the capabilities after login.
pub async fn open_session(settings: &ImapSettings) -> Result<(Session, Capabilities), ImapError> {
    let server = &settings.server;
    let stream = within("connecting", connect(server)).await?;
    let client = async_imap::Client::new(stream);
    let user = server.user.clone().unwrap_or_default();
    let password = server.password.clone().unwrap_or_default();
    let mut session = within("logging in", async {
        client
            .login(&user, &password)
            .await
            .map_err(|(error, _)| match error {
                async_imap::error::Error::No(why) | async_imap::error::Error::Bad(why) => {
                    ImapError::Login(format!("{user}@{}: {why}", server.host))
                }
                other => ImapError::from(other),
            })
    })
    .await?;
    let capabilities = session.capabilities().await?;
    let capabilities = Capabilities {
        idle: capabilities.has_str("IDLE"),
        move_: capabilities.has_str("MOVE"),
    };
    Ok((session, capabilities))
}

/// The stream the session runs over, past the server's greeting.
async fn connect(server: &Endpoint) -> Result<Box<dyn Io>, ImapError> {
    let tcp = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(|e| ImapError::Other(format!("{}:{}: {e}", server.host, server.port)))?;
    match server.security {
        Security::Plain => greeted(Box::new(tcp)).await,
        Security::Implicit => greeted(Box::new(tls(&server.host, tcp).await?)).await,
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| {
                    ImapError::Other(format!(
                        "{} refused STARTTLS ({e}); use imaps://",
                        server.host
                    ))
                })?;
            Ok(Box::new(tls(&server.host, client.into_inner()).await?))
        }
    }
}

/// Reads the greeting off a fresh connection and hands the stream back.
async fn greeted(stream: Box<dyn Io>) -> Result<Box<dyn Io>, ImapError> {
    let mut client = async_imap::Client::new(stream);
    greeting(&mut client).await?;
    Ok(client.into_inner())
}

async fn greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<(), ImapError> {
    match client.read_response().await? {
        Some(_) => Ok(()),
        None => Err(ImapError::Other(
            "the server closed the connection at once".into(),
        )),
    }
}

async fn tls(host: &str, tcp: TcpStream) -> Result<super::tls::TlsStream, ImapError> {
    super::tls::connect(host, tcp)
        .await
        .map_err(ImapError::Other)
}

async fn within<T>(
    doing: &str,
    work: impl std::future::Future<Output = Result<T, ImapError>>,
) -> Result<T, ImapError> {
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(ImapError::Other(format!(
                "{doing}: no answer in {CONNECT_TIMEOUT:?}"
            )))
        })
}
