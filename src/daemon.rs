//! The running daemon: one task per mailbox (read a batch, process it, move
//! the mails only after the commit, wait for news), one outbox task, the
//! timers, and a clean stop on SIGINT/SIGTERM. A mailbox is read, and the
//! timers run, only while this daemon holds their [`cluster`] lease, so that
//! any number of daemons can share one database; each batch commits under
//! its lease's fence. `run --once` drains every mailbox and the outbox,
//! then returns; it takes no lease (see docs/operations.md).
//!
//! [`cluster`]: crate::cluster

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::cluster::{mailbox_lease, Coordinator, Lease, Member, TIMERS};
use crate::config::{MailboxLocation, MailboxSettings, Settings};
use crate::desk::{Disposition, Outcome};
use crate::oauth::{OAuthError, TokenSource};
use crate::ops::alarms::Alarms;
use crate::ops::report::Report;
use crate::ops::settings::Thresholds;
use crate::ops::systemd;
use crate::ops::{Certificate, Health, MailSeen};
use crate::outbox::{Outbox, OutboxError, OUTBOX_TASK};
use crate::pipeline::{Incoming, Pipeline, PipelineError, Processed};
use crate::privacy::Retention;
use crate::source::imap::{ImapError, ImapSettings, ImapSource, Login};
use crate::source::maildir::{MaildirError, MaildirSource};
use crate::source::{plan_fetch, BATCH_BYTES};
use crate::store::{Fence, Store, StoreError};
use crate::timers::Timers;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Maildir(#[from] MaildirError),
    #[error("mailbox {mailbox}: {source}")]
    Imap {
        mailbox: String,
        #[source]
        source: ImapError,
    },
    #[error("mailbox {0}: {1}")]
    Mailbox(String, String),
    /// No access token for an OAuth2 mailbox: see [`DaemonError::oauth`].
    #[error("mailbox {mailbox}: no OAuth2 access token: {source}")]
    OAuth {
        mailbox: String,
        #[source]
        source: OAuthError,
    },
    #[error(transparent)]
    Timers(#[from] crate::tickets::TicketError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("configuration: {0}")]
    Setting(String),
    #[error("cannot listen on {address} (http.listen or web.listen): {source}")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl DaemonError {
    /// Whether the server refused our credentials, or no OAuth2 token can
    /// be had without a person (a revoked consent, a wrong secret): a
    /// problem at once, not after the silence threshold.
    fn is_login_refused(&self) -> bool {
        match self {
            DaemonError::Imap {
                source: ImapError::Auth { .. },
                ..
            } => true,
            _ => self.oauth().is_some_and(OAuthError::needs_a_person),
        }
    }

    /// The OAuth2 condition behind this error, for whoever reports the
    /// daemon's state: [`OAuthError::needs_a_person`] says whether it is
    /// one to raise (a revoked consent, a wrong secret) or one that mends
    /// itself (the provider out of reach).
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            DaemonError::OAuth { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Totals of a `run --once`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Summary {
    pub mails: usize,
    pub tickets: usize,
    pub sent: usize,
    /// Until every mailbox was read and committed.
    pub intake_time: Duration,
    /// Until the outbox was empty too.
    pub total_time: Duration,
}

/// The shared parts every task uses.
struct Shared {
    pipeline: Pipeline,
    store: Store,
    wake_outbox: Notify,
    batch_size: usize,
    poll_interval: Duration,
    reopen_days: u32,
    max_message_bytes: u64,
    health: Health,
    retention: Retention,
}

impl Shared {
    fn timers(&self) -> Timers<'_> {
        Timers::new(
            self.pipeline.tickets(),
            self.store.clone(),
            self.reopen_days,
        )
    }
}

/// How often SLA deadlines and resolved tickets are looked at.
const TIMER_PERIOD: Duration = Duration::from_secs(60);

/// How often retention looks for personal data due (`[retention]`): its
/// periods are days and months, an hour late is nothing.
const RETENTION_PERIOD: Duration = Duration::from_secs(3600);

/// Connects to the database, brings its schema up to date and builds the
/// pipeline and the outbox.
async fn prepare(settings: &Settings) -> Result<(Arc<Shared>, Outbox), DaemonError> {
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let store = Store::connect(&settings.database.url).await?;
    store.migrate().await?;
    let health = Health::new(store.clone());
    let outbox = Outbox::new(&settings.smtp, store.clone())?.reporting_to(health.clone());
    let shared = Shared {
        pipeline: Pipeline::new(settings, store.clone())?,
        store: store.clone(),
        wake_outbox: Notify::new(),
        batch_size: settings.gateway.batch_size,
        poll_interval: Duration::from_secs(settings.gateway.poll_interval_secs.max(1)),
        reopen_days: settings.tickets.reopen_days,
        max_message_bytes: settings.limits.max_message_bytes,
        health,
        retention: Retention::new(
            store.clone(),
            settings.retention.policy(),
            settings.retention.batch_size,
        ),
    };
    Ok((Arc::new(shared), outbox))
}

/// Processes what every mailbox holds now, then delivers the outbox and
/// returns. Sequential on purpose: run side by side, the two contend for
/// SQLite's write lock and the whole takes longer.
pub async fn run_once(settings: &Settings) -> Result<Summary, DaemonError> {
    let (shared, outbox) = prepare(settings).await?;
    let started = std::time::Instant::now();
    let mut summary = read_every_mailbox(settings, &shared).await?;
    summary.intake_time = started.elapsed();
    shared.timers().sweep(chrono::Utc::now()).await?;
    summary.sent = outbox.deliver_due().await?.sent;
    summary.total_time = started.elapsed();
    Ok(summary)
}

async fn read_every_mailbox(settings: &Settings, shared: &Shared) -> Result<Summary, DaemonError> {
    let mut summary = Summary::default();
    for mailbox in &settings.mailboxes {
        let tokens = token_source(mailbox)?;
        let mut reader = MailboxReader::open(mailbox, tokens.as_deref()).await?;
        loop {
            let results = reader.next_batch(shared, None).await?;
            if results.is_empty() {
                shared
                    .health
                    .mailbox_read(&mailbox.name, reader.certificate.as_ref())
                    .await;
                break;
            }
            summary.mails += results.len();
            summary.tickets += results
                .iter()
                .filter(|r| !r.duplicate && r.outcome == Outcome::TicketCreated)
                .count();
        }
        reader.close().await;
    }
    Ok(summary)
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(settings: &Settings) -> Result<(), DaemonError> {
    let (shared, outbox) = prepare(settings).await?;
    // One per mailbox, kept across reconnections, restarts and leases: the
    // token in hand too.
    let tokens: Vec<Option<Arc<TokenSource>>> = settings
        .mailboxes
        .iter()
        .map(token_source)
        .collect::<Result<_, _>>()?;
    let names: Vec<String> = settings.mailboxes.iter().map(|m| m.name.clone()).collect();
    let (coordinator, mut leases) = Coordinator::new(
        shared.store.clone(),
        Member::this_process(),
        settings.cluster.clone(),
        &names,
    );
    let coordinator = Arc::new(coordinator);
    let (leave, left) = watch::channel(false);
    let cluster = tokio::spawn(supervised("cluster".into(), left.clone(), move || {
        let (coordinator, left) = (Arc::clone(&coordinator), left.clone());
        async move { coordinator.run(left).await }
    }));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for (mailbox, tokens) in settings.mailboxes.clone().into_iter().zip(tokens) {
        let (shared, stopped) = (Arc::clone(&shared), stopped.clone());
        let name = format!("mailbox {}", mailbox.name);
        let Some(lease) = leases.remove(&mailbox_lease(&mailbox.name)) else {
            continue;
        };
        tasks.spawn(supervised(name, stopped.clone(), move || {
            watch_mailbox(
                mailbox.clone(),
                tokens.clone(),
                Arc::clone(&shared),
                lease.clone(),
                stopped.clone(),
            )
        }));
    }
    let outbox = Arc::new(outbox);
    let (outbox_shared, outbox_stopped) = (Arc::clone(&shared), stopped.clone());
    tasks.spawn(supervised("outbox".into(), stopped.clone(), move || {
        let (outbox, shared, stopped) = (
            Arc::clone(&outbox),
            Arc::clone(&outbox_shared),
            outbox_stopped.clone(),
        );
        async move { outbox.run(&shared.wake_outbox, stopped).await }
    }));
    if let Some(lease) = leases.remove(TIMERS) {
        let (timers_shared, timers_stopped) = (Arc::clone(&shared), stopped.clone());
        tasks.spawn(supervised("timers".into(), stopped.clone(), move || {
            let (shared, lease, stopped) = (
                Arc::clone(&timers_shared),
                lease.clone(),
                timers_stopped.clone(),
            );
            async move { run_timers(&shared, &lease, stopped).await }
        }));
    }
    let watch = Arc::new(Watch::new(settings, &shared)?);
    if let Some(address) = settings.http.address().map_err(DaemonError::Setting)? {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| DaemonError::Listen { address, source })?;
        let state = Arc::new(crate::http::State {
            health: shared.health.clone(),
            mailboxes: watch.mailboxes.clone(),
            thresholds: watch.thresholds,
        });
        tasks.spawn(crate::http::serve(listener, state, stopped.clone()));
        tracing::info!(%address, "serving /healthz, /readyz and /metrics");
    }
    if let Some(address) = settings.web.address().map_err(DaemonError::Setting)? {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| DaemonError::Listen { address, source })?;
        let waker = Arc::clone(&shared);
        let registry = match (settings.registry_file()?, &settings.registry) {
            (Some(file), Some(registry)) => Some(crate::registry::Gate::new(file, registry)),
            _ => None,
        };
        let state = Arc::new(crate::web::State::new(
            shared.store.clone(),
            shared.pipeline.tickets().clone(),
            settings.web.clone(),
            registry,
            Arc::new(move || waker.wake_outbox.notify_one()),
        ));
        tasks.spawn(crate::web::serve(listener, state, stopped.clone()));
        tracing::info!(%address, "serving the web console");
    }
    let (alarms_shared, alarms_stopped) = (Arc::clone(&shared), stopped.clone());
    tasks.spawn(supervised("alarms".into(), stopped.clone(), move || {
        let (shared, watch, stopped) = (
            Arc::clone(&alarms_shared),
            Arc::clone(&watch),
            alarms_stopped.clone(),
        );
        async move { watch.run(&shared, stopped).await }
    }));
    let (watchdog_health, watchdog_stopped) = (shared.health.clone(), stopped.clone());
    let (beating, stale_after) = (heartbeat_tasks(settings), stale_after(settings));
    tasks.spawn(async move {
        systemd::feed_watchdog(&watchdog_health, &beating, stale_after, watchdog_stopped).await
    });
    tracing::info!(mailboxes = settings.mailboxes.len(), "guichet running");
    systemd::notify_ready();
    wait_for_signal().await;
    systemd::notify_stopping();
    tracing::info!("stopping: finishing the batch under way");
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    // Only now: a lease let go earlier would fence off the last batches.
    let _ = leave.send(true);
    let _ = cluster.await;
    tracing::info!("stopped");
    Ok(())
}

/// The longest wait between two attempts to open a mailbox.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long a task that panicked waits before it starts again.
const RESTART_DELAY: Duration = Duration::from_secs(5);

/// Runs the task `start` makes until it returns, and starts it again
/// whenever it panics: a bug hit by one mailbox's data must not leave that
/// mailbox unread while the process looks alive. Each panic is logged at
/// error level.
async fn supervised<F, Fut>(task: String, mut stopped: watch::Receiver<bool>, start: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let Err(error) = tokio::spawn(start()).await else {
            return;
        };
        if !error.is_panic() {
            return;
        }
        let panic = crate::text::panic_message(&*error.into_panic());
        tracing::error!(%task, %panic, restart_in = ?RESTART_DELAY, "task panicked; restarting it");
        sleep_or_stop(RESTART_DELAY, &mut stopped).await;
        if *stopped.borrow() {
            return;
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the daemon");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// What the alarms task watches, and how often it looks.
struct Watch {
    alarms: Alarms,
    mailboxes: Vec<String>,
    thresholds: Thresholds,
    period: Duration,
}

impl Watch {
    fn new(settings: &Settings, shared: &Shared) -> Result<Self, DaemonError> {
        let notifier = Arc::new(settings.notifier()?);
        Ok(Self {
            alarms: Alarms::new(shared.store.clone(), notifier, settings.alerts.to.clone()),
            mailboxes: settings.mailboxes.iter().map(|m| m.name.clone()).collect(),
            thresholds: settings.alerts.thresholds(),
            period: Duration::from_secs(settings.alerts.check_interval_secs.max(1)),
        })
    }

    /// Looks for problems every period; an alarm started or ended queues
    /// its mail, and the outbox is woken for it.
    async fn run(&self, shared: &Shared, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let now = chrono::Utc::now();
            let report = Report::read(&shared.store, &self.mailboxes, &self.thresholds, now).await;
            match self.alarms.follow(&report, now).await {
                Ok(changes) if changes.started + changes.ended > 0 => {
                    shared.wake_outbox.notify_one();
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "alarms check failed"),
            }
            shared.health.beat(ALARMS_TASK);
            sleep_or_stop(self.period, &mut stopped).await;
        }
    }
}

/// The names the long-running tasks beat under.
const TIMERS_TASK: &str = "timers";
const ALARMS_TASK: &str = "alarms";

fn mailbox_task(name: &str) -> String {
    format!("mailbox {name}")
}

/// Every task the watchdog waits to hear from.
fn heartbeat_tasks(settings: &Settings) -> Vec<String> {
    let mailboxes = settings.mailboxes.iter().map(|m| mailbox_task(&m.name));
    let others = [OUTBOX_TASK, TIMERS_TASK, ALARMS_TASK].map(String::from);
    mailboxes.chain(others).collect()
}

/// How long a task may go without a beat before it counts as stuck: twice
/// the longest a healthy loop waits between beats (a poll, a timers pass,
/// an alarms check, the longest reconnection backoff), and some slack for
/// the work itself.
fn stale_after(settings: &Settings) -> Duration {
    let longest = [
        Duration::from_secs(settings.gateway.poll_interval_secs),
        TIMER_PERIOD,
        Duration::from_secs(settings.alerts.check_interval_secs),
        MAX_BACKOFF,
    ]
    .into_iter()
    .max()
    .unwrap_or(TIMER_PERIOD);
    longest * 2 + Duration::from_secs(30)
}

/// A timers pass every [`TIMER_PERIOD`] while this daemon holds the timers'
/// lease, and a retention purge when it takes the lease and every
/// [`RETENTION_PERIOD`] after (in batches, each its own short transaction
/// committed under the lease's fence); on every daemon, each period, the
/// metrics read from the database refreshed and the task's beat. An error
/// is logged and the next pass tries again.
async fn run_timers(shared: &Shared, lease: &Lease, mut stopped: watch::Receiver<bool>) {
    let mut lease = lease.clone();
    let timers = shared.timers();
    let mut last_purge: Option<std::time::Instant> = None;
    while !*stopped.borrow() {
        if let Err(error) = shared.health.refresh(chrono::Utc::now()).await {
            tracing::warn!(%error, "metrics refresh failed");
        }
        shared.health.beat(TIMERS_TASK);
        let Some(fence) = lease.current() else {
            // Not ours (yet): start as soon as it is, purge first; until
            // then the metrics are refreshed, and the task beats, each period.
            last_purge = None;
            tokio::select! {
                granted = lease.granted(&mut stopped) => if granted.is_none() {
                    return;
                },
                _ = tokio::time::sleep(TIMER_PERIOD) => {}
            }
            continue;
        };
        if last_purge.is_none_or(|at| at.elapsed() >= RETENTION_PERIOD) {
            last_purge = Some(std::time::Instant::now());
            if let Err(error) = shared
                .retention
                .purge(chrono::Utc::now(), Some(&fence))
                .await
            {
                tracing::warn!(%error, "retention purge failed");
            }
        }
        match timers.sweep(chrono::Utc::now()).await {
            Ok(done) if done.alerts + done.closed > 0 => {
                tracing::info!(alerts = done.alerts, closed = done.closed, "timers pass");
                shared.wake_outbox.notify_one();
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "timers pass failed"),
        }
        sleep_or_stop(TIMER_PERIOD, &mut stopped).await;
    }
}

/// The access tokens of an OAuth2 mailbox; `None` for a password login.
fn token_source(mailbox: &MailboxSettings) -> Result<Option<Arc<TokenSource>>, DaemonError> {
    match mailbox.oauth.token_source(&mailbox.name) {
        Ok(tokens) => Ok(tokens.map(Arc::new)),
        Err((key, problem)) => Err(DaemonError::Mailbox(
            mailbox.name.clone(),
            format!("{key}: {problem}"),
        )),
    }
}

/// One mailbox's life: wait for its lease, then read it under that lease
/// until the lease is lost or falls to another daemon, and hand it back.
async fn watch_mailbox(
    settings: MailboxSettings,
    tokens: Option<Arc<TokenSource>>,
    shared: Arc<Shared>,
    mut lease: Lease,
    mut stopped: watch::Receiver<bool>,
) {
    let task = mailbox_task(&settings.name);
    loop {
        // Waiting for the lease is not being stuck: the watchdog skips the
        // task, and /metrics drops the mailbox, until it reads again.
        shared.health.rest(&task);
        shared.health.mailbox_released(&settings.name);
        let Some(fence) = lease.granted(&mut stopped).await else {
            break;
        };
        tracing::info!(mailbox = %settings.name, epoch = fence.epoch, "reading the mailbox");
        read_under_lease(
            &settings,
            tokens.as_deref(),
            &shared,
            &mut lease,
            &fence,
            &mut stopped,
        )
        .await;
        if !lease.holds(&fence) {
            tracing::info!(mailbox = %settings.name, epoch = fence.epoch, "mailbox left to another daemon");
            lease.hand_back(&fence).await;
        }
    }
}

/// Open, drain, wait for news; on error, reopen with backoff. Stops between
/// batches when asked or when the lease no longer holds `fence`. A session
/// opened with an OAuth2 token ends when the token is due for renewal and
/// the next opens with a fresh one: a server that ends sessions at token
/// expiry (Exchange Online) never has to, and no login fails for it.
async fn read_under_lease(
    settings: &MailboxSettings,
    tokens: Option<&TokenSource>,
    shared: &Shared,
    lease: &mut Lease,
    fence: &Fence,
    stopped: &mut watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_secs(1);
    let task = mailbox_task(&settings.name);
    while !*stopped.borrow() && lease.holds(fence) {
        shared.health.beat(&task);
        let mut reader = match MailboxReader::open(settings, tokens).await {
            Ok(reader) => reader,
            Err(error) if error.oauth().is_some_and(OAuthError::needs_a_person) => {
                tracing::error!(mailbox = %settings.name, %error, retry_in = ?backoff, "mailbox stopped: it cannot log in");
                // Raised as a refused login: the alarm names the fix.
                shared
                    .health
                    .mailbox_failed(&settings.name, &error.to_string(), true)
                    .await;
                sleep_or_stop(backoff, stopped).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
            Err(error) => {
                tracing::warn!(mailbox = %settings.name, %error, retry_in = ?backoff, "cannot open mailbox");
                shared
                    .health
                    .mailbox_failed(&settings.name, &error.to_string(), error.is_login_refused())
                    .await;
                sleep_or_stop(backoff, stopped).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        match drain_until_stopped(&mut reader, shared, lease, fence, stopped).await {
            Ok(()) => {}
            Err(DaemonError::Store(StoreError::LeaseLost(_))) => tracing::warn!(
                mailbox = %settings.name,
                epoch = fence.epoch,
                "lease lost before the batch could commit: nothing of it was kept, its mails \
                 stay for the daemon that holds the mailbox now"
            ),
            Err(error) => {
                tracing::warn!(mailbox = %settings.name, %error, "mailbox failed; reopening");
                shared
                    .health
                    .mailbox_failed(&settings.name, &error.to_string(), error.is_login_refused())
                    .await;
                sleep_or_stop(backoff, stopped).await;
            }
        }
        reader.close().await;
    }
}

async fn drain_until_stopped(
    reader: &mut MailboxReader,
    shared: &Shared,
    lease: &mut Lease,
    fence: &Fence,
    stopped: &mut watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let task = mailbox_task(&reader.settings.name);
    while !*stopped.borrow() && lease.holds(fence) {
        if reader.session_ends.is_some_and(|end| Instant::now() >= end) {
            tracing::debug!(mailbox = %reader.settings.name, "access token due for renewal: logging in again");
            return Ok(());
        }
        let results = reader.next_batch(shared, Some(fence)).await?;
        shared
            .health
            .mailbox_read(&reader.settings.name, reader.certificate.as_ref())
            .await;
        shared.health.beat(&task);
        if results.is_empty() {
            let wait = match reader.session_ends {
                Some(end) => shared
                    .poll_interval
                    .min(end.saturating_duration_since(Instant::now())),
                None => shared.poll_interval,
            };
            tokio::select! {
                waited = reader.wait_for_news(wait) => waited?,
                _ = stopped.changed() => {}
                _ = lease.changed() => {}
            }
        }
    }
    Ok(())
}

async fn sleep_or_stop(duration: Duration, stopped: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = stopped.changed() => {}
    }
}

/// A mailbox being read: where its mail comes from and where it goes.
struct MailboxReader {
    settings: MailboxSettings,
    source: Source,
    /// The certificate the server showed when the mailbox was opened.
    certificate: Option<Certificate>,
    /// When the OAuth2 token this session logged in with is due for renewal.
    session_ends: Option<Instant>,
}

/// How to log in to an IMAP mailbox and select `folder` there: with its
/// password, or with an OAuth2 access token from `tokens`, and then when
/// that token is due for renewal.
async fn imap_settings(
    settings: &MailboxSettings,
    tokens: Option<&TokenSource>,
    host: String,
    port: u16,
    tls: crate::config::TlsMode,
    folder: String,
) -> Result<(ImapSettings, Option<Instant>), DaemonError> {
    let (login, renew_at) = match tokens {
        Some(tokens) => {
            let token = tokens
                .access_token()
                .await
                .map_err(|source| DaemonError::OAuth {
                    mailbox: settings.name.clone(),
                    source,
                })?;
            let login = Login::Bearer {
                token: token.secret().to_string(),
                mechanism: None,
            };
            (login, Some(Instant::from_std(token.renew_at())))
        }
        None => {
            let password = settings
                .secret
                .resolve()
                .map_err(|e| DaemonError::Mailbox(settings.name.clone(), e))?
                .unwrap_or_default();
            (Login::Password(password), None)
        }
    };
    let imap = ImapSettings {
        host,
        port,
        tls,
        folder,
        username: settings.username.clone().unwrap_or_default(),
        login,
        ca_file: settings.ca_file.clone(),
        danger_accept_invalid_certs: settings.danger_accept_invalid_certs,
    };
    Ok((imap, renew_at))
}

enum Source {
    Maildir(MaildirSource),
    Imap {
        session: Box<ImapSource>,
        last_uid: u32,
    },
}

impl MailboxReader {
    async fn open(
        settings: &MailboxSettings,
        tokens: Option<&TokenSource>,
    ) -> Result<Self, DaemonError> {
        let mut session_ends = None;
        let source = match settings
            .location()
            .map_err(|e| DaemonError::Mailbox(settings.name.clone(), e))?
        {
            MailboxLocation::Maildir(root) => Source::Maildir(MaildirSource::open(&root)?),
            MailboxLocation::Imap {
                host,
                port,
                tls,
                folder,
            } => {
                let (imap, renew_at) =
                    imap_settings(settings, tokens, host, port, tls, folder).await?;
                session_ends = renew_at;
                let session = match ImapSource::connect(&imap).await {
                    Ok(session) => session,
                    Err(source) => {
                        if let (Some(tokens), ImapError::Auth { .. }) = (tokens, &source) {
                            tokens.forget().await;
                        }
                        return Err(DaemonError::Imap {
                            mailbox: settings.name.clone(),
                            source,
                        });
                    }
                };
                // Start from the first UID: the folder only holds mail not yet
                // moved, including any committed just before a crash; the
                // dedupe record recognises those.
                Source::Imap {
                    session: Box::new(session),
                    last_uid: 0,
                }
            }
        };
        let certificate = match &source {
            Source::Imap { session, .. } => session
                .peer_certificate()
                .and_then(|der| Certificate::from_der(&host_of(settings), der)),
            Source::Maildir(_) => None,
        };
        Ok(Self {
            settings: settings.clone(),
            source,
            certificate,
            session_ends,
        })
    }

    fn imap_error(&self, source: ImapError) -> DaemonError {
        DaemonError::Imap {
            mailbox: self.settings.name.clone(),
            source,
        }
    }

    /// Reads, processes and commits one batch (under `fence`, when given),
    /// then moves its mails to the folders of their outcomes. An empty
    /// result: nothing was waiting.
    async fn next_batch(
        &mut self,
        shared: &Shared,
        fence: Option<&Fence>,
    ) -> Result<Vec<Processed>, DaemonError> {
        let name = self.settings.name.clone();
        match &mut self.source {
            Source::Maildir(maildir) => {
                let mut names = Vec::new();
                let mut batch = Vec::new();
                let mut bytes = 0;
                for file in maildir.waiting(shared.batch_size)? {
                    if bytes >= BATCH_BYTES {
                        break;
                    }
                    if let Some(fetched) = maildir.read(&file, shared.max_message_bytes)? {
                        bytes += fetched.raw.len() as u64;
                        batch.push(Incoming {
                            source_ref: file.clone(),
                            raw: fetched.raw,
                            oversize: fetched.oversize,
                        });
                        names.push(file);
                    }
                }
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                let results = shared.pipeline.process(&name, &batch, None, fence).await?;
                shared.wake_outbox.notify_one();
                report_batch(shared, &name, &batch, &results).await;
                for (file, result) in names.iter().zip(&results) {
                    maildir.move_to(
                        file,
                        self.settings.folders.for_disposition(result.disposition()),
                    )?;
                }
                Ok(results)
            }
            Source::Imap { session, last_uid } => {
                let uids = session.uids_after(*last_uid).await;
                let uids = uids.map_err(|e| DaemonError::Imap {
                    mailbox: name.clone(),
                    source: e,
                })?;
                let Some(chunk) = uids.chunks(shared.batch_size).next() else {
                    return Ok(Vec::new());
                };
                let imap_error = |e| DaemonError::Imap {
                    mailbox: name.clone(),
                    source: e,
                };
                let sizes = session.sizes(chunk).await.map_err(imap_error)?;
                let plan = plan_fetch(&sizes, shared.max_message_bytes, BATCH_BYTES);
                let whole = session.fetch(&plan.whole).await.map_err(imap_error)?;
                let oversized: Vec<u32> = plan.headers_only.iter().map(|(uid, _)| *uid).collect();
                let headers = session
                    .fetch_headers(&oversized)
                    .await
                    .map_err(imap_error)?;
                let mut batch: Vec<(u32, Incoming)> = whole
                    .into_iter()
                    .map(|(uid, raw)| (uid, None, raw))
                    .chain(headers.into_iter().map(|(uid, raw)| {
                        let size = plan.headers_only.iter().find(|(u, _)| *u == uid);
                        (uid, size.map(|(_, size)| *size), raw)
                    }))
                    .map(|(uid, oversize, raw)| {
                        let source_ref = format!("uid:{uid}");
                        (
                            uid,
                            Incoming {
                                source_ref,
                                raw,
                                oversize,
                            },
                        )
                    })
                    .collect();
                batch.sort_unstable_by_key(|(uid, _)| *uid);
                let batch: Vec<Incoming> = batch.into_iter().map(|(_, m)| m).collect();
                let cursor = crate::pipeline::Cursor {
                    uid_validity: session.uid_validity(),
                    last_uid: plan.stops_at.or(chunk.last().copied()).unwrap_or(*last_uid),
                };
                *last_uid = cursor.last_uid;
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                let results = shared
                    .pipeline
                    .process(&name, &batch, Some(cursor), fence)
                    .await?;
                shared.wake_outbox.notify_one();
                report_batch(shared, &name, &batch, &results).await;
                let folders = &self.settings.folders;
                for disposition in Disposition::ALL {
                    let uids: Vec<u32> = batch
                        .iter()
                        .zip(&results)
                        .filter(|(_, r)| r.disposition() == disposition)
                        .filter_map(|(m, _)| m.source_ref.strip_prefix("uid:")?.parse().ok())
                        .collect();
                    if !uids.is_empty() {
                        session
                            .move_to(&uids, folders.for_disposition(disposition))
                            .await
                            .map_err(|e| DaemonError::Imap {
                                mailbox: name.clone(),
                                source: e,
                            })?;
                    }
                }
                Ok(results)
            }
        }
    }

    async fn wait_for_news(&mut self, poll_interval: Duration) -> Result<(), DaemonError> {
        match &mut self.source {
            Source::Maildir(_) => {
                // A Maildir is local: a short poll keeps latency well under a second.
                tokio::time::sleep(poll_interval.min(Duration::from_millis(250))).await;
                Ok(())
            }
            Source::Imap { session, .. } => {
                let waited = session.wait_for_news(poll_interval).await;
                waited.map_err(|e| self.imap_error(e))
            }
        }
    }

    async fn close(self) {
        if let Source::Imap { session, .. } = self.source {
            session.logout().await;
        }
    }
}

/// The host of an IMAP mailbox, for its certificate's alarm.
fn host_of(settings: &MailboxSettings) -> String {
    match settings.location() {
        Ok(MailboxLocation::Imap { host, .. }) => host,
        _ => settings.name.clone(),
    }
}

/// Tells health what a committed batch held.
async fn report_batch(shared: &Shared, mailbox: &str, batch: &[Incoming], results: &[Processed]) {
    let seen: Vec<MailSeen<'_>> = batch
        .iter()
        .zip(results)
        .map(|(mail, result)| MailSeen {
            outcome: result.outcome,
            new_ticket: result
                .ticket_id
                .as_deref()
                .filter(|_| !result.duplicate && result.outcome == Outcome::TicketCreated),
            arrived_at: crate::ops::arrival::received_at(&mail.raw),
        })
        .collect();
    shared
        .health
        .batch_committed(mailbox, &seen, chrono::Utc::now())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A task that panics is started again (after the restart delay, here
    /// skipped by the paused clock) instead of leaving its mailbox unread.
    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again() {
        let starts = Arc::new(AtomicUsize::new(0));
        let (_stop, stopped) = watch::channel(false);
        let counted = Arc::clone(&starts);
        supervised("test".into(), stopped, move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("first run");
                }
            }
        })
        .await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }
}

/// Where a reprocessed mail is on its mailbox's server now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum Refiled {
    /// Its folder did not change (or it was a dry run).
    Stays,
    /// Moved from the folder of its earlier outcome to that of its new one.
    Moved { from: String, to: String },
    /// Not found in the folder of its earlier outcome (moved by hand,
    /// deleted, or never moved).
    NotFound { folder: String },
    /// The server could not be reached or refused.
    Failed(String),
}

/// One mail `guichet reprocess` went through.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replayed {
    #[serde(flatten)]
    pub result: crate::pipeline::reprocess::Reprocessed,
    pub mailbox: String,
    pub refiled: Refiled,
}

