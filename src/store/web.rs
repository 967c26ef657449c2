//! What the web console reads and writes (issue 14): accounts, sessions,
//! every view of a ticket, login attempts, and the queue read within a
//! person's perimeter.
//!
//! The perimeter is a condition of the query itself ([`Perimeter`]), never
//! a filter applied to rows already read: a ticket outside it is not read.

use sqlx::Row;

use super::{json_list, AttachmentView, Result, Store, TicketView};

/// An account as stored. `teams` and `uais` are JSON arrays.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    pub teams: Vec<String>,
    pub uais: Vec<String>,
    pub departement: Option<String>,
    pub disabled_at: Option<String>,
    pub created_at: String,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
    pub teams: &'a [String],
    pub uais: &'a [String],
    pub departement: Option<&'a str>,
    pub at: &'a str,
}

/// The tickets a person may read, as a condition of the store's queries.
/// A ticket is inside when any part holds; with no part at all (and not
/// `everything`), nothing is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Perimeter {
    pub everything: bool,
    pub teams: Vec<String>,
    pub uais: Vec<String>,
    /// UAIs starting with this (a département's three characters).
    pub uai_prefix: Option<String>,
    /// Tickets assigned to this agent.
    pub agent: Option<String>,
}

/// The filters of the console's queue. Empty lists and `None` select
/// everything.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub statuses: Vec<String>,
    pub priority: Option<String>,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub uai: Option<String>,
    /// Words looked for in the subject and the fields (case-insensitive
    /// for ASCII letters).
    pub text: Option<String>,
    pub since: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One line of the queue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueRow {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub subject: String,
    pub establishment: Option<String>,
    pub establishment_uai: Option<String>,
    pub created_at: String,
    pub take_charge_by: Option<String>,
    pub resolve_by: Option<String>,
    pub taken_at: Option<String>,
    pub resolved_at: Option<String>,
}

/// A condition built with its arguments, placeholders numbered in order.
#[derive(Default)]
struct Where {
    parts: Vec<String>,
    args: Vec<String>,
}

impl Where {
    fn arg(&mut self, value: &str) -> String {
        self.args.push(value.to_string());
        format!("${}", self.args.len())
    }

    fn list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|value| self.arg(value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn perimeter(&mut self, perimeter: &Perimeter) {
        if perimeter.everything {
            return;
        }
        let mut any = Vec::new();
        if !perimeter.teams.is_empty() {
            any.push(format!("team IN ({})", self.list(&perimeter.teams)));
        }
        if !perimeter.uais.is_empty() {
            any.push(format!(
                "establishment_uai IN ({})",
                self.list(&perimeter.uais)
            ));
        }
        if let Some(prefix) = &perimeter.uai_prefix {
            let pattern = format!("{}%", like_escaped(prefix));
            any.push(format!(
                "establishment_uai LIKE {} ESCAPE '\\'",
                self.arg(&pattern)
            ));
        }
        if let Some(agent) = &perimeter.agent {
            any.push(format!("agent = {}", self.arg(agent)));
        }
        if any.is_empty() {
            self.parts.push("1 = 0".into());
        } else {
            self.parts.push(format!("({})", any.join(" OR ")));
        }
    }

    fn filter(&mut self, filter: &QueueFilter) {
        if !filter.statuses.is_empty() {
            let list = self.list(&filter.statuses);
            self.parts.push(format!("status IN ({list})"));
        }
        for (column, value) in [
            ("priority", &filter.priority),
            ("team", &filter.team),
            ("agent", &filter.agent),
            ("establishment_uai", &filter.uai),
        ] {
            if let Some(value) = value {
                let p = self.arg(value);
                self.parts.push(format!("{column} = {p}"));
            }
        }
        if let Some(since) = &filter.since {
            let p = self.arg(since);
            self.parts.push(format!("created_at >= {p}"));
        }
        if let Some(text) = filter.text.as_deref().map(str::trim) {
            for word in text.split_whitespace() {
                let pattern = format!("%{}%", like_escaped(&word.to_lowercase()));
                let p = self.arg(&pattern);
                self.parts.push(format!(
                    "(LOWER(subject) LIKE {p} ESCAPE '\\' OR LOWER(fields) LIKE {p} ESCAPE '\\' \
                     OR LOWER(id) LIKE {p} ESCAPE '\\')"
                ));
            }
        }
    }

    fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1 = 1".into()
        } else {
            self.parts.join(" AND ")
        }
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for arg in &self.args {
            query = query.bind(arg.as_str());
        }
        query
    }
}

