//! Real mail servers for the tests, on 127.0.0.1: Dovecot (IMAP) with a throw-away config and
//! maildir, and aiosmtpd (SMTP, `tests/mail/smtp_server.py`). Both are installed by
//! `bash tests/run`; a test that cannot start them fails and says why.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;

use crate::support::temp_dir;

pub(crate) const MAILBOX_USER: &str = "support@helpdesk.test";
pub(crate) const MAILBOX_PASSWORD: &str = "mailbox-secret";

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A private certificate authority and a certificate it signed for 127.0.0.1 (openssl).
pub(crate) struct Certificates {
    pub(crate) authority: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl Certificates {
    pub(crate) fn make() -> Certificates {
        let dir = temp_dir("certificates");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs (`bash tests/run` installs it)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=helpdesk-test-ca",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        // Readable by Dovecot's own user when it runs as root.
        for file in ["cert.pem", "key.pem"] {
            std::fs::set_permissions(
                dir.join(file),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .unwrap();
        }
        Certificates {
            authority: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// Dovecot serving one account's maildir on a loopback port: plain IMAP, or IMAPS only.
pub(crate) struct Dovecot {
    child: Option<Child>,
    dir: PathBuf,
    pub(crate) port: u16,
    /// Certificate, key and the authority that signed them.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// Whether it announces IDLE (a server without it is polled).
    idle: bool,
}

/// The test client's connection, plain or TLS.
pub(crate) trait Stream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug> Stream
    for T
{
}

impl Dovecot {
    pub(crate) fn start() -> Dovecot {
        Dovecot::start_with(None)
    }

    /// Dovecot that does not announce IDLE, as some servers do not.
    pub(crate) fn start_without_idle() -> Dovecot {
        let mut dovecot = Dovecot::start_with(None);
        dovecot.idle = false;
        dovecot.write_config();
        dovecot.restart();
        dovecot
    }

    /// Dovecot that speaks IMAP only inside TLS (`imaps`), with this certificate.
    pub(crate) fn start_tls(certificates: &Certificates) -> Dovecot {
        Dovecot::start_with(Some((
            certificates.cert.clone(),
            certificates.key.clone(),
            certificates.authority.clone(),
        )))
    }

    fn start_with(tls: Option<(PathBuf, PathBuf, PathBuf)>) -> Dovecot {
        let dir = temp_dir("dovecot");
        let mut dovecot = Dovecot {
            child: None,
            port: free_port(),
            dir,
            tls,
            idle: true,
        };
        dovecot.write_config();
        dovecot.launch();
        dovecot
    }

    fn binary() -> String {
        std::env::var("HELPDESK_TEST_DOVECOT").unwrap_or_else(|_| "/usr/sbin/dovecot".into())
    }

    /// A config of its own in the temp dir: no system files, logs to its stderr. As root the
    /// mail belongs to Dovecot's own user (Dovecot serves no mail as root); otherwise to us.
    fn write_config(&self) {
        let dir = self.dir.display();
        let mail = self.dir.join("mail");
        std::fs::create_dir_all(&mail).unwrap();
        std::fs::create_dir_all(self.dir.join("run")).unwrap();
        let (internal, login, owner) = match current_user() {
            (0, _) => ("dovecot", "dovenull", "dovecot".to_string()),
            (_, name) => (leak(name.clone()), leak(name.clone()), name),
        };
        if internal == "dovecot" {
            chown_to(&mail, "dovecot");
        }
        std::fs::write(
            self.dir.join("users"),
            format!("{MAILBOX_USER}:{{PLAIN}}{MAILBOX_PASSWORD}\n"),
        )
        .unwrap();
        let (ssl, plain_port, tls_port) = match &self.tls {
            None => ("ssl = no".to_string(), self.port, 0),
            Some((cert, key, _)) => (
                format!(
                    "ssl = required\nssl_cert = <{}\nssl_key = <{}",
                    cert.display(),
                    key.display()
                ),
                0,
                self.port,
            ),
        };
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {dir}/run\nstate_dir = {dir}/run/state\n\
             instance_name = helpdesk-test-{port}\nlog_path = /dev/stderr\n{ssl}\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             default_internal_user = {internal}\ndefault_login_user = {login}\nfirst_valid_uid = 1\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {dir}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={owner} gid={owner} home={dir}/mail/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {plain_port}\n  }}\n\
             \x20 inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n  }}\n  chroot =\n}}\n\
             service anvil {{\n  chroot =\n}}\n\
             protocol imap {{\n  mail_max_userip_connections = 100\n{capability}}}\n",
            port = self.port,
            capability = match self.idle {
                true => "",
                false =>
                    "  imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+\n",
            },
        );
        std::fs::write(self.dir.join("dovecot.conf"), config).unwrap();
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(Self::binary())
            .arg("-F")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Dovecot ({}): {e}; `bash tests/run` installs dovecot-imapd",
                    Self::binary()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Dovecot did not listen within 15 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL to Dovecot and every process it started (its group): the server dies mid-word.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = i32::try_from(child.id()).unwrap();
            // SAFETY: signalling a process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, over the same mail.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(self.dir.join("run"));
        std::fs::create_dir_all(self.dir.join("run")).unwrap();
        self.launch();
    }

    /// Logged in as the support mailbox (a mail client's view of it).
    pub(crate) async fn client(&self) -> async_imap::Session<Box<dyn Stream>> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((_, _, authority)) => Box::new(tls_client(authority, tcp).await),
        };
        let mut client = async_imap::Client::new(stream);
        client.read_response().await.unwrap().expect("greeting");
        client
            .login(MAILBOX_USER, MAILBOX_PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Delivers a message into INBOX, as the team's mail server does.
    pub(crate) async fn deliver(&self, raw: &str) {
        let mut session = self.client().await;
        session
            .append("INBOX", None, None, raw.as_bytes())
            .await
            .expect("APPEND");
        session.logout().await.unwrap();
    }

    /// Every message in `mailbox`: its flags (`\Seen`, …) and first line of subject.
    pub(crate) async fn messages(&self, mailbox: &str) -> Vec<(Vec<String>, String)> {
        let mut session = self.client().await;
        let selected = session.select(mailbox).await.unwrap();
        if selected.exists == 0 {
            return Vec::new();
        }
        let fetched: Vec<_> = session
            .fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let listed = fetched
            .iter()
            .map(|f| {
                let flags = f.flags().map(|flag| format!("{flag:?}")).collect();
                let header = String::from_utf8_lossy(f.header().unwrap_or_default());
                (flags, header.trim().to_string())
            })
            .collect();
        session.logout().await.unwrap();
        listed
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

/// aiosmtpd keeping every message it takes, with the answers of `tests/mail/smtp_server.py`.
pub(crate) struct SmtpSink {
    child: Child,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
}

impl SmtpSink {
    pub(crate) fn start() -> SmtpSink {
        SmtpSink::start_with(None)
    }

    /// aiosmtpd that takes mail only after STARTTLS, with this certificate.
    pub(crate) fn start_tls(certificates: &Certificates) -> SmtpSink {
        SmtpSink::start_with(Some((certificates, "starttls")))
    }

    /// aiosmtpd speaking SMTP inside TLS from the first byte (`smtps`).
    pub(crate) fn start_implicit_tls(certificates: &Certificates) -> SmtpSink {
        SmtpSink::start_with(Some((certificates, "implicit")))
    }

    fn start_with(tls: Option<(&Certificates, &str)>) -> SmtpSink {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var("HELPDESK_TEST_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join(".venv/bin/python"));
        let port = free_port();
        let dir = temp_dir("smtp-sink");
        let mut child = Command::new(&python)
            .arg(root.join("tests/mail/smtp_server.py"))
            .arg(port.to_string())
            .arg(&dir)
            .args(
                tls.map(|(c, mode)| [c.cert.clone(), c.key.clone(), PathBuf::from(mode)])
                    .into_iter()
                    .flatten(),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.with_extension("log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start aiosmtpd with {}: {e}; run `bash tests/run`",
                    python.display()
                )
            });
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start: {}",
            std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
        );
        SmtpSink { child, port, dir }
    }

    /// What it took, oldest first: the envelope (JSON) and the message.
    pub(crate) fn received(&self) -> Vec<(serde_json::Value, String)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|eml| {
                let meta = std::fs::read_to_string(eml.with_extension("json")).unwrap_or_default();
                (
                    serde_json::from_str(&meta).unwrap_or_default(),
                    std::fs::read_to_string(eml).unwrap(),
                )
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn tls_client(
    authority: &Path,
    tcp: tokio::net::TcpStream,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(authority).unwrap();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS to Dovecot")
}

fn current_user() -> (u32, String) {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let name = std::env::var("USER").unwrap_or_else(|_| uid.to_string());
    (uid, name)
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn chown_to(path: &Path, user: &str) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:{user}"))
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown {user} {}", path.display());
}
