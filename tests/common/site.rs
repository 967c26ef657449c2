//! One configured Guichet of one test, its "site": the people who write to
//! it and their addresses, its database, its configuration file, how mail
//! reaches it (the stack's IMAP, or a Maildir) and leaves it (the stack's
//! SMTP, or `.eml` files), and what users see of it afterwards — their
//! mailboxes, the store, the command line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use guichet::config::Settings;
use guichet::daemon::{self, Summary};
use guichet::intake::mail::{parse, Mail};
use guichet::pipeline::{Incoming, Pipeline, Processed};
use guichet::store::{Store, TicketView};
use tempfile::TempDir;

use super::command::{guichet, succeed, Daemon};
use super::config::Config;
use super::database::{outbox_rows, test_database_url, OutboxRow, TestDb};
use super::stack::{
    authserv_id, imap_append, imap_fetch_all, send_mail, send_signed_mail, stack, unique_address,
    wait_for_messages, Stack, PASSWORD,
};

/// How long a test waits for a mail to arrive.
pub const WAIT: Duration = Duration::from_secs(20);

/// Lifts the per-sender limits, for tests where one sender writes many
/// mails (or many mails share a sender).
pub const UNLIMITED_SENDERS: &str =
    "[limits]\ntickets_per_sender_per_hour = 100000\nanswers_per_sender_per_hour = 100000\n";

/// The support address of a site that needs no mail server, as the
/// embedded defaults have it.
const LOCAL_SUPPORT: &str = "support@guichet.localhost";

/// The people of a site, each with an address of their own (on the stack,
/// a mailbox nobody else uses). Any other role gets one the first time it
/// is named ([`Addresses::of`]).
#[derive(Debug)]
pub struct Addresses {
    /// The address the site reads and sends from.
    pub support: String,
    pub requester: String,
    /// The `maintenance` team's address (see [`SiteBuilder::staff`]).
    pub team: String,
    /// Agent `alice` of the `maintenance` team.
    pub agent: String,
    /// Told of every new ticket and status change.
    pub referent: String,
    /// Told when an SLA deadline is near or past.
    pub escalation: String,
    tag: String,
    others: RefCell<BTreeMap<String, String>>,
}

impl Addresses {
    fn new(tag: &str, support: String) -> Self {
        let address = |role: &str| unique_address(&format!("{role}-{tag}"));
        Self {
            support,
            requester: address("req"),
            team: address("team"),
            agent: address("agent"),
            referent: address("referent"),
            escalation: address("escalation"),
            tag: tag.to_string(),
            others: RefCell::default(),
        }
    }

    /// The address of `role` (`itsm`, `admin`, `stranger`…), the same each
    /// time it is asked.
    pub fn of(&self, role: &str) -> String {
        self.others
            .borrow_mut()
            .entry(role.to_string())
            .or_insert_with(|| unique_address(&format!("{role}-{}", self.tag)))
            .clone()
    }
}

/// A configuration part that may name the site's addresses.
type Part = Box<dyn FnOnce(&Addresses) -> String>;

/// What a site is made of before it is built: see [`Site::builder`].
pub struct SiteBuilder {
    tag: String,
    local: bool,
    parts: Vec<Part>,
}

impl SiteBuilder {
    /// No mail server: mail is read from the Maildir `DIR/mail` and
    /// written as `.eml` files into `DIR/outbox`.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Adds a part to the configuration (SLA targets, limits, routing…);
    /// a table it names again is merged, not repeated.
    pub fn with(self, part: &str) -> Self {
        let part = part.to_string();
        self.with_addresses(move |_| part)
    }

    /// Adds a part written from the site's addresses.
    pub fn with_addresses(mut self, part: impl FnOnce(&Addresses) -> String + 'static) -> Self {
        self.parts.push(Box::new(part));
        self
    }

    /// The `maintenance` team with agent `alice`, a referent and an
    /// escalation address; staff mail acts only when the stack's MTA
    /// proved it.
    pub fn staff(self) -> Self {
        self.with_addresses(|a| {
            format!(
                "[gateway]\nauthserv_id = \"{}\"\n\
                 [teams.maintenance]\naddresses = [\"{}\"]\n\
                 [[agents]]\nname = \"alice\"\naddress = \"{}\"\nteam = \"maintenance\"\n\
                 [notifications]\nreferents = [\"{}\"]\nescalation = [\"{}\"]\n",
                authserv_id(),
                a.team,
                a.agent,
                a.referent,
                a.escalation
            )
        })
    }

    /// Creates the database and writes the configuration.
    pub async fn build(self) -> Site {
        let stack = (!self.local).then(stack);
        let support = match stack {
            Some(_) => unique_address(&format!("support-{}", self.tag)),
            None => LOCAL_SUPPORT.to_string(),
        };
        let addresses = Addresses::new(&self.tag, support);
        let (db_url, db) = test_database_url(&self.tag).await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.add(&match &stack {
            Some(stack) => on_stack(stack, &db_url, &addresses.support),
            None => local(dir.path(), &db_url),
        });
        for part in self.parts {
            config.add(&part(&addresses));
        }
        let path = dir.path().join("guichet.toml");
        config.write(&path);
        let settings = Settings::load(Some(&path)).unwrap();
        Site {
            addresses,
            settings,
            stack,
            dir,
            _db: db,
        }
    }
}

