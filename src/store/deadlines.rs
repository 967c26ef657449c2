//! What the timers watch: the SLA deadlines still running, the alerts
//! already sent (once per ticket, deadline and stage), and the resolved
//! tickets due to close.

use sqlx::Row;

use super::{Batch, Result, Store};

/// An open ticket's deadline to watch.
#[derive(Debug, Clone)]
pub struct Watched {
    pub id: String,
    pub team: Option<String>,
    /// `take_charge` or `resolution`.
    pub deadline: &'static str,
    pub due: String,
}

/// Statuses after which no deadline is watched.
const FINISHED: &str = "('resolu', 'ferme', 'sans_suite')";

impl Batch {
    /// Records that an SLA alert goes out; `false` when it already did
    /// (another poll or another daemon sent it).
    pub async fn record_sla_alert(
        &mut self,
        ticket_id: &str,
        deadline: &str,
        stage: &str,
        at: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO sla_alerts (ticket_id, deadline, stage, sent_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ticket_id, deadline, stage) DO NOTHING RETURNING ticket_id",
        )
        .bind(ticket_id)
        .bind(deadline)
        .bind(stage)
        .bind(at)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }
}

impl Store {
    /// The deadlines still running: take-charge of tickets nobody took yet,
    /// resolution of tickets not resolved, due before `horizon`.
    pub async fn watched_deadlines(&self, horizon: &str) -> Result<Vec<Watched>> {
        let mut watched = Vec::new();
        for (deadline, column, condition) in [
            ("take_charge", "take_charge_by", "taken_at IS NULL"),
            ("resolution", "resolve_by", "resolved_at IS NULL"),
        ] {
            let sql = format!(
                "SELECT id, team, {column} FROM tickets WHERE {condition} \
                 AND status NOT IN {FINISHED} AND {column} IS NOT NULL AND {column} <= $1 \
                 ORDER BY {column}"
            );
            let rows = sqlx::query(&sql)
                .bind(horizon)
                .fetch_all(self.pool())
                .await?;
            watched.extend(rows.into_iter().map(|r| Watched {
                id: r.get(0),
                team: r.get(1),
                deadline,
                due: r.get(2),
            }));
        }
        Ok(watched)
    }

    /// Tickets resolved before `cutoff` and still `resolu`: due to close.
    pub async fn resolved_before(&self, cutoff: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM tickets WHERE status = 'resolu' AND resolved_at IS NOT NULL \
             AND resolved_at < $1 ORDER BY id",
        )
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }
}