/// Reprocesses `mails` one by one (each in its own transaction), then
/// moves on its server each mail whose folder changed with its outcome and
/// delivers the answers queued. A dry run changes nothing anywhere.
pub async fn reprocess(
    settings: &Settings,
    mails: &[crate::store::StoredMail],
    dry_run: bool,
) -> Result<Vec<Replayed>, DaemonError> {
    let (shared, outbox) = prepare(settings).await?;
    let mut replayed = Vec::with_capacity(mails.len());
    for mail in mails {
        let result = shared.pipeline.reprocess(mail, !dry_run).await?;
        tracing::info!(
            mail = mail.id,
            before = %result.before,
            after = %result.after,
            changed = result.changed,
            dry_run,
            "mail reprocessed"
        );
        replayed.push(Replayed {
            result,
            mailbox: mail.mailbox.clone(),
            refiled: Refiled::Stays,
        });
    }
    if dry_run {
        return Ok(replayed);
    }
    for (mail, replay) in mails.iter().zip(replayed.iter_mut()) {
        replay.refiled = refile(settings, mail, &replay.result).await;
    }
    outbox.deliver_due().await?;
    Ok(replayed)
}

/// Moves a reprocessed mail to the folder of its new outcome.
async fn refile(
    settings: &Settings,
    mail: &crate::store::StoredMail,
    result: &crate::pipeline::reprocess::Reprocessed,
) -> Refiled {
    let (Some(before), Some(after)) = (
        Outcome::from_stored(&result.before),
        Outcome::from_stored(&result.after),
    ) else {
        return Refiled::Stays;
    };
    let Some(mailbox) = settings.mailboxes.iter().find(|m| m.name == mail.mailbox) else {
        return Refiled::Failed(format!("mailbox {} is no longer configured", mail.mailbox));
    };
    let from = mailbox
        .folders
        .for_disposition(before.disposition())
        .to_string();
    let to = mailbox
        .folders
        .for_disposition(after.disposition())
        .to_string();
    if !result.changed || from == to {
        return Refiled::Stays;
    }
    let moved = match mailbox.location() {
        Err(error) => Err(error),
        Ok(MailboxLocation::Maildir(root)) => MaildirSource::open(&root)
            .and_then(|maildir| maildir.refile(&mail.source_ref, &from, &to))
            .map_err(|e| e.to_string()),
        Ok(MailboxLocation::Imap {
            host, port, tls, ..
        }) => refile_imap(mailbox, host, port, tls, mail, &from, &to).await,
    };
    match moved {
        Ok(true) => Refiled::Moved { from, to },
        Ok(false) => Refiled::NotFound { folder: from },
        Err(error) => {
            tracing::warn!(mail = mail.id, %error, "reprocessed mail not moved on the server");
            Refiled::Failed(error)
        }
    }
}

/// Finds the mail by its Message-ID in `from` and moves it to `to`.
async fn refile_imap(
    mailbox: &MailboxSettings,
    host: String,
    port: u16,
    tls: crate::config::TlsMode,
    mail: &crate::store::StoredMail,
    from: &str,
    to: &str,
) -> Result<bool, String> {
    let Some(message_id) = mail.message_id.as_deref().filter(|m| !m.is_empty()) else {
        return Ok(false);
    };
    let tokens = token_source(mailbox).map_err(|e| e.to_string())?;
    let (imap, _) = imap_settings(
        mailbox,
        tokens.as_deref(),
        host,
        port,
        tls,
        from.to_string(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut session = match ImapSource::connect(&imap).await {
        Ok(session) => session,
        // The folder was never created: nothing was moved there.
        Err(ImapError::Protocol {
            command: "SELECT", ..
        }) => return Ok(false),
        Err(error) => return Err(error.to_string()),
    };
    let moved = async {
        let uids = session.uids_with_message_id(message_id).await?;
        if uids.is_empty() {
            return Ok(false);
        }
        session.move_to(&uids, to).await?;
        Ok::<_, ImapError>(true)
    }
    .await;
    session.logout().await;
    moved.map_err(|e| e.to_string())
}