/// `text` with LIKE's wildcards and escape character escaped (`\`).
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The queue's urgency: open tickets first, by their next deadline (take
/// charge until taken, then resolution), then the oldest.
const URGENCY: &str = "CASE WHEN status IN ('resolu', 'ferme', 'sans_suite') THEN 1 ELSE 0 END, \
     COALESCE(CASE WHEN taken_at IS NULL THEN take_charge_by ELSE resolve_by END, '9999'), \
     created_at, id";

fn user_row(r: &sqlx::any::AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        name: r.get(0),
        role: r.get(1),
        password_hash: r.get(2),
        teams: json_list(&r.get::<String, _>(3))?,
        uais: json_list(&r.get::<String, _>(4))?,
        departement: r.get(5),
        disabled_at: r.get(6),
        created_at: r.get(7),
    })
}

const USER_COLUMNS: &str =
    "name, role, password_hash, teams, uais, departement, disabled_at, created_at";

fn json_text(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

impl Store {
    /// Adds an account; `false` when the name is taken.
    pub async fn add_user(&self, user: &NewUser<'_>) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, teams, uais, departement, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING",
        )
        .bind(user.name)
        .bind(user.role)
        .bind(user.password_hash)
        .bind(json_text(user.teams))
        .bind(json_text(user.uais))
        .bind(user.departement)
        .bind(user.at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user_row).collect()
    }

    pub async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Replaces an account's password hash and ends its sessions; `false`
    /// when there is no such account.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM web_sessions WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Disables an account and ends its sessions; `false` when there is no
    /// such account.
    pub async fn disable_user(&self, name: &str, at: &str) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let done =
            sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE name = $2")
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM web_sessions WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Opens a session for `user`, known by the hash of its token.
    pub async fn open_session(
        &self,
        token_hash: &str,
        user: &str,
        csrf: &str,
        at: &str,
        expires_at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, user_name, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user)
        .bind(csrf)
        .bind(at)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The account and CSRF token of a live session of an enabled account.
    pub async fn session(&self, token_hash: &str, now: &str) -> Result<Option<(UserRow, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {}, s.csrf FROM web_sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => Ok(Some((user_row(&r)?, r.get(8)))),
            None => Ok(None),
        }
    }

    /// Ends a session, and every expired one.
    pub async fn close_session(&self, token_hash: &str, now: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a login attempt (`ok`, `refused`, `limited`).
    pub async fn record_login(
        &self,
        user: &str,
        address: &str,
        at: &str,
        outcome: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_attempts (user_name, address, at, outcome) VALUES ($1, $2, $3, $4)",
        )
        .bind(user)
        .bind(address)
        .bind(at)
        .bind(outcome)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Attempts not let in since `since`: for this account, from this address.
    pub async fn failed_logins(
        &self,
        user: &str,
        address: &str,
        since: &str,
    ) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM login_attempts WHERE user_name = $1 AND at >= $2 AND outcome <> 'ok'), \
             (SELECT COUNT(*) FROM login_attempts WHERE address = $3 AND at >= $2 AND outcome <> 'ok')",
        )
        .bind(user)
        .bind(since)
        .bind(address)
        .fetch_one(self.pool())
        .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Records that `user` viewed a ticket (`via`: page, api, attachment),
    /// or was refused it (`refused`: why).
    pub async fn record_view(
        &self,
        ticket: &str,
        user: &str,
        at: &str,
        via: &str,
        refused: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ticket_views (ticket_id, user_name, at, via, refused) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ticket)
        .bind(user)
        .bind(at)
        .bind(via)
        .bind(refused)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Who viewed a ticket, when and how, oldest first.
    pub async fn ticket_views(&self, ticket: &str) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT user_name, at, via FROM ticket_views WHERE ticket_id = $1 AND refused IS NULL \
             ORDER BY id",
        )
        .bind(ticket)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// A page of the queue within `perimeter`, by urgency, and how many
    /// tickets the filters select in all.
    pub async fn queue(
        &self,
        filter: &QueueFilter,
        perimeter: &Perimeter,
    ) -> Result<(Vec<QueueRow>, i64)> {
        let mut cond = Where::default();
        cond.perimeter(perimeter);
        cond.filter(filter);
        let n = cond.args.len();
        let sql = format!(
            "SELECT id, status, priority, team, agent, subject, establishment, establishment_uai, \
             created_at, take_charge_by, resolve_by, taken_at, resolved_at FROM tickets \
             WHERE {} ORDER BY {URGENCY} LIMIT ${} OFFSET ${}",
            cond.sql(),
            n + 1,
            n + 2
        );
        let rows = cond
            .bind(sqlx::query(&sql))
            .bind(filter.limit.max(1))
            .bind(filter.offset.max(0))
            .fetch_all(self.pool())
            .await?;
        let rows: Vec<QueueRow> = rows
            .into_iter()
            .map(|r| QueueRow {
                id: r.get(0),
                status: r.get(1),
                priority: r.get(2),
                team: r.get(3),
                agent: r.get(4),
                subject: r.get(5),
                establishment: r.get(6),
                establishment_uai: r.get(7),
                created_at: r.get(8),
                take_charge_by: r.get(9),
                resolve_by: r.get(10),
                taken_at: r.get(11),
                resolved_at: r.get(12),
            })
            .collect();
        let total = if filter.offset == 0 && (rows.len() as i64) < filter.limit.max(1) {
            rows.len() as i64
        } else {
            let sql = format!("SELECT COUNT(*) FROM tickets WHERE {}", cond.sql());
            cond.bind(sqlx::query(&sql))
                .fetch_one(self.pool())
                .await?
                .get::<i64, _>(0)
        };
        Ok((rows, total))
    }

    /// Whether ticket `id` exists within `perimeter`.
    pub async fn ticket_within(&self, id: &str, perimeter: &Perimeter) -> Result<bool> {
        let mut cond = Where::default();
        let p = cond.arg(id);
        cond.parts.push(format!("id = {p}"));
        cond.perimeter(perimeter);
        let sql = format!("SELECT COUNT(*) FROM tickets WHERE {}", cond.sql());
        let row = cond.bind(sqlx::query(&sql)).fetch_one(self.pool()).await?;
        Ok(row.get::<i64, _>(0) > 0)
    }

    /// One ticket, as [`Store::ticket`], when it lies within `perimeter`.
    pub async fn ticket_in(&self, id: &str, perimeter: &Perimeter) -> Result<Option<TicketView>> {
        if !self.ticket_within(id, perimeter).await? {
            return Ok(None);
        }
        self.ticket(id).await
    }

    /// The `index`th attachment (from 0) of a ticket within `perimeter`,
    /// with its bytes.
    pub async fn attachment_in(
        &self,
        id: &str,
        index: i64,
        perimeter: &Perimeter,
    ) -> Result<Option<(AttachmentView, Vec<u8>)>> {
        if !self.ticket_within(id, perimeter).await? {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT filename, content_type, size, data FROM attachments WHERE ticket_id = $1 \
             ORDER BY id LIMIT 1 OFFSET $2",
        )
        .bind(id)
        .bind(index.max(0))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| {
            (
                AttachmentView {
                    filename: r.get(0),
                    content_type: r.get(1),
                    size: r.get(2),
                },
                r.get(3),
            )
        }))
    }

    /// When a ticket last changed (its `updated_at`, set by every change
    /// and at creation); `None` without tickets. Figures computed from the
    /// tickets hold while this stays the same (and the clock does not
    /// move them: deadlines pass).
    pub async fn tickets_changed_at(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT MAX(updated_at) FROM tickets")
            .fetch_one(self.pool())
            .await?;
        Ok(row.get(0))
    }

    /// The times of the tickets created at or after `since` within
    /// `perimeter`: [`Store::ticket_times`] for one person's indicators.
    ///
    /// The tickets come back as one text aggregated by the database, not
    /// one row each: through sqlx, 100,000 rows of ten values took most of
    /// a second (a copy, a lock and a channel message per value and per
    /// row), the text a few milliseconds. Units apart by U+001F, tickets by
    /// U+001E (`concat_ws` and `string_agg`: SQLite 3.44 and
    /// PostgreSQL alike); an optional value is prefixed with `=` (absent:
    /// empty); the two separators are blanked out of the free texts.
    pub async fn ticket_times_in(
        &self,
        since: Option<&str>,
        perimeter: &Perimeter,
    ) -> Result<Vec<super::TicketTimes>> {
        let mut cond = Where::default();
        let field = cond.arg(&FIELD.to_string());
        let ticket = cond.arg(&TICKET.to_string());
        if let Some(since) = since {
            let p = cond.arg(since);
            cond.parts.push(format!("created_at >= {p}"));
        }
        cond.perimeter(perimeter);
        let blanked = |text: &str| format!("REPLACE(REPLACE({text}, {field}, ' '), {ticket}, ' ')");
        let columns = [
            "id".to_string(),
            "status".to_string(),
            "priority".to_string(),
            blanked("team"),
            "created_at".to_string(),
            "taken_at".to_string(),
            "resolved_at".to_string(),
            "take_charge_by".to_string(),
            "resolve_by".to_string(),
            blanked("COALESCE(establishment, establishment_uai)"),
        ];
        let units: Vec<String> = columns
            .iter()
            .map(|column| format!("COALESCE('=' || {column}, '-')"))
            .collect();
        let sql = format!(
            "SELECT string_agg(concat_ws({field}, {}), {ticket}) FROM tickets WHERE {}",
            units.join(", "),
            cond.sql()
        );
        let packed: Option<String> = cond
            .bind(sqlx::query(&sql))
            .fetch_one(self.pool())
            .await?
            .get(0);
        packed
            .as_deref()
            .map_or(Ok(Vec::new()), unpack_ticket_times)
    }
}