/// A `[[mailboxes]]` entry reading `user`'s INBOX on the stack.
pub fn imap_mailbox(stack: &Stack, name: &str, user: &str) -> String {
    format!(
        "[[mailboxes]]\nname = \"{name}\"\nurl = \"imap://127.0.0.1:{}/INBOX\"\n\
         username = \"{user}\"\npassword = \"{PASSWORD}\"\n",
        stack.imap_port
    )
}

/// Reads `support`'s IMAP inbox on the stack, sends through its Postfix.
fn on_stack(stack: &Stack, db_url: &str, support: &str) -> String {
    format!(
        "[database]\nurl = \"{db_url}\"\n{}\
         [smtp]\nurl = \"smtp://127.0.0.1:{}\"\nfrom = \"Assistance ENT <{support}>\"\n\
         [gateway]\npoll_interval_secs = 1\nbatch_size = 50\n",
        imap_mailbox(stack, "support", support),
        stack.smtp_port,
    )
}

/// Reads the Maildir `DIR/mail`, writes `.eml` files into `DIR/outbox`.
fn local(dir: &Path, db_url: &str) -> String {
    let root = dir.display();
    format!(
        "[database]\nurl = \"{db_url}\"\n\
         [[mailboxes]]\nname = \"support\"\nurl = \"maildir://{root}/mail\"\n\
         [smtp]\nurl = \"file://{root}/outbox\"\n\
         from = \"Assistance ENT <{LOCAL_SUPPORT}>\"\n"
    )
}

/// A configured Guichet, its people ([`Addresses`], reached through the
/// site itself: `site.requester`) and its database, kept for as long as
/// the test holds it.
pub struct Site {
    addresses: Addresses,
    pub settings: Settings,
    /// `None` for a site that needs no mail server.
    stack: Option<Stack>,
    dir: TempDir,
    _db: TestDb,
}

impl Deref for Site {
    type Target = Addresses;

    fn deref(&self) -> &Addresses {
        &self.addresses
    }
}

impl Site {
    /// A site of its own on the stack (its addresses are `<role>-<tag>-…`).
    pub fn builder(tag: &str) -> SiteBuilder {
        SiteBuilder {
            tag: tag.to_string(),
            local: false,
            parts: Vec::new(),
        }
    }

    /// A site on the stack, on the defaults.
    pub async fn on_stack(tag: &str) -> Site {
        Site::builder(tag).build().await
    }

    /// A site that needs no mail server, on the defaults.
    pub async fn local(tag: &str) -> Site {
        Site::builder(tag).local().build().await
    }

    /// The stack this site runs on; panics for a local site.
    pub fn stack(&self) -> &Stack {
        self.stack.as_ref().expect("a local site has no mail stack")
    }

