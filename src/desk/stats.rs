//! The indicators partners ask for, computed from ticket records.
//!
//! Pure: the store produces the records, the caller passes the clock. Every
//! duration is plain wall-clock minutes; business hours are already encoded
//! in the SLA deadlines each record carries.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::status::Status;
use crate::intake::priority::Priority;
use crate::store::{parse_timestamp, TicketTimes};

/// The `by_team` key of tickets no team was given.
pub const NO_TEAM: &str = "(aucune)";

/// One ticket as the indicators need it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub created_at: DateTime<Utc>,
    /// First move to a status in which somebody works on the ticket
    /// ([`Status::means_taken`], `resolu` included); kept when reopened.
    pub taken_at: Option<DateTime<Utc>>,
    /// Last move to `resolu`; cleared when the ticket is reopened, so only
    /// a resolution that stands counts.
    pub resolved_at: Option<DateTime<Utc>>,
    pub take_charge_by: Option<DateTime<Utc>>,
    pub resolve_by: Option<DateTime<Utc>>,
    /// Where the registry placed it, else its UAI; `None` without either.
    pub establishment: Option<String>,
}

impl TryFrom<TicketTimes> for TicketRecord {
    type Error = UnreadableTime;

    /// Fails on the first unreadable timestamp, naming the ticket and the
    /// column: skipping the ticket instead would quietly change every
    /// indicator computed from the others.
    fn try_from(times: TicketTimes) -> Result<Self, UnreadableTime> {
        let id = times.id.as_str();
        let created_at = stored_time(id, "created_at", &times.created_at)?;
        let optional = |column: &str, text: &Option<String>| {
            text.as_deref()
                .map(|text| stored_time(id, column, text))
                .transpose()
        };
        let taken_at = optional("taken_at", &times.taken_at)?;
        let resolved_at = optional("resolved_at", &times.resolved_at)?;
        let take_charge_by = optional("take_charge_by", &times.take_charge_by)?;
        let resolve_by = optional("resolve_by", &times.resolve_by)?;
        Ok(TicketRecord {
            id: times.id,
            status: times.status,
            priority: times.priority,
            team: times.team,
            created_at,
            taken_at,
            resolved_at,
            take_charge_by,
            resolve_by,
            establishment: times.establishment,
        })
    }
}

/// A timestamp column of a ticket, read back.
fn stored_time(ticket: &str, column: &str, text: &str) -> Result<DateTime<Utc>, UnreadableTime> {
    parse_timestamp(text).ok_or_else(|| UnreadableTime {
        ticket: ticket.to_string(),
        column: column.to_string(),
        text: text.to_string(),
    })
}

/// A stored time of a ticket that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ticket {ticket}: {column} {text:?} is not an RFC 3339 time")]
pub struct UnreadableTime {
    pub ticket: String,
    pub column: String,
    pub text: String,
}

/// Counts, delays and SLA compliance over a set of tickets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicators {
    pub total: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_priority: BTreeMap<String, usize>,
    /// Tickets without a team are counted under [`NO_TEAM`].
    pub by_team: BTreeMap<String, usize>,
    /// From creation to being taken in charge (see
    /// [`TicketRecord::taken_at`]: a ticket resolved without an earlier
    /// working status counts as taken when resolved).
    pub take_charge: DurationStats,
    /// From creation to the resolution that stands (see
    /// [`TicketRecord::resolved_at`]).
    pub resolution: DurationStats,
    /// Per priority class; the three classes of the agreement always appear,
    /// other stored values too if any.
    pub sla: BTreeMap<String, SlaCompliance>,
    /// Open tickets past a deadline whose step has not happened, the latest
    /// first.
    pub overdue: Vec<Overdue>,
}

/// The distribution of a delay, in minutes.
///
/// Percentiles use linear interpolation between closest ranks (rank
/// `p × (n − 1)`, as spreadsheets' `PERCENTILE.INC` and numpy's default), so
/// the median of an even count is the mean of the two middle values and
/// partners can check the figures in a spreadsheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationStats {
    pub count: usize,
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

