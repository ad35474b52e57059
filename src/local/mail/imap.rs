//! Fetching the support mailbox over IMAP: every new message goes through the same inbound
//! pipeline as `inbox/` files and SES mail, and is marked `\Seen` (or moved) only once its
//! outcome is stored. In `\Seen` mode a bookmark (`bookmark.rs`) also takes mail a person
//! read before helpdesk fetched it.
//!
//! Exactly once: a crash between storing and marking leaves the message unmarked, so it is
//! fetched again; its bytes are the same, so the inbound record made from them the first time
//! is found and nothing is added (a copy with other bytes is recognised by its Message-ID).
//! Connection loss, a server restart or a refused login end the session; the next one starts
//! after a back-off, and `GET /status` shows the error meanwhile.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use helpdesk_shared::app::Local;
use helpdesk_shared::domain::inbound::MAX_MESSAGE_BYTES;

use super::bookmark::{Bookmark, Bookmarks};
use super::connect::{ImapError, Session, open_session};
use super::settings::{AfterIngest, ImapSettings};
use super::status::SharedStatus;
use crate::local::DataDir;

/// Messages taken per round; more are taken in the next one, straight after.
const FETCH_BATCH: usize = 50;
/// The longest IDLE before looking again (servers may drop an IDLE after 30 minutes).
const IDLE_REFRESH: Duration = Duration::from_secs(10 * 60);
/// How soon a message whose ingestion failed (the store was busy) is tried again.
const RETRY_FAILED: Duration = Duration::from_secs(15);
/// The longest a round (a batch fetched, stored and marked) or an IDLE command may take: a
/// server that stops answering on a connection that stays open ends the session.
const STALLED: Duration = Duration::from_secs(10 * 60);
const COMMAND_STALLED: Duration = Duration::from_secs(60);

/// Fetches until the process ends; never returns.
pub async fn fetch_mail(settings: ImapSettings, data: DataDir, app: Local, status: SharedStatus) {
    status.imap(|s| {
        s.server = format!("{:?}", settings.server);
        s.mailbox = settings.mailbox.clone();
    });
    let fetcher = Fetcher {
        settings,
        data,
        app,
        status,
    };
    let mut backoff = Backoff::default();
    loop {
        fetcher.status.imap(|s| s.state = "connecting");
        let error = fetcher.session(&mut backoff).await;
        let wait = backoff.after(&error);
        match &error {
            ImapError::Login(_) => {
                tracing::error!(%error, retry_in = ?wait, "IMAP login refused: check the user and password")
            }
            ImapError::Other(_) => tracing::warn!(%error, retry_in = ?wait, "IMAP connection lost"),
        }
        fetcher.status.imap_error(&error.to_string(), wait);
        tokio::time::sleep(wait).await;
    }
}

struct Fetcher {
    settings: ImapSettings,
    data: DataDir,
    app: Local,
    status: SharedStatus,
}

/// What one round left to do.
struct Round {
    /// Messages not taken this round (over the batch).
    more: bool,
    /// Messages whose ingestion failed, to be tried again soon.
    failed: bool,
}

impl Fetcher {
    /// One connection, from login to the error that ends it.
    async fn session(&self, backoff: &mut Backoff) -> ImapError {
        match self.run_session(backoff).await {
            Ok(never) => match never {},
            Err(error) => error,
        }
    }

