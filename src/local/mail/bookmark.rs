//! How far helpdesk got in the mailbox, so that a message a person reads before helpdesk
//! fetches it is still taken: in `\Seen` mode, searching for unseen mail alone would skip it.
//!
//! The bookmark is the next UID to look at, kept with the mailbox's UIDVALIDITY (a mailbox made
//! anew numbers its messages from scratch) and the account and mailbox it belongs to, in
//! `DATA_DIR/imap-bookmark.json`. Messages at or above it are taken, read or not; below it,
//! unread ones only. On the first connection it starts at the mailbox's UIDNEXT, so that mail
//! already there and read stays as it is. It moves past a message only once that message is
//! stored, and never past one whose storing failed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FILE: &str = "imap-bookmark.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    /// `user@host:port/mailbox`: another account or mailbox starts afresh.
    account: String,
    uid_validity: u32,
    pub next_uid: u32,
}

/// The bookmark's file in the data dir.
pub struct Bookmarks {
    path: PathBuf,
}

impl Bookmarks {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(FILE),
        }
    }

    /// The bookmark of `account` in a mailbox selected with `uid_validity` and `uid_next`: the
    /// one kept, or a new one at `uid_next` (kept at once). `None` when the server said neither
    /// (then only unread mail is taken, as without a bookmark).
    pub fn load(
        &self,
        account: &str,
        uid_validity: Option<u32>,
        uid_next: Option<u32>,
    ) -> Option<Bookmark> {
        let uid_validity = uid_validity?;
        let kept = std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Bookmark>(&bytes).ok())
            .filter(|b| b.account == account && b.uid_validity == uid_validity);
        if kept.is_some() {
            return kept;
        }
        let fresh = Bookmark {
            account: account.to_string(),
            uid_validity,
            next_uid: uid_next?,
        };
        self.save(&fresh);
        Some(fresh)
    }

    /// Moves `bookmark` past `uid` and keeps it; a bookmark already further stays.
    pub fn pass(&self, bookmark: &mut Bookmark, uid: u32) {
        let next = uid.saturating_add(1);
        if next > bookmark.next_uid {
            bookmark.next_uid = next;
            self.save(bookmark);
        }
    }

    /// Written aside and renamed, so that a crash leaves the old bookmark or the new one. A
    /// bookmark that cannot be kept only means mail may be looked at again (and recognised).
    fn save(&self, bookmark: &Bookmark) {
        let aside = self.path.with_extension("json.new");
        let written = serde_json::to_vec(bookmark)
            .map_err(|e| e.to_string())
            .and_then(|bytes| std::fs::write(&aside, bytes).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::rename(&aside, &self.path).map_err(|e| e.to_string()));
        if let Err(error) = written {
            tracing::warn!(%error, path = %self.path.display(), "the IMAP bookmark was not kept");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bookmark_is_kept_per_account_and_uid_validity() {
        let dir = std::env::temp_dir().join(format!("bookmark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marks = Bookmarks::new(&dir);
        let mut first = marks.load("a@h:1/INBOX", Some(7), Some(40)).unwrap();
        assert_eq!(first.next_uid, 40);
        marks.pass(&mut first, 44);
        marks.pass(&mut first, 41);
        assert_eq!(first.next_uid, 45, "never back");
        // Kept: the server's UIDNEXT of a later session does not move it.
        assert_eq!(
            marks
                .load("a@h:1/INBOX", Some(7), Some(90))
                .unwrap()
                .next_uid,
            45
        );
        // A mailbox made anew, or another one, starts at its UIDNEXT.
        assert_eq!(
            marks
                .load("a@h:1/INBOX", Some(8), Some(3))
                .unwrap()
                .next_uid,
            3
        );
        assert_eq!(
            marks
                .load("a@h:1/Other", Some(8), Some(9))
                .unwrap()
                .next_uid,
            9
        );
        assert_eq!(marks.load("a@h:1/Other", None, Some(9)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