/// How one priority class kept its two deadlines.
///
/// A deadline counts as met when the step happened at or before it, missed
/// when it happened later or when the ticket is still open past it. A ticket
/// still open before its deadline is not counted yet, nor is a ticket closed
/// (`ferme`, `sans_suite`) without the step, since nothing tells when it was
/// closed. Rates are separate for the two deadlines: they are two distinct
/// commitments, and a combined rate would hide a breach of either.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SlaCompliance {
    pub take_charge_met: usize,
    pub take_charge_missed: usize,
    pub resolution_met: usize,
    pub resolution_missed: usize,
    /// `met / (met + missed)`, between 0 and 1; `None` when nothing counted.
    pub take_charge_rate: Option<f64>,
    pub resolution_rate: Option<f64>,
}

/// The two deadlines of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    TakeCharge,
    Resolution,
}

/// An open ticket past one of its deadlines; a ticket past both appears
/// once per deadline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overdue {
    pub id: String,
    pub priority: String,
    pub deadline: Deadline,
    pub due: DateTime<Utc>,
    /// Whole minutes past `due`.
    pub late_minutes: i64,
}

impl Deadline {
    pub fn as_str(self) -> &'static str {
        match self {
            Deadline::TakeCharge => "take_charge",
            Deadline::Resolution => "resolution",
        }
    }
}

/// Whether a deadline was kept, for the deadlines that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    Missed,
}

/// One deadline of one ticket and when its step happened.
struct DeadlineCheck {
    deadline: Deadline,
    due: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
}

impl TicketRecord {
    /// As [`Status::is_open`], the one place that says which statuses are
    /// done with. A status this version does not know counts as open, as
    /// in the store's deadline watch: its deadlines stay in sight.
    fn is_open(&self) -> bool {
        Status::from_stored(&self.status).is_none_or(Status::is_open)
    }

    /// When the ticket was first taken in charge: resolving a ticket takes it
    /// in charge too, so whichever came first.
    fn taken_in_charge_at(&self) -> Option<DateTime<Utc>> {
        match (self.taken_at, self.resolved_at) {
            (Some(taken), Some(resolved)) => Some(taken.min(resolved)),
            (taken, resolved) => taken.or(resolved),
        }
    }

    fn deadline_checks(&self) -> impl Iterator<Item = DeadlineCheck> + '_ {
        let take_charge = self.take_charge_by.map(|due| DeadlineCheck {
            deadline: Deadline::TakeCharge,
            due,
            done_at: self.taken_in_charge_at(),
        });
        let resolution = self.resolve_by.map(|due| DeadlineCheck {
            deadline: Deadline::Resolution,
            due,
            done_at: self.resolved_at,
        });
        take_charge.into_iter().chain(resolution)
    }
}

impl DeadlineCheck {
    fn verdict(&self, open: bool, now: DateTime<Utc>) -> Option<Verdict> {
        match self.done_at {
            Some(done) if done <= self.due => Some(Verdict::Met),
            Some(_) => Some(Verdict::Missed),
            None if self.is_overdue(open, now) => Some(Verdict::Missed),
            None => None,
        }
    }

    fn is_overdue(&self, open: bool, now: DateTime<Utc>) -> bool {
        open && self.done_at.is_none() && now > self.due
    }
}

impl SlaCompliance {
    fn record(&mut self, deadline: Deadline, verdict: Verdict) {
        let counter = match (deadline, verdict) {
            (Deadline::TakeCharge, Verdict::Met) => &mut self.take_charge_met,
            (Deadline::TakeCharge, Verdict::Missed) => &mut self.take_charge_missed,
            (Deadline::Resolution, Verdict::Met) => &mut self.resolution_met,
            (Deadline::Resolution, Verdict::Missed) => &mut self.resolution_missed,
        };
        *counter += 1;
    }