    async fn run_session(
        &self,
        backoff: &mut Backoff,
    ) -> Result<std::convert::Infallible, ImapError> {
        let (mut session, capabilities) = open_session(&self.settings).await?;
        if let AfterIngest::MoveTo(folder) = &self.settings.after {
            // Made once; "already exists" is the usual answer.
            let _ = session.create(folder).await;
        }
        let selected = session.select(&self.settings.mailbox).await?;
        let mut bookmark = match self.settings.after {
            AfterIngest::MarkSeen => {
                self.bookmarks()
                    .load(&self.account(), selected.uid_validity, selected.uid_next)
            }
            AfterIngest::MoveTo(_) => None,
        };
        self.status.imap(|s| {
            s.idle_supported = Some(capabilities.idle);
            s.retry_in_seconds = None;
        });
        backoff.reset();
        let mut skipped = HashSet::new();
        loop {
            let round = bounded(
                STALLED,
                self.fetch_round(&mut session, &capabilities, &mut skipped, &mut bookmark),
            )
            .await?;
            // Mail that arrived while the round ran was announced (EXISTS) in the answers to
            // its commands, and IDLE would not announce it again: look once more first.
            if round.more || new_mail_announced(&session) {
                continue;
            }
            let wait = if round.failed {
                RETRY_FAILED
            } else {
                IDLE_REFRESH
            };
            session = if capabilities.idle {
                self.idle(session, wait).await?
            } else {
                self.status.imap(|s| s.state = "polling");
                tokio::time::sleep(wait.min(self.settings.poll)).await;
                session
            };
        }
    }

    /// Waits with IDLE until the mailbox changes or `wait` passes.
    async fn idle(&self, session: Session, wait: Duration) -> Result<Session, ImapError> {
        self.status.imap(|s| s.state = "idle");
        let mut handle = session.idle();
        bounded(COMMAND_STALLED, async { Ok(handle.init().await?) }).await?;
        let (waiting, _stop) = handle.wait_with_timeout(wait);
        let woke = waiting.await?;
        tracing::debug!(?woke, "IMAP IDLE ended");
        let ended = matches!(woke, IdleResponse::ManualInterrupt);
        let session = bounded(COMMAND_STALLED, async { Ok(handle.done().await?) }).await?;
        if ended {
            // The stream closed under IDLE: the server went away.
            return Err(ImapError::Other("the server closed the connection".into()));
        }
        Ok(session)
    }

    fn bookmarks(&self) -> Bookmarks {
        Bookmarks::new(self.data.path())
    }

    /// The account and mailbox a bookmark belongs to.
    fn account(&self) -> String {
        let server = &self.settings.server;
        let user = server.user.as_deref().unwrap_or_default();
        format!(
            "{user}@{}:{}/{}",
            server.host, server.port, self.settings.mailbox
        )
    }

