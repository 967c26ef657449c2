//! Waiting for news: IDLE when the server offers it (renewed before the
//! server's inactivity logout), else a sleep then NOOP.

use std::time::Duration;

use async_imap::imap_proto::Response;
use tokio::time::Instant;

use super::command::{
    announces_new_mail, await_completion, library_error, outcome_text, read_one, received, send,
};
use super::{ImapError, ImapSource};

/// RFC 2177: re-issue IDLE before the server's 30-minute inactivity logout.
const IDLE_RENEWAL: Duration = Duration::from_secs(29 * 60);

impl ImapSource {
    /// Returns when the server reports new mail or after `timeout`. Uses IDLE
    /// when offered, else sleeps then sends NOOP. The caller searches for new
    /// UIDs after every return, so early returns only cost one search.
    pub async fn wait_for_news(&mut self, timeout: Duration) -> Result<(), ImapError> {
        let deadline = Instant::now() + timeout;
        if !std::mem::take(&mut self.news_pending) {
            if self.features.idle {
                while Instant::now() < deadline {
                    let round_end = deadline.min(Instant::now() + IDLE_RENEWAL);
                    if self.idle_until(round_end).await? {
                        break;
                    }
                }
            } else {
                tokio::time::sleep_until(deadline).await;
                self.execute("NOOP", "NOOP", |_| {}).await?;
            }
        }
        self.news_pending = false;
        Ok(())
    }

    /// One IDLE round until `end`; true when the server announced new mail.
    async fn idle_until(&mut self, end: Instant) -> Result<bool, ImapError> {
        let mut session = self.session.take().ok_or(ImapError::Broken)?;
        let tag = send(&mut session, "IDLE", "IDLE").await?;
        let mut news = false;
        loop {
            let started = read_one(&mut session, "IDLE", |response| match response {
                Response::Continue(_) => Some(Ok(())),
                Response::Done {
                    tag: done, outcome, ..
                } if *done == tag => Some(Err(outcome_text(outcome))),
                other => {
                    news |= announces_new_mail(other);
                    None
                }
            })
            .await?;
            match started {
                None => {}
                Some(Ok(())) => break,
                Some(Err(detail)) => {
                    self.session = Some(session);
                    return Err(ImapError::Protocol {
                        command: "IDLE",
                        detail,
                    });
                }
            }
        }
        while !news {
            match tokio::time::timeout_at(end, session.read_response()).await {
                Err(_elapsed) => break,
                Ok(read) => news = announces_new_mail(received(read, "IDLE")?.parsed()),
            }
        }
        session
            .run_command_untagged("DONE")
            .await
            .map_err(|error| library_error(error, "IDLE"))?;
        let mut ignore = |_: &Response<'_>| {};
        let done = await_completion(&mut session, &tag, "IDLE", &mut news, &mut ignore).await;
        self.restore_unless_broken(session, &done);
        done.map(|()| news)
    }
}