    fn with_rates(self) -> Self {
        Self {
            take_charge_rate: rate(self.take_charge_met, self.take_charge_missed),
            resolution_rate: rate(self.resolution_met, self.resolution_missed),
            ..self
        }
    }
}

fn rate(met: usize, missed: usize) -> Option<f64> {
    let counted = met + missed;
    (counted > 0).then(|| met as f64 / counted as f64)
}

impl DurationStats {
    fn from_minutes(mut minutes: Vec<f64>) -> Self {
        minutes.sort_by(f64::total_cmp);
        Self {
            count: minutes.len(),
            median_minutes: percentile(&minutes, 0.5),
            p90_minutes: percentile(&minutes, 0.9),
        }
    }
}

/// The `p` percentile (0 to 1) of sorted values, by linear interpolation
/// between closest ranks.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p * last as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(last);
    let fraction = rank - below as f64;
    Some(sorted[below] + fraction * (sorted[above] - sorted[below]))
}

/// Minutes from `start` to `end`, with seconds as a fraction; never negative
/// (a clock set back must not pull a median down).
fn minutes_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    (end - start).num_seconds().max(0) as f64 / 60.0
}

fn count_by<'a>(keys: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    owned_keys(counts)
}

/// A map built with borrowed keys, with its keys copied: the tallies look
/// a key up per ticket, and copy it only once here.
fn owned_keys<V>(map: BTreeMap<&str, V>) -> BTreeMap<String, V> {
    map.into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

/// Computes the indicators of `records` as they stand at `now`.
pub fn compute(records: &[TicketRecord], now: DateTime<Utc>) -> Indicators {
    let mut sla: BTreeMap<&str, SlaCompliance> = Priority::ALL
        .iter()
        .map(|p| (p.as_str(), SlaCompliance::default()))
        .collect();
    let mut overdue = Vec::new();
    for record in records {
        let open = record.is_open();
        for check in record.deadline_checks() {
            if let Some(verdict) = check.verdict(open, now) {
                sla.entry(record.priority.as_str())
                    .or_default()
                    .record(check.deadline, verdict);
            }
            if check.is_overdue(open, now) {
                overdue.push(Overdue {
                    id: record.id.clone(),
                    priority: record.priority.clone(),
                    deadline: check.deadline,
                    due: check.due,
                    late_minutes: (now - check.due).num_minutes(),
                });
            }
        }
    }
    overdue.sort_by(|a, b| (a.due, &a.id, a.deadline).cmp(&(b.due, &b.id, b.deadline)));
    Indicators {
        total: records.len(),
        by_status: count_by(records.iter().map(|r| r.status.as_str())),
        by_priority: count_by(records.iter().map(|r| r.priority.as_str())),
        by_team: count_by(records.iter().map(|r| r.team.as_deref().unwrap_or(NO_TEAM))),
        take_charge: DurationStats::from_minutes(
            records
                .iter()
                .filter_map(|r| Some(minutes_between(r.created_at, r.taken_in_charge_at()?)))
                .collect(),
        ),
        resolution: DurationStats::from_minutes(
            records
                .iter()
                .filter_map(|r| Some(minutes_between(r.created_at, r.resolved_at?)))
                .collect(),
        ),
        sla: sla
            .into_iter()
            .map(|(priority, compliance)| (priority.to_string(), compliance.with_rates()))
            .collect(),
        overdue,
    }
}

/// A `--since` value (`2026-09-01`: midnight in Paris; or an RFC 3339
/// instant) as a stored timestamp; why not, in English, otherwise.
pub fn since_timestamp(text: &str) -> Result<String, String> {
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        return Ok(crate::store::timestamp(super::sla::from_paris(midnight)));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| crate::store::timestamp(at.with_timezone(&Utc)))
        .map_err(|_| format!("{text:?} is neither YYYY-MM-DD nor an RFC 3339 time"))
}

