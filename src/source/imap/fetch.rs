//! Reading the folder: the UIDs past the last one read, their sizes (so a
//! batch is bounded in bytes and a huge message never fetched whole), and
//! the messages or only their header blocks, in one `UID FETCH`.

use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response};

use super::command::uid_set;
use super::{ImapError, ImapSource};

impl ImapSource {
    /// UIDs greater than `after`, ascending. A NOOP first makes mail
    /// delivered by other connections visible: Dovecot only brings a
    /// session's view up to date at the end of a command. (Not pipelined:
    /// Dovecot may answer pipelined commands out of order.)
    pub async fn uids_after(&mut self, after: u32) -> Result<Vec<u32>, ImapError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        self.execute("NOOP", "NOOP", |_| {}).await?;
        // What the NOOP announced is covered by the search; only what arrives
        // during the search is still news.
        self.news_pending = false;
        let mut uids = Vec::new();
        self.execute(
            &format!("UID SEARCH UID {first}:*"),
            "UID SEARCH",
            |response| {
                if let Response::MailboxData(MailboxDatum::Search(found)) = response {
                    uids.extend_from_slice(found);
                }
            },
        )
        .await?;
        // `n:*` always matches the highest UID, even when it is below n.
        uids.retain(|&uid| uid > after);
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// UIDs of the messages of the selected folder whose Message-ID header
    /// holds `message_id` (reprocess: finding a mail moved to the folder of
    /// its outcome). `message_id` is sent as a quoted string.
    pub async fn uids_with_message_id(&mut self, message_id: &str) -> Result<Vec<u32>, ImapError> {
        let quoted: String = message_id
            .chars()
            .filter(|c| (' '..='~').contains(c))
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let mut uids = Vec::new();
        self.execute(
            &format!("UID SEARCH HEADER Message-ID \"{quoted}\""),
            "UID SEARCH",
            |response| {
                if let Response::MailboxData(MailboxDatum::Search(found)) = response {
                    uids.extend_from_slice(found);
                }
            },
        )
        .await?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// Raw messages for `uids`, ascending by UID, in one `UID FETCH`. A
    /// message expunged meanwhile is simply absent. Does not set `\Seen`.
    pub async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        self.fetch_section(uids, "BODY.PEEK[]").await
    }

    /// Only the header block of `uids`: for messages too big to read, whose
    /// sender must still be answered.
    pub async fn fetch_headers(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        self.fetch_section(uids, "BODY.PEEK[HEADER]").await
    }

    /// The size in bytes of each of `uids`, so that a batch is bounded in
    /// bytes as well as in count and a huge message is never fetched whole.
    pub async fn sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u32)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sizes = Vec::with_capacity(uids.len());
        self.execute(
            &format!("UID FETCH {} (UID RFC822.SIZE)", uid_set(uids)),
            "UID FETCH",
            |response| {
                if let Response::Fetch(_, attributes) = response {
                    let uid = attributes.iter().find_map(|a| match a {
                        AttributeValue::Uid(uid) => Some(*uid),
                        _ => None,
                    });
                    let size = attributes.iter().find_map(|a| match a {
                        AttributeValue::Rfc822Size(size) => Some(*size),
                        _ => None,
                    });
                    if let (Some(uid), Some(size)) = (uid, size) {
                        sizes.push((uid, size));
                    }
                }
            },
        )
        .await?;
        sizes.sort_unstable();
        sizes.dedup_by_key(|(uid, _)| *uid);
        sizes.retain(|(uid, _)| uids.contains(uid));
        Ok(sizes)
    }

    async fn fetch_section(
        &mut self,
        uids: &[u32],
        section: &str,
    ) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        let mut messages = Vec::with_capacity(wanted.len());
        self.execute(
            &format!("UID FETCH {} (UID {section})", uid_set(&wanted)),
            "UID FETCH",
            |response| {
                if let Some((uid, body)) = fetched_message(response) {
                    // Flag updates for other messages may arrive unasked.
                    if wanted.binary_search(&uid).is_ok() {
                        messages.push((uid, body.to_vec()));
                    }
                }
            },
        )
        .await?;
        messages.sort_unstable_by_key(|(uid, _)| *uid);
        messages.dedup_by_key(|(uid, _)| *uid);
        Ok(messages)
    }
}

/// The UID and the fetched bytes (whole message or header block) of a
/// FETCH response, if it carries both.
fn fetched_message<'a>(response: &'a Response<'_>) -> Option<(u32, &'a [u8])> {
    let Response::Fetch(_, attributes) = response else {
        return None;
    };
    let uid = attributes.iter().find_map(|attribute| match attribute {
        AttributeValue::Uid(uid) => Some(*uid),
        _ => None,
    })?;
    let body = attributes.iter().find_map(|attribute| match attribute {
        AttributeValue::BodySection {
            data: Some(body), ..
        }
        | AttributeValue::Rfc822(Some(body)) => Some(body.as_ref()),
        _ => None,
    })?;
    Some((uid, body))
}
