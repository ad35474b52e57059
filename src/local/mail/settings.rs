//! Where local mode's mail comes from and goes to: the `--imap-url` and `--smtp-url` settings,
//! checked at start so that a typo fails there and not on the first message.

use std::path::Path;
use std::time::Duration;

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`imaps://`, `smtps://`).
    Implicit,
    /// Plain, then upgraded with STARTTLS before any credential is sent (`imap://`, `smtp://`).
    StartTls,
    /// No TLS at all: only with `--insecure-mail`, for test servers on this machine.
    Plain,
}

/// One mail server and the account on it.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    // Never the password, wherever settings are printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}:{} ({:?})",
            self.user.as_deref().unwrap_or("-"),
            self.host,
            self.port,
            self.security
        )
    }
}

/// What to do with a message once it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterIngest {
    /// Flag it `\Seen`; only unseen messages are fetched.
    MarkSeen,
    /// Move it to this folder; every message left in the mailbox is fetched.
    MoveTo(String),
}

#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub server: Endpoint,
    pub mailbox: String,
    /// How often to look when the server has no IDLE, and the longest IDLE before a new look.
    pub poll: Duration,
    pub after: AfterIngest,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub server: Endpoint,
    /// Messages per minute at most, since small relays limit senders.
    pub per_minute: u32,
}

/// The password for `what` (`IMAP` or `SMTP`): from its file, else `HELPDESK_<what>_PASSWORD`.
pub fn password(what: &str, file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            format!(
                "cannot read the {what} password file {}: {e}",
                file.display()
            )
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(std::env::var(format!("HELPDESK_{what}_PASSWORD"))
        .ok()
        .filter(|p| !p.is_empty()))
}

/// Parses `imaps://user@host:993/INBOX` (or `imap://`, STARTTLS on 143).
pub fn imap_endpoint(
    raw: &str,
    password: Option<String>,
    insecure: bool,
) -> Result<(Endpoint, String), String> {
    let url = parse(raw, "--imap-url")?;
    let (security, port) = match (url.scheme(), insecure) {
        ("imaps", _) => (Security::Implicit, 993),
        ("imap", false) => (Security::StartTls, 143),
        ("imap", true) => (Security::Plain, 143),
        _ => {
            return Err(format!(
                "--imap-url {raw:?}: the scheme must be imaps:// or imap://"
            ));
        }
    };
    let server = endpoint(&url, security, port, password)?;
    if server.user.is_none() || server.password.is_none() {
        return Err(format!(
            "--imap-url {raw:?} needs a user (imaps://user@host/INBOX), and the password in \
             HELPDESK_IMAP_PASSWORD or --imap-password-file"
        ));
    }
    let mailbox = decode(url.path().trim_start_matches('/'));
    let mailbox = if mailbox.is_empty() {
        "INBOX".into()
    } else {
        mailbox
    };
    Ok((server, mailbox))
}

/// Parses `smtp://user@host:587` (STARTTLS) or `smtps://user@host:465`; the user is optional
/// (a relay that trusts this machine).
pub fn smtp_endpoint(
    raw: &str,
    password: Option<String>,
    insecure: bool,
) -> Result<Endpoint, String> {
    let url = parse(raw, "--smtp-url")?;
    let (security, port) = match (url.scheme(), insecure) {
        ("smtps", _) => (Security::Implicit, 465),
        ("smtp", false) => (Security::StartTls, 587),
        ("smtp", true) => (Security::Plain, 587),
        _ => {
            return Err(format!(
                "--smtp-url {raw:?}: the scheme must be smtps:// or smtp://"
            ));
        }
    };
    let server = endpoint(&url, security, port, password)?;
    if server.user.is_some() && server.password.is_none() {
        return Err(format!(
            "--smtp-url {raw:?} names a user: put the password in HELPDESK_SMTP_PASSWORD or \
             --smtp-password-file"
        ));
    }
    Ok(server)
}

fn parse(raw: &str, flag: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{flag} {raw:?}: {e}"))?;
    if url.password().is_some() {
        return Err(format!(
            "{flag}: no password in the URL (it would show in the process list); use the \
             password file or the environment variable"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{flag} {raw:?} names no host"));
    }
    Ok(url)
}

fn endpoint(
    url: &url::Url,
    security: Security,
    default_port: u16,
    password: Option<String>,
) -> Result<Endpoint, String> {
    let user = Some(decode(url.username())).filter(|u| !u.is_empty());
    Ok(Endpoint {
        host: url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string(),
        port: url.port().unwrap_or(default_port),
        security,
        user,
        password,
    })
}

/// `support%40example.com` → `support@example.com`: mailbox logins are often addresses.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_as_login_and_the_default_mailbox() {
        let (server, mailbox) = imap_endpoint(
            "imaps://support%40example.com@mail.example.com",
            Some("pw".into()),
            false,
        )
        .unwrap();
        assert_eq!(server.user.as_deref(), Some("support@example.com"));
        assert_eq!((server.port, server.security), (993, Security::Implicit));
        assert_eq!(mailbox, "INBOX");
    }

    #[test]
    fn plain_connections_only_when_asked() {
        let (server, _) = imap_endpoint("imap://u@h/Support", Some("p".into()), false).unwrap();
        assert_eq!(server.security, Security::StartTls);
        let (server, mailbox) =
            imap_endpoint("imap://u@h:1143/Support", Some("p".into()), true).unwrap();
        assert_eq!(
            (server.security, server.port, mailbox.as_str()),
            (Security::Plain, 1143, "Support")
        );
        let smtp = smtp_endpoint("smtp://relay.example.com", None, false).unwrap();
        assert_eq!((smtp.security, smtp.port), (Security::StartTls, 587));
    }

    #[test]
    fn passwords_never_in_the_url_and_never_missing() {
        assert!(
            imap_endpoint("imaps://u:secret@h/INBOX", None, false)
                .unwrap_err()
                .contains("no password in the URL")
        );
        assert!(
            imap_endpoint("imaps://u@h/INBOX", None, false)
                .unwrap_err()
                .contains("HELPDESK_IMAP_PASSWORD")
        );
        assert!(
            smtp_endpoint("smtp://u@h", None, false)
                .unwrap_err()
                .contains("HELPDESK_SMTP_PASSWORD")
        );
        assert!(
            smtp_endpoint("http://h", None, false)
                .unwrap_err()
                .contains("scheme")
        );
    }
}