/// The key of tickets no establishment was given, in the weekly volumes.
pub const NO_ESTABLISHMENT: &str = "(inconnu)";

/// Tickets created per week (ISO weeks, Monday to Sunday, in Paris), by
/// priority class and by establishment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyVolumes {
    /// `2026-S48`, every week from the first ticket's to the last's.
    pub weeks: Vec<String>,
    /// One count per week, for each class.
    pub by_priority: BTreeMap<String, Vec<usize>>,
    /// One count per week, for each establishment.
    pub by_establishment: BTreeMap<String, Vec<usize>>,
}

/// The weekly volumes of `records`.
pub fn weekly(records: &[TicketRecord]) -> WeeklyVolumes {
    let week_of = |at: DateTime<Utc>| {
        let day = super::sla::to_paris(at).date_naive();
        day - chrono::Days::new(u64::from(
            chrono::Datelike::weekday(&day).num_days_from_monday(),
        ))
    };
    let mondays: Vec<chrono::NaiveDate> = records.iter().map(|r| week_of(r.created_at)).collect();
    let (Some(first), Some(last)) = (mondays.iter().min(), mondays.iter().max()) else {
        return WeeklyVolumes {
            weeks: Vec::new(),
            by_priority: BTreeMap::new(),
            by_establishment: BTreeMap::new(),
        };
    };
    let count = ((*last - *first).num_days() / 7 + 1) as usize;
    let weeks = (0..count)
        .map(|n| {
            let monday = *first + chrono::Days::new(7 * n as u64);
            let week = chrono::Datelike::iso_week(&monday);
            format!("{}-S{:02}", week.year(), week.week())
        })
        .collect();
    let mut by_priority: BTreeMap<&str, Vec<usize>> = Priority::ALL
        .iter()
        .map(|p| (p.as_str(), vec![0; count]))
        .collect();
    let mut by_establishment: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (record, monday) in records.iter().zip(&mondays) {
        let index = ((*monday - *first).num_days() / 7) as usize;
        by_priority
            .entry(record.priority.as_str())
            .or_insert_with(|| vec![0; count])[index] += 1;
        let place = record.establishment.as_deref().unwrap_or(NO_ESTABLISHMENT);
        by_establishment
            .entry(place)
            .or_insert_with(|| vec![0; count])[index] += 1;
    }
    WeeklyVolumes {
        weeks,
        by_priority: owned_keys(by_priority),
        by_establishment: owned_keys(by_establishment),
    }
}

/// The indicators as plain-text tables, for the operators' CLI.
pub fn render_text(ind: &Indicators) -> String {
    let mut out = format!("Tickets: {}\n", ind.total);
    for (title, counts) in [
        ("By status", &ind.by_status),
        ("By priority", &ind.by_priority),
        ("By team", &ind.by_team),
    ] {
        render_counts(&mut out, title, counts);
    }
    render_durations(&mut out, ind);
    render_sla(&mut out, &ind.sla);
    render_overdue(&mut out, &ind.overdue);
    out
}

// `write!` into a `String` cannot fail: its results are ignored below.

fn render_counts(out: &mut String, title: &str, counts: &BTreeMap<String, usize>) {
    let _ = writeln!(out, "\n{title}:");
    if counts.is_empty() {
        out.push_str("  (none)\n");
    }
    for (key, count) in counts {
        let _ = writeln!(out, "  {key:<20} {count:>6}");
    }
}

fn render_durations(out: &mut String, ind: &Indicators) {
    let _ = writeln!(
        out,
        "\n{:<22} {:>6} {:>10} {:>10}",
        "Delays (minutes)", "count", "median", "p90"
    );
    for (label, stats) in [
        ("take charge", &ind.take_charge),
        ("resolution", &ind.resolution),
    ] {
        let _ = writeln!(
            out,
            "  {label:<20} {:>6} {:>10} {:>10}",
            stats.count,
            optional_minutes(stats.median_minutes),
            optional_minutes(stats.p90_minutes),
        );
    }
}