    /// The messages to take: unread ones, and (with a bookmark) any at or past it.
    async fn wanted(
        &self,
        session: &mut Session,
        bookmark: Option<&Bookmark>,
    ) -> Result<Vec<u32>, ImapError> {
        let query = match self.settings.after {
            AfterIngest::MarkSeen => "UNSEEN UNDELETED",
            AfterIngest::MoveTo(_) => "UNDELETED",
        };
        let mut uids: Vec<u32> = session.uid_search(query).await?.into_iter().collect();
        if let Some(bookmark) = bookmark {
            let from = bookmark.next_uid;
            let query = format!("UID {from}:* UNDELETED");
            // `n:*` also names the last message when every UID is below n.
            let past = session.uid_search(&query).await?.into_iter();
            uids.extend(past.filter(|uid| *uid >= from));
        }
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// Takes up to a batch of new messages, oldest first.
    async fn fetch_round(
        &self,
        session: &mut Session,
        capabilities: &super::connect::Capabilities,
        skipped: &mut HashSet<u32>,
        bookmark: &mut Option<Bookmark>,
    ) -> Result<Round, ImapError> {
        self.status.imap(|s| s.state = "fetching");
        let mut uids = self.wanted(session, bookmark.as_ref()).await?;
        uids.retain(|uid| !skipped.contains(uid));
        let more = uids.len() > FETCH_BATCH;
        uids.truncate(FETCH_BATCH);
        let sizes = self.sizes(session, &uids).await?;
        let mut failed = false;
        for uid in uids {
            let size = sizes.get(&uid).copied().unwrap_or(0);
            if size > MAX_MESSAGE_BYTES as u64 {
                tracing::warn!(
                    uid,
                    size,
                    "message over the inbound size limit; left in the mailbox"
                );
                skipped.insert(uid);
                self.status.imap(|s| s.messages_skipped += 1);
                continue;
            }
            let Some(raw) = self.body(session, uid).await? else {
                continue; // expunged meanwhile by another client
            };
            match self.data.ingest_raw(&self.app, raw).await {
                Ok(record) => {
                    tracing::info!(uid, inbound = %record.id, status = record.status.as_str(), ticket = record.ticket_id.as_deref().unwrap_or_default(), "mail from IMAP");
                    self.mark_done(session, capabilities, uid).await?;
                    self.status.imap(|s| s.messages_ingested += 1);
                    // Not past a message that failed: it is taken again while it waits.
                    if let (Some(bookmark), false) = (bookmark.as_mut(), failed) {
                        self.bookmarks().pass(bookmark, uid);
                    }
                }
                Err(error) => {
                    tracing::warn!(uid, %error, "ingesting IMAP mail failed; will retry");
                    failed = true;
                }
            }
        }
        self.status
            .imap(|s| s.last_fetch_at = Some(helpdesk_shared::domain::clock::now()));
        Ok(Round { more, failed })
    }

    /// Each message's size, so that nothing over the limit is downloaded.
    async fn sizes(
        &self,
        session: &mut Session,
        uids: &[u32],
    ) -> Result<BTreeMap<u32, u64>, ImapError> {
        if uids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let set = uid_set(uids);
        let fetched: Vec<_> = session
            .uid_fetch(&set, "RFC822.SIZE")
            .await?
            .try_collect()
            .await?;
        Ok(fetched
            .iter()
            .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
            .collect())
    }

    /// The whole message, without setting `\Seen` (that waits until it is stored).
    async fn body(&self, session: &mut Session, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await?
            .try_collect()
            .await?;
        Ok(fetched
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
            .map(<[u8]>::to_vec))
    }

    /// `\Seen`, or moved (`MOVE`, or copy, delete and expunge where the server has no MOVE).
    async fn mark_done(
        &self,
        session: &mut Session,
        capabilities: &super::connect::Capabilities,
        uid: u32,
    ) -> Result<(), ImapError> {
        let uid = uid.to_string();
        match &self.settings.after {
            AfterIngest::MarkSeen => {
                let _: Vec<_> = session
                    .uid_store(&uid, "+FLAGS.SILENT (\\Seen)")
                    .await?
                    .try_collect()
                    .await?;
            }
            AfterIngest::MoveTo(folder) if capabilities.move_ => {
                session.uid_mv(&uid, folder).await?
            }
            AfterIngest::MoveTo(folder) => {
                session.uid_copy(&uid, folder).await?;
                let _: Vec<_> = session
                    .uid_store(&uid, "+FLAGS.SILENT (\\Deleted)")
                    .await?
                    .try_collect()
                    .await?;
                let _: Vec<_> = session.uid_expunge(&uid).await?.try_collect().await?;
            }
        }
        Ok(())
    }
}

/// Whether the server said, beside the answers to our commands, that messages arrived.
fn new_mail_announced(session: &Session) -> bool {
    let mut announced = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        announced |= matches!(
            response,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    announced
}

/// `work`, or an error once `limit` passed without its answer.
async fn bounded<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, ImapError>>,
) -> Result<T, ImapError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(ImapError::Other(format!("no answer within {limit:?}"))))
}

/// `3,5,9`: the UIDs of one command.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Waits between sessions: doubling from a second to five minutes, and at least a minute
/// after a refused login (a server may lock an account that retries a wrong password fast).
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const LONGEST: Duration = Duration::from_secs(300);

    fn after(&mut self, error: &ImapError) -> Duration {
        let doubled = Duration::from_secs(1) * 2u32.saturating_pow(self.failures.min(9));
        self.failures = self.failures.saturating_add(1);
        let wait = doubled.min(Self::LONGEST);
        match error {
            ImapError::Login(_) => wait.max(Duration::from_secs(60)),
            ImapError::Other(_) => wait,
        }
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}