/// Between the units of one ticket in [`Store::ticket_times_in`]'s text.
const FIELD: char = '\u{1f}';
/// Between two tickets there.
const TICKET: char = '\u{1e}';

/// [`Store::ticket_times_in`]'s text read back.
fn unpack_ticket_times(packed: &str) -> Result<Vec<super::TicketTimes>> {
    packed.split(TICKET).map(unpack_one).collect()
}

/// One ticket's ten units: `=` and the value, or `-` for none. (Never an
/// empty unit: SQLite's `concat_ws` leaves those out.)
fn unpack_one(text: &str) -> Result<super::TicketTimes> {
    let corrupt = || super::StoreError::Corrupt(format!("a ticket's times read {text:?}"));
    let units = text
        .split(FIELD)
        .map(|unit| match unit {
            "-" => Ok(None),
            _ => unit.strip_prefix('=').map(Some).ok_or_else(corrupt),
        })
        .collect::<Result<Vec<_>>>()?;
    let [Some(id), Some(status), Some(priority), team, Some(created_at), taken_at, resolved_at, take_charge_by, resolve_by, establishment] =
        units[..]
    else {
        return Err(corrupt());
    };
    let owned = |unit: Option<&str>| unit.map(str::to_string);
    Ok(super::TicketTimes {
        id: id.to_string(),
        status: status.to_string(),
        priority: priority.to_string(),
        team: owned(team),
        created_at: created_at.to_string(),
        taken_at: owned(taken_at),
        resolved_at: owned(resolved_at),
        take_charge_by: owned(take_charge_by),
        resolve_by: owned(resolve_by),
        establishment: owned(establishment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perimeter_conditions_number_their_placeholders_in_order() {
        let mut cond = Where::default();
        cond.perimeter(&Perimeter {
            teams: vec!["t1".into()],
            uais: vec!["0420001A".into(), "0420002B".into()],
            uai_prefix: Some("069".into()),
            ..Perimeter::default()
        });
        assert_eq!(
            cond.sql(),
            "(team IN ($1) OR establishment_uai IN ($2, $3) OR establishment_uai LIKE $4 ESCAPE '\\')"
        );
        assert_eq!(cond.args[3], "069%");
    }

    #[test]
    fn packed_ticket_times_read_back_and_a_damaged_text_is_named() {
        let packed = "=T1\u{1f}=nouveau\u{1f}=mineure\u{1f}-\u{1f}=2026-11-23T08:12:00.000000Z\u{1f}-\u{1f}-\u{1f}\
             =2026-11-23T09:12:00.000000Z\u{1f}-\u{1f}==Lycée\u{1e}\
             =T2\u{1f}=resolu\u{1f}=majeure\u{1f}=ent\u{1f}=2026-11-24T08:00:00.000000Z\u{1f}\
             =2026-11-24T08:10:00.000000Z\u{1f}=2026-11-24T09:00:00.000000Z\u{1f}-\u{1f}-\u{1f}=";
        let times = unpack_ticket_times(packed).unwrap();
        assert_eq!(times.len(), 2);
        assert_eq!(
            (times[0].id.as_str(), times[0].team.as_deref()),
            ("T1", None)
        );
        assert_eq!(
            times[0].take_charge_by.as_deref(),
            Some("2026-11-23T09:12:00.000000Z")
        );
        assert_eq!(times[0].establishment.as_deref(), Some("=Lycée"));
        assert_eq!(times[1].team.as_deref(), Some("ent"));
        assert_eq!(
            times[1].resolved_at.as_deref(),
            Some("2026-11-24T09:00:00.000000Z")
        );
        assert_eq!(times[1].establishment.as_deref(), Some(""));
        for damaged in [
            "=T1\u{1f}=nouveau",
            "T1\u{1f}=a\u{1f}=b\u{1f}-\u{1f}=c\u{1f}-\u{1f}-\u{1f}-\u{1f}-\u{1f}-",
        ] {
            let error = unpack_ticket_times(damaged).unwrap_err().to_string();
            assert!(error.contains("a ticket's times read"), "{error}");
        }
    }

    #[test]
    fn an_empty_perimeter_selects_nothing() {
        let mut cond = Where::default();
        cond.perimeter(&Perimeter::default());
        assert_eq!(cond.sql(), "1 = 0");
        let mut all = Where::default();
        all.perimeter(&Perimeter {
            everything: true,
            ..Perimeter::default()
        });
        assert_eq!(all.sql(), "1 = 1");
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escaped("50%_a\\"), "50\\%\\_a\\\\");
    }
}