fn render_sla(out: &mut String, sla: &BTreeMap<String, SlaCompliance>) {
    let _ = writeln!(
        out,
        "\n{:<14} {:>16} {:>7} {:>7} {:>15} {:>7} {:>7}",
        "SLA", "take charge met", "missed", "rate", "resolution met", "missed", "rate"
    );
    for (priority, c) in sla {
        let _ = writeln!(
            out,
            "  {priority:<12} {:>16} {:>7} {:>7} {:>15} {:>7} {:>7}",
            c.take_charge_met,
            c.take_charge_missed,
            percent(c.take_charge_rate),
            c.resolution_met,
            c.resolution_missed,
            percent(c.resolution_rate),
        );
    }
}

fn render_overdue(out: &mut String, overdue: &[Overdue]) {
    let _ = writeln!(out, "\nOverdue: {}", overdue.len());
    for o in overdue {
        let _ = writeln!(
            out,
            "  {:<16} {:<10} {:<12} due {}  late {}",
            o.id,
            o.priority,
            o.deadline.as_str(),
            o.due.format("%Y-%m-%d %H:%M UTC"),
            lateness(o.late_minutes),
        );
    }
}

fn optional_minutes(minutes: Option<f64>) -> String {
    minutes.map_or_else(|| "-".to_string(), |m| format!("{m:.1}"))
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// `45 min`, `3h05`, `2d 4h05`.
fn lateness(minutes: i64) -> String {
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours}h{mins:02}"),
        _ => format!("{days}d {hours}h{mins:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(taken_at: Option<&str>) -> TicketTimes {
        TicketTimes {
            id: "CG42N1-000007".into(),
            status: "pris_en_charge".into(),
            priority: "majeure".into(),
            team: Some("ent".into()),
            created_at: "2026-11-23T08:12:00.000000Z".into(),
            taken_at: taken_at.map(String::from),
            resolved_at: None,
            take_charge_by: Some("2026-11-23T09:12:00.000000Z".into()),
            resolve_by: Some("2026-11-25T08:12:00.000000Z".into()),
            establishment: None,
        }
    }

    #[test]
    fn stored_times_read_back_as_utc_instants() {
        let record = TicketRecord::try_from(stored(Some("2026-11-23T08:40:30.500000Z"))).unwrap();
        let at = |d, h, m, s| Utc.with_ymd_and_hms(2026, 11, d, h, m, s).unwrap();
        assert_eq!(record.id, "CG42N1-000007");
        assert_eq!(record.team.as_deref(), Some("ent"));
        assert_eq!(record.created_at, at(23, 8, 12, 0));
        assert_eq!(
            record.taken_at,
            Some(at(23, 8, 40, 30) + chrono::TimeDelta::milliseconds(500))
        );
        assert_eq!(record.resolved_at, None);
        assert_eq!(record.take_charge_by, Some(at(23, 9, 12, 0)));
        assert_eq!(record.resolve_by, Some(at(25, 8, 12, 0)));
    }

    #[test]
    fn an_unreadable_time_names_the_ticket_and_the_column() {
        let error = TicketRecord::try_from(stored(Some("lundi 9 h"))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ticket CG42N1-000007: taken_at \"lundi 9 h\" is not an RFC 3339 time"
        );
    }
    use chrono::{TimeDelta, TimeZone};

    /// Monday 3 March 2025 at `hour:minute` UTC.
    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, hour, minute, 0).unwrap()
    }

    fn ticket(id: &str, status: &str, priority: &str) -> TicketRecord {
        TicketRecord {
            id: id.to_string(),
            status: status.to_string(),
            priority: priority.to_string(),
            team: None,
            created_at: at(8, 0),
            taken_at: None,
            resolved_at: None,
            take_charge_by: None,
            resolve_by: None,
            establishment: None,
        }
    }

    fn with_deadlines(
        mut record: TicketRecord,
        take_charge_by: DateTime<Utc>,
        resolve_by: DateTime<Utc>,
    ) -> TicketRecord {
        record.take_charge_by = Some(take_charge_by);
        record.resolve_by = Some(resolve_by);
        record
    }

    #[test]
    fn weekly_volumes_count_every_week_from_the_first_to_the_last() {
        let mut a = ticket("A", "nouveau", "majeure");
        a.establishment = Some("Lycée du Parc, Lyon (0690001B)".into());
        let mut b = ticket("B", "nouveau", "mineure");
        b.created_at = at(8, 0) + TimeDelta::days(14);
        let mut c = ticket("C", "nouveau", "mineure");
        // Sunday 2 March 2025, 23:30 in Paris: the week before.
        c.created_at = at(8, 0) - TimeDelta::minutes(9 * 60 + 30);
        let volumes = weekly(&[a, b, c]);
        assert_eq!(
            volumes.weeks,
            ["2025-S09", "2025-S10", "2025-S11", "2025-S12"]
        );
        assert_eq!(volumes.by_priority["majeure"], [0, 1, 0, 0]);
        assert_eq!(volumes.by_priority["mineure"], [1, 0, 0, 1]);
        assert_eq!(volumes.by_priority["bloquante"], [0, 0, 0, 0]);
        assert_eq!(
            volumes.by_establishment["Lycée du Parc, Lyon (0690001B)"],
            [0, 1, 0, 0]
        );
        assert_eq!(volumes.by_establishment[NO_ESTABLISHMENT], [1, 0, 0, 1]);
        assert!(weekly(&[]).weeks.is_empty());
    }

    #[test]
    fn empty_input_gives_zeroes_and_no_figures() {
        let ind = compute(&[], at(12, 0));
        assert_eq!(ind.total, 0);
        assert!(ind.by_status.is_empty() && ind.by_priority.is_empty() && ind.by_team.is_empty());
        let no_delay = DurationStats {
            count: 0,
            median_minutes: None,
            p90_minutes: None,
        };
        assert_eq!(ind.take_charge, no_delay);
        assert_eq!(ind.resolution, no_delay);
        assert_eq!(
            ind.sla.keys().collect::<Vec<_>>(),
            ["bloquante", "majeure", "mineure"]
        );
        assert!(ind.sla.values().all(|c| *c == SlaCompliance::default()));
        assert!(ind.overdue.is_empty());
        let text = render_text(&ind);
        assert!(text.starts_with("Tickets: 0\n"), "{text}");
        assert!(text.contains("Overdue: 0"), "{text}");
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let one = DurationStats::from_minutes(vec![42.0]);
        assert_eq!(
            (one.count, one.median_minutes, one.p90_minutes),
            (1, Some(42.0), Some(42.0))
        );
        let even = DurationStats::from_minutes(vec![40.0, 10.0, 30.0, 20.0]);
        assert_eq!(even.median_minutes, Some(25.0));
        // rank 0.9 × 3 = 2.7: 30 + 0.7 × (40 − 30)
        assert!((even.p90_minutes.unwrap() - 37.0).abs() < 1e-9);
        let odd = DurationStats::from_minutes(vec![5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!(odd.median_minutes, Some(3.0));
        // rank 0.9 × 4 = 3.6: 4 + 0.6 × (5 − 4)
        assert!((odd.p90_minutes.unwrap() - 4.6).abs() < 1e-9);
    }

    #[test]
    fn delays_run_from_creation_in_wall_clock_minutes() {
        let mut taken = ticket("T1", "pris_en_charge", "majeure");
        taken.taken_at = Some(at(8, 30) + TimeDelta::seconds(30));
        let mut resolved_directly = ticket("T2", "resolu", "majeure");
        resolved_directly.resolved_at = Some(at(10, 0));
        let waiting = ticket("T3", "nouveau", "majeure");
        let ind = compute(&[taken, resolved_directly, waiting], at(12, 0));
        // 30.5 min and 120 min (resolving took T2 in charge); T3 not yet.
        assert_eq!(ind.take_charge.count, 2);
        assert_eq!(ind.take_charge.median_minutes, Some(75.25));
        assert_eq!(ind.resolution.count, 1);
        assert_eq!(ind.resolution.median_minutes, Some(120.0));
    }

    #[test]
    fn counts_by_status_priority_and_team() {
        let mut a = ticket("T1", "nouveau", "bloquante");
        a.team = Some("ent".to_string());
        let mut b = ticket("T2", "resolu", "mineure");
        b.team = Some("ent".to_string());
        let c = ticket("T3", "nouveau", "mineure");
        let ind = compute(&[a, b, c], at(12, 0));
        assert_eq!(ind.total, 3);
        assert_eq!(
            ind.by_status,
            BTreeMap::from([("nouveau".into(), 2), ("resolu".into(), 1)])
        );
        assert_eq!(
            ind.by_priority,
            BTreeMap::from([("bloquante".into(), 1), ("mineure".into(), 2)])
        );
        assert_eq!(
            ind.by_team,
            BTreeMap::from([("ent".into(), 2), (NO_TEAM.into(), 1)])
        );
    }

    #[test]
    fn compliance_counts_kept_late_and_open_past_deadlines() {
        let now = at(12, 0);
        let deadlines = |r| with_deadlines(r, at(9, 0), at(11, 0));
        // Taken and resolved in time: met, met.
        let mut on_time = deadlines(ticket("T1", "resolu", "bloquante"));
        on_time.taken_at = Some(at(8, 45));
        on_time.resolved_at = Some(at(11, 0));
        // Taken late, resolved late: missed, missed.
        let mut late = deadlines(ticket("T2", "resolu", "bloquante"));
        late.taken_at = Some(at(9, 1));
        late.resolved_at = Some(at(11, 30));
        // Open, never taken, both deadlines passed: missed, missed.
        let open_late = deadlines(ticket("T3", "nouveau", "bloquante"));
        // Open, taken in time, resolution not yet due: met, not counted.
        let mut not_yet_due = with_deadlines(
            ticket("T4", "pris_en_charge", "bloquante"),
            at(9, 0),
            at(13, 0),
        );
        not_yet_due.taken_at = Some(at(8, 50));
        // Open, nothing due yet: not counted at all.
        let fresh = with_deadlines(ticket("T5", "nouveau", "bloquante"), at(12, 30), at(15, 0));
        // Closed without the steps: nothing tells when, not counted.
        let dropped = deadlines(ticket("T6", "sans_suite", "bloquante"));
        let ind = compute(
            &[on_time, late, open_late, not_yet_due, fresh, dropped],
            now,
        );
        let bloquante = &ind.sla["bloquante"];
        assert_eq!(
            (bloquante.take_charge_met, bloquante.take_charge_missed),
            (2, 2)
        );
        assert_eq!(
            (bloquante.resolution_met, bloquante.resolution_missed),
            (1, 2)
        );
        assert_eq!(bloquante.take_charge_rate, Some(0.5));
        assert!((bloquante.resolution_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(ind.sla["majeure"], SlaCompliance::default());
    }

    #[test]
    fn resolving_without_taking_in_charge_keeps_the_take_charge_deadline() {
        let mut record = with_deadlines(ticket("T1", "resolu", "mineure"), at(9, 0), at(17, 0));
        record.resolved_at = Some(at(8, 40));
        let ind = compute(&[record], at(18, 0));
        assert_eq!(ind.sla["mineure"].take_charge_met, 1);
        assert_eq!(ind.sla["mineure"].resolution_met, 1);
        assert!(ind.overdue.is_empty());
    }

    #[test]
    fn only_open_statuses_are_overdue() {
        let now = at(12, 0);
        let records: Vec<_> = Status::ALL
            .iter()
            .map(|status| {
                with_deadlines(
                    ticket(status.as_str(), status.as_str(), "mineure"),
                    at(9, 0),
                    at(10, 0),
                )
            })
            .collect();
        let ind = compute(&records, now);
        let overdue: Vec<_> = ind
            .overdue
            .iter()
            .filter(|o| o.deadline == Deadline::TakeCharge)
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(
            overdue,
            [
                "affecte",
                "en_attente",
                "en_cours",
                "escalade",
                "nouveau",
                "pris_en_charge"
            ]
        );
        // Closed without the step: neither overdue nor counted.
        assert_eq!(ind.sla["mineure"].take_charge_missed, 6);
    }

    #[test]
    fn overdue_lists_open_tickets_latest_first() {
        let now = at(12, 0);
        let a = with_deadlines(ticket("T-A", "nouveau", "mineure"), at(11, 30), at(18, 0));
        let mut b = with_deadlines(
            ticket("T-B", "pris_en_charge", "bloquante"),
            at(8, 30),
            at(10, 0),
        );
        b.taken_at = Some(at(8, 15));
        let c = with_deadlines(ticket("T-C", "en_attente", "majeure"), at(9, 0), at(20, 0));
        let closed = with_deadlines(ticket("T-D", "ferme", "bloquante"), at(8, 10), at(9, 0));
        let ind = compute(&[a, b, c, closed], now);
        let listed: Vec<_> = ind
            .overdue
            .iter()
            .map(|o| (o.id.as_str(), o.deadline, o.late_minutes))
            .collect();
        assert_eq!(
            listed,
            [
                ("T-C", Deadline::TakeCharge, 180),
                ("T-B", Deadline::Resolution, 120),
                ("T-A", Deadline::TakeCharge, 30),
            ]
        );
        assert_eq!(ind.overdue[1].priority, "bloquante");
        assert_eq!(ind.overdue[1].due, at(10, 0));
    }

    #[test]
    fn serialises_deadlines_in_snake_case() {
        let record = with_deadlines(ticket("T1", "nouveau", "majeure"), at(9, 0), at(17, 0));
        let json = serde_json::to_value(compute(&[record], at(10, 0))).unwrap();
        assert_eq!(json["overdue"][0]["deadline"], "take_charge");
        assert_eq!(json["overdue"][0]["late_minutes"], 60);
        assert_eq!(json["sla"]["majeure"]["take_charge_rate"], 0.0);
        assert!(json["sla"]["majeure"]["resolution_rate"].is_null());
    }

    #[test]
    fn text_report_shows_every_table() {
        let mut done = with_deadlines(
            ticket("CG42N1-000001", "resolu", "bloquante"),
            at(9, 0),
            at(11, 0),
        );
        done.team = Some("maintenance".to_string());
        done.taken_at = Some(at(8, 20));
        done.resolved_at = Some(at(10, 0));
        let waiting = with_deadlines(
            ticket("CG42N1-000002", "nouveau", "majeure"),
            at(9, 0),
            at(17, 0),
        );
        let text = render_text(&compute(
            &[done, waiting],
            at(9, 0) + TimeDelta::minutes(1565),
        ));
        for expected in [
            "Tickets: 2",
            "  maintenance",
            "  (aucune)",
            "  take charge               1       20.0       20.0",
            "  bloquante                   1       0  100.0%",
            "  majeure                     0       1    0.0%",
            "Overdue: 2",
            "CG42N1-000002    majeure    take_charge  due 2025-03-03 09:00 UTC  late 1d 2h05",
            "late 18h05",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn lateness_reads_in_minutes_hours_and_days() {
        assert_eq!(lateness(45), "45 min");
        assert_eq!(lateness(185), "3h05");
        assert_eq!(lateness(2 * 1440 + 245), "2d 4h05");
    }
}
