//! The systemd notify protocol (`Type=notify`): `READY=1` once the daemon
//! runs, `STOPPING=1` when it stops, and `WATCHDOG=1` pings sent only while
//! every long-running task shows it is alive — a mailbox task stuck on a
//! server that never answers, or a dead outbox loop, stops the pings and
//! systemd restarts the service. The datagram is sent by the `sd-notify`
//! crate (no dependency beyond libc; it handles abstract socket names and
//! `WATCHDOG_PID`). Without `$NOTIFY_SOCKET` all of it is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;

use super::Health;

pub fn notify_ready() {
    send(&[NotifyState::Ready]);
}

pub fn notify_stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// Pings the watchdog every half of its timeout (`$WATCHDOG_USEC`) while
/// every one of `tasks` beat within `stale_after`; returns at once when no
/// watchdog is asked for, or when `stopped`.
pub async fn feed_watchdog(
    health: &Health,
    tasks: &[String],
    stale_after: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = timeout / 2;
    while !*stopped.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stopped.changed() => return,
        }
        if health.alive(tasks, stale_after) {
            // A blocking send (a notify socket whose reader lags has a
            // queue of ten datagrams), kept off the runtime's workers.
            let _ = tokio::task::spawn_blocking(|| send(&[NotifyState::Watchdog])).await;
        } else {
            tracing::error!(
                ?tasks,
                ?stale_after,
                "a task stopped showing it is alive: watchdog not fed"
            );
        }
    }
}
