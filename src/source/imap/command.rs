//! One command and its answers, read in one place: the tagged completion
//! (a `NO` or `BAD` is an error, never an empty result), the unilateral
//! `EXISTS`/`RECENT` noted as news, silence bounded by a timeout, and a
//! session kept only while the protocol is known to be in step. Also how
//! a command's arguments are written: UID sets, quoted mailbox names.

use std::io;
use std::time::Duration;

use async_imap::imap_proto::{MailboxDatum, RequestId, Response, Status};

use super::{ImapError, ImapSession, ImapSource};

/// Longest silence tolerated while a command is running; a stalled server
/// must not freeze the daemon.
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

impl ImapSource {
    /// Runs one tagged command, handing each untagged response to `on_data`.
    pub(super) async fn execute(
        &mut self,
        command: &str,
        name: &'static str,
        mut on_data: impl FnMut(&Response<'_>),
    ) -> Result<(), ImapError> {
        let mut session = self.session.take().ok_or(ImapError::Broken)?;
        let tag = send(&mut session, command, name).await?;
        let outcome = await_completion(
            &mut session,
            &tag,
            name,
            &mut self.news_pending,
            &mut on_data,
        )
        .await;
        self.restore_unless_broken(session, &outcome);
        outcome
    }

    /// A NO/BAD answer leaves the protocol in step; anything else may not.
    pub(super) fn restore_unless_broken<T>(
        &mut self,
        session: ImapSession,
        outcome: &Result<T, ImapError>,
    ) {
        if matches!(outcome, Ok(_) | Err(ImapError::Protocol { .. })) {
            self.session = Some(session);
        }
    }
}

pub(super) async fn send(
    session: &mut ImapSession,
    command: &str,
    name: &'static str,
) -> Result<RequestId, ImapError> {
    session
        .run_command(command)
        .await
        .map_err(|error| library_error(error, name))
}

/// Reads until the tagged completion of `tag`, noting new-mail
/// announcements in `news` and passing everything else to `on_data`.
pub(super) async fn await_completion(
    session: &mut ImapSession,
    tag: &RequestId,
    name: &'static str,
    news: &mut bool,
    on_data: &mut impl FnMut(&Response<'_>),
) -> Result<(), ImapError> {
    loop {
        let finished = read_one(session, name, |response| match response {
            Response::Done {
                tag: done,
                status,
                outcome,
            } if done == tag => Some(match status {
                Status::Ok => Ok(()),
                _ => Err(ImapError::Protocol {
                    command: name,
                    detail: outcome_text(outcome),
                }),
            }),
            other if announces_new_mail(other) => {
                *news = true;
                None
            }
            other => {
                on_data(other);
                None
            }
        })
        .await?;
        if let Some(result) = finished {
            return result;
        }
    }
}

/// Reads one response and hands it to `handle`; async-imap does not let the
/// response type itself leave the read.
pub(super) async fn read_one<T>(
    session: &mut ImapSession,
    name: &'static str,
    handle: impl FnOnce(&Response<'_>) -> T,
) -> Result<T, ImapError> {
    let read = tokio::time::timeout(RESPONSE_TIMEOUT, session.read_response())
        .await
        .map_err(|_| timed_out(name))?;
    Ok(handle(received(read, name)?.parsed()))
}

/// Turns end of stream into an error: a command always ends with a tag.
pub(super) fn received<R>(read: io::Result<Option<R>>, name: &'static str) -> Result<R, ImapError> {
    match read {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(ImapError::Io {
            command: name,
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"),
        }),
        Err(source) => Err(ImapError::Io {
            command: name,
            source,
        }),
    }
}

pub(super) fn timed_out(name: &'static str) -> ImapError {
    ImapError::Io {
        command: name,
        source: io::Error::new(io::ErrorKind::TimedOut, "no answer from the IMAP server"),
    }
}

pub(super) fn announces_new_mail(response: &Response<'_>) -> bool {
    matches!(
        response,
        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
    )
}

pub(super) fn outcome_text(outcome: &async_imap::imap_proto::Outcome<'_>) -> String {
    match (&outcome.code, &outcome.information) {
        (Some(code), Some(text)) => format!("[{code:?}] {text}"),
        (Some(code), None) => format!("[{code:?}]"),
        (None, Some(text)) => text.to_string(),
        (None, None) => "no reason given".to_owned(),
    }
}

pub(super) fn library_error(error: async_imap::error::Error, name: &'static str) -> ImapError {
    match error {
        async_imap::error::Error::Io(source) => ImapError::Io {
            command: name,
            source,
        },
        async_imap::error::Error::ConnectionLost => ImapError::Io {
            command: name,
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "connection lost"),
        },
        other => ImapError::Protocol {
            command: name,
            detail: other.to_string(),
        },
    }
}

/// A compact IMAP sequence set: `[1, 2, 3, 7, 9, 10]` → `1:3,7,9:10`.
pub(super) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}:{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7
/// (RFC 3501 §5.1.3) so that French folder names like `Traités` work.
/// Control characters end up inside the UTF-7 run, so the name cannot break
/// out of the command line.
pub(super) fn quoted_mailbox(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len() + 2);
    encoded.push('"');
    let mut run: Vec<u16> = Vec::new();
    for character in name.chars() {
        if (' '..='~').contains(&character) {
            push_utf7_run(&mut run, &mut encoded);
            match character {
                '&' => encoded.push_str("&-"),
                '"' | '\\' => {
                    encoded.push('\\');
                    encoded.push(character);
                }
                _ => encoded.push(character),
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(character.encode_utf16(&mut units));
        }
    }
    push_utf7_run(&mut run, &mut encoded);
    encoded.push('"');
    encoded
}

/// Appends `&<modified base64 of UTF-16BE>-` and empties `run`.
fn push_utf7_run(run: &mut Vec<u16>, out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for index in 0..=chunk.len() {
            let sextet = (bits >> (18 - 6 * index)) & 0x3f;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_set_compresses_runs_in_order() {
        assert_eq!(uid_set(&[9, 1, 2, 3, 7, 10, 2]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }

    #[test]
    fn mailbox_names_are_quoted_and_utf7_encoded() {
        assert_eq!(quoted_mailbox("INBOX"), "\"INBOX\"");
        assert_eq!(quoted_mailbox("Traités"), "\"Trait&AOk-s\"");
        assert_eq!(quoted_mailbox("R&D"), "\"R&-D\"");
        assert_eq!(quoted_mailbox("a\"b\\c"), "\"a\\\"b\\\\c\"");
        // RFC 3501 §5.1.3 example.
        assert_eq!(
            quoted_mailbox("~peter/mail/台北/日本語"),
            "\"~peter/mail/&U,BTFw-/&ZeVnLIqe-\""
        );
    }

    #[test]
    fn line_breaks_cannot_escape_the_mailbox_name() {
        let quoted = quoted_mailbox("x\r\nA1 DELETE INBOX");
        assert!(!quoted.contains('\r') && !quoted.contains('\n'), "{quoted}");
    }
}
