//! The web console with 100,000 tickets: response times of the queue and
//! the indicators pages, on SQLite and on PostgreSQL (when
//! `GUICHET_TEST_PG_URL` names a server: `eval "$(scripts/stack env)"`).
//! The console is served in this process on a loopback port, as the daemon
//! serves it; each page is asked for ROUNDS times in a row (after a few
//! unmeasured ones) and the median and 99th percentile are printed. The
//! indicators are measured computed (a ticket changed before each view)
//! and kept (viewed again, nothing changed).
//! Run with `cargo bench --bench web [-- TICKETS [ROUNDS]]`; under
//! `cargo test --all-targets` it runs 2,000 tickets, 3 requests a page.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet::config::Settings;
use guichet::store::{timestamp, NewUser, Store};
use guichet::tickets::Tickets;
use guichet::web::{password, State};

const STATUSES: [(&str, u32); 9] = [
    ("nouveau", 6),
    ("affecte", 6),
    ("pris_en_charge", 8),
    ("en_cours", 8),
    ("en_attente", 5),
    ("escalade", 2),
    ("resolu", 10),
    ("ferme", 50),
    ("sans_suite", 5),
];
const PRIORITIES: [&str; 3] = ["bloquante", "majeure", "mineure"];
const TEAMS: [&str; 5] = ["ent", "maintenance", "reseau", "logiciels", "materiel"];
const SUBJECTS: [&str; 6] = [
    "Imprimante en panne",
    "ENT inaccessible",
    "Wifi lent au CDI",
    "Mot de passe oublié",
    "Vidéoprojecteur muet",
    "Logiciel de vie scolaire bloqué",
];

/// A small deterministic generator (xorshift), so that every run fills the
/// same database.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn uai(n: u64) -> String {
    let departement = [42, 69, 43][(n % 3) as usize];
    let number = departement * 10_000 + 9_000 + n;
    let letter = b"ABCDEFGHJKLMNPRSTUVWXYZ"[(number % 23) as usize] as char;
    format!("{number:07}{letter}")
}