    /// The site's own directory (configuration, Maildir, outbox).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("guichet.toml")
    }

    pub fn db_url(&self) -> &str {
        &self.settings.database.url
    }

    // Mail coming in.

    /// Puts a mail straight into the support inbox, as if delivered.
    pub async fn deliver(&self, raw: &[u8]) {
        match &self.stack {
            Some(stack) => imap_append(stack, &self.support, "INBOX", raw).await,
            None => self.drop_into_maildir(raw),
        }
    }

    /// Writes into `tmp/`, then renames into `new/`, as an MTA does; the
    /// names sort in the order of delivery.
    fn drop_into_maildir(&self, raw: &[u8]) {
        static DELIVERED: AtomicU64 = AtomicU64::new(0);
        let maildir = self.dir().join("mail");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let count = DELIVERED.fetch_add(1, Ordering::Relaxed);
        let name = format!("{seconds}.M{count:06}P{}.site", std::process::id());
        let tmp = maildir.join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        std::fs::rename(&tmp, maildir.join("new").join(&name)).unwrap();
    }

    /// Delivers a mail and runs the daemon once over it.
    pub async fn receive(&self, raw: &[u8]) -> Summary {
        self.deliver(raw).await;
        self.run_once().await
    }

    /// Sends a mail to the support address through the stack's MX, without
    /// any signature, as anyone on the Internet can.
    pub async fn send(&self, from: &str, raw: &[u8]) {
        send_mail(self.stack(), from, &[&self.support], raw).await;
    }

    /// [`Site::send`], then runs the daemon once over the mail.
    pub async fn receive_unsigned(&self, from: &str, raw: &[u8]) -> Summary {
        self.send(from, raw).await;
        self.arrived(1).await;
        self.run_once().await
    }

    /// Sends a staff member's mail the way their domain's server would,
    /// signed with DKIM, through the stack's MX (which writes the
    /// Authentication-Results Guichet reads), then runs the daemon once.
    pub async fn receive_signed(&self, from: &str, raw: &[u8]) -> Summary {
        send_signed_mail(from, &[&self.support], raw).await;
        self.arrived(1).await;
        self.run_once().await
    }

    /// Waits until the support inbox holds `count` mails.
    pub async fn arrived(&self, count: usize) {
        wait_for_messages(self.stack(), &self.support, "INBOX", count, WAIT).await;
    }

    /// `run --once`, in this process.
    pub async fn run_once(&self) -> Summary {
        daemon::run_once(&self.settings).await.unwrap()
    }

    // The command line.

    /// `guichet` with this site's configuration and quiet logs.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = guichet();
        command
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env("GUICHET_LOG", "warn");
        command
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("guichet runs")
    }

    /// Runs a command that must succeed; its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        succeed(&mut self.command(args))
    }

    /// Starts `guichet ARGS` (`run`, `run --once`) as a process of its own.
    pub fn spawn(&self, args: &[&str]) -> Daemon {
        Daemon::spawn(&mut self.command(args))
    }

    // Mailboxes.

    /// The `count` first mails in `user`'s inbox, parsed, once they arrived.
    pub async fn inbox(&self, user: &str, count: usize) -> Vec<Mail> {
        self.inbox_raw(user, count)
            .await
            .iter()
            .map(|raw| parse(raw).unwrap())
            .collect()
    }

    /// The mails in `user`'s inbox, as they are, once `count` arrived.
    pub async fn inbox_raw(&self, user: &str, count: usize) -> Vec<Vec<u8>> {
        wait_for_messages(self.stack(), user, "INBOX", count, WAIT).await
    }

    /// What `user`'s inbox holds now, without waiting.
    pub async fn inbox_now(&self, user: &str) -> Vec<Vec<u8>> {
        imap_fetch_all(self.stack(), user, "INBOX").await
    }

    /// The mails in one folder of the support mailbox (`processed`,
    /// `failed`…; for a local site, its Maildir++ folder).
    pub async fn folder(&self, folder: &str) -> Vec<Vec<u8>> {
        match &self.stack {
            Some(stack) => imap_fetch_all(stack, &self.support, folder).await,
            None => files(&self.dir().join(format!("mail/.{folder}/cur")), None),
        }
    }

    /// The `.eml` files a local site wrote, in name order.
    pub fn outbox_files(&self) -> Vec<Vec<u8>> {
        files(&self.dir().join("outbox"), Some("eml"))
    }

    // The store.

    pub async fn store(&self) -> Store {
        Store::connect(self.db_url()).await.unwrap()
    }

    /// A ticket as `tickets show` sees it; panics when there is none.
    pub async fn ticket(&self, id: &str) -> TicketView {
        self.store()
            .await
            .ticket(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no ticket {id}"))
    }

    /// How many mails ended with `outcome`.
    pub async fn outcome(&self, outcome: &str) -> i64 {
        let counts = self.store().await.outcome_counts(None).await.unwrap();
        counts
            .iter()
            .find(|(k, _)| k == outcome)
            .map_or(0, |(_, n)| *n)
    }

    /// How many mails were recorded, whatever their outcome.
    pub async fn recorded(&self) -> i64 {
        let counts = self.store().await.outcome_counts(None).await.unwrap();
        counts.iter().map(|(_, n)| n).sum()
    }

    /// Outbox rows of a kind, delivered or not: what Guichet decided to send.
    pub async fn queued(&self, kind: &str) -> usize {
        self.outbox()
            .await
            .iter()
            .filter(|r| r.kind == kind)
            .count()
    }

    /// Every mail queued, in order.
    pub async fn outbox(&self) -> Vec<OutboxRow> {
        outbox_rows(self.db_url()).await
    }

    // The pipeline alone.

    /// A pipeline on this site's settings, its schema up to date.
    pub async fn pipeline(&self) -> Pipeline {
        let store = self.store().await;
        store.migrate().await.unwrap();
        Pipeline::new(&self.settings, store).unwrap()
    }

    /// Puts mails through the pipeline, 50 a batch as the daemon would;
    /// one result per mail, in order.
    pub async fn process(
        &self,
        mailbox: &str,
        mails: impl IntoIterator<Item = Incoming>,
    ) -> Vec<Processed> {
        let pipeline = self.pipeline().await;
        let mut mails = mails.into_iter().peekable();
        let mut results = Vec::new();
        while mails.peek().is_some() {
            let batch: Vec<Incoming> = mails.by_ref().take(50).collect();
            let processed = pipeline.process(mailbox, &batch, None, None).await.unwrap();
            assert_eq!(processed.len(), batch.len());
            results.extend(processed);
        }
        results
    }
}

/// The files of `dir` (those ending in `.EXTENSION`), in name order;
/// none when `dir` does not exist.
fn files(dir: &Path, extension: Option<&str>) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().path())
        .filter(|path| extension.is_none_or(|x| path.extension().is_some_and(|e| e == x)))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}