async fn fill(url: &str, tickets: u64) {
    let now = chrono::Utc::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let weights: u32 = STATUSES.iter().map(|s| s.1).sum();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut n = 0;
    while n < tickets {
        let batch = (tickets - n).min(500);
        let mut sql = String::from(
            "INSERT INTO tickets (id, status, priority, team, agent, requester, subject, fields, \
             missing_fields, created_at, updated_at, take_charge_by, resolve_by, taken_at, \
             resolved_at, establishment_uai, establishment) VALUES ",
        );
        let mut rows = Vec::new();
        for i in 0..batch {
            let k = n + i;
            let mut pick = rng.below(u64::from(weights)) as u32;
            let status = STATUSES
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map_or("ferme", |s| s.0);
            let created = now - chrono::Duration::minutes(rng.below(365 * 24 * 60) as i64);
            let take_by = created + chrono::Duration::hours(4 + rng.below(20) as i64);
            let resolve_by = created + chrono::Duration::hours(24 + rng.below(120) as i64);
            let taken = !matches!(status, "nouveau" | "affecte");
            let taken_at = created + chrono::Duration::minutes(rng.below(600) as i64);
            let resolved = matches!(status, "resolu" | "ferme");
            let resolved_at = taken_at + chrono::Duration::minutes(rng.below(5000) as i64);
            let place = uai(rng.below(300));
            let subject = SUBJECTS[rng.below(6) as usize];
            rows.push(vec![
                format!("BENCH-{k:07}"),
                status.to_string(),
                PRIORITIES[rng.below(3) as usize].to_string(),
                TEAMS[rng.below(5) as usize].to_string(),
                if taken {
                    format!("agent{}", rng.below(20))
                } else {
                    String::new()
                },
                format!("demandeur{}@etab.example", rng.below(5000)),
                subject.to_string(),
                format!("{{\"subject\":\"{subject}\",\"description\":\"rien ne va\"}}"),
                "[]".to_string(),
                timestamp(created),
                timestamp(created),
                timestamp(take_by),
                timestamp(resolve_by),
                if taken {
                    timestamp(taken_at)
                } else {
                    String::new()
                },
                if resolved {
                    timestamp(resolved_at)
                } else {
                    String::new()
                },
                place.clone(),
                format!("Établissement {place}, Ville ({place})"),
            ]);
        }
        let columns = 17;
        let placeholders: Vec<String> = (0..batch as usize)
            .map(|r| {
                let cells: Vec<String> = (1..=columns)
                    .map(|c| {
                        let p = r * columns + c;
                        // Empty optional columns are NULL.
                        if matches!(c, 5 | 14 | 15) {
                            format!("NULLIF(${p}, '')")
                        } else {
                            format!("${p}")
                        }
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        sql.push_str(&placeholders.join(", "));
        let mut query = sqlx::query(&sql);
        for row in &rows {
            for cell in row {
                query = query.bind(cell.clone());
            }
        }
        query.execute(&pool).await.unwrap();
        n += batch;
    }
    pool.close().await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

/// Before each request, when given: a ticket changes (its `updated_at`
/// moves), so that the indicators are computed afresh, not served from
/// the figures kept for the perimeter.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    rounds: usize,
    change: Option<&sqlx::AnyPool>,
) -> (Duration, Duration) {
    let get = || async {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.bytes().await.unwrap();
    };
    for _ in 0..3 {
        get().await;
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        if let Some(pool) = change {
            sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = 'BENCH-0000001'")
                .bind(timestamp(chrono::Utc::now()))
                .execute(pool)
                .await
                .unwrap();
        }
        let started = Instant::now();
        get().await;
        times.push(started.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

async fn run(backend: &str, url: String, tickets: u64, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\n[[mailboxes]]\nname = \"support\"\nurl = \"maildir://{}/mail\"\n\
             [smtp]\nurl = \"file://{}/outbox\"\nfrom = \"Assistance <support@guichet.localhost>\"\n",
            dir.path().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let settings = Settings::load(Some(&config)).unwrap();
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let started = Instant::now();
    fill(&url, tickets).await;
    eprintln!(
        "{backend}: {tickets} tickets in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let hash = password::hash("mot de passe du banc d'essai").unwrap();
    let at = timestamp(chrono::Utc::now());
    for (name, role, departement) in [
        ("sup", "superviseur", None),
        ("pia", "partenaire", Some("42")),
    ] {
        store
            .add_user(&NewUser {
                name,
                role,
                password_hash: &hash,
                teams: &[],
                uais: &[],
                departement,
                at: &at,
            })
            .await
            .unwrap();
    }
    let tickets_desk = Tickets::from_settings(&settings, store.clone()).unwrap();
    let state = Arc::new(State::new(
        store.clone(),
        tickets_desk,
        settings.web.clone(),
        None,
        Arc::new(|| {}),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(guichet::web::serve(listener, state, stopped));
    let client = reqwest::Client::new();
    let token = |name: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let body: serde_json::Value = client
                .post(format!("{base}/api/connexion"))
                .json(
                    &serde_json::json!({"name": name, "password": "mot de passe du banc d'essai"}),
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["token"].as_str().unwrap().to_string()
        }
    };
    let (sup, pia) = (token("sup").await, token("pia").await);
    println!("\n{backend}, {tickets} tickets, {rounds} requests each:");
    println!("| page | who | median | p99 |\n| --- | --- | --- | --- |");
    let changes = sqlx::AnyPool::connect(&url).await.unwrap();
    // The indicators twice: computed (a ticket changed since the last
    // view), and viewed again as the perimeter's figures were kept.
    let mut pages = vec![
        (
            "queue (open, by urgency)",
            "superviseur",
            &sup,
            "/file",
            false,
        ),
        (
            "queue, page 20",
            "superviseur",
            &sup,
            "/file?page=20",
            false,
        ),
        (
            "queue, search, all statuses",
            "superviseur",
            &sup,
            "/file?statut=tous&q=imprimante",
            false,
        ),
        (
            "queue (open, by urgency)",
            "partenaire (département)",
            &pia,
            "/file",
            false,
        ),
    ];
    for changed in [true, false] {
        pages.extend([
            ("indicators", "superviseur", &sup, "/indicateurs", changed),
            (
                "indicators",
                "partenaire (département)",
                &pia,
                "/indicateurs",
                changed,
            ),
            (
                "indicators since a date",
                "superviseur",
                &sup,
                "/indicateurs?depuis=2026-09-01",
                changed,
            ),
        ]);
    }
    for (page, who, token, path, changed) in pages {
        let page = match (page.starts_with("indicators"), changed) {
            (false, _) => page.to_string(),
            (true, true) => format!("{page}, a ticket changed before each view"),
            (true, false) => format!("{page}, viewed again"),
        };
        let change = changed.then_some(&changes);
        let (median, p99) = measure(&client, &base, token, path, rounds, change).await;
        println!(
            "| {page} | {who} | {:.1} ms | {:.1} ms |",
            median.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    store.close().await;
}

#[tokio::main]
async fn main() {
    let [tickets, rounds] = common::bench_sizes([100_000, 100], [2_000, 3]);
    let rounds = rounds as usize;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    run("SQLite", sqlite, tickets, rounds).await;
    if let Ok(admin) = std::env::var("GUICHET_TEST_PG_URL") {
        use sqlx::Connection;
        let name = format!("guichet_bench_web_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => admin.clone(),
        };
        run("PostgreSQL", url, tickets, rounds).await;
        sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .ok();
    } else {
        eprintln!("GUICHET_TEST_PG_URL unset: PostgreSQL not measured");
    }
}
