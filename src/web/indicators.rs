//! The indicators (supervisors, partners, admins), within the viewer's
//! perimeter: the same computation as `guichet stats` (`desk::stats`) over
//! the same query (`Store::ticket_times_in`), and the weekly volumes; each
//! figure as a table, an SVG chart and a CSV file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State as AxumState};
use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::charts::{horizontal_bars, stacked_bars, Series};
use super::view::{priority_fr, status_fr, time_fr};
use super::{Need, State, Viewer, WebError};
use crate::desk::stats::{self, Indicators, TicketRecord, WeeklyVolumes};
use crate::store::Perimeter;

/// Rows of a table shown on the page; the CSV holds them all.
const PAGE_ROWS: usize = 50;

/// The figures, by the name of their files.
const FIGURES: [&str; 5] = [
    "semaines-priorite",
    "semaines-etablissement",
    "delais",
    "sla",
    "retards",
];

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IndicatorQuery {
    /// Tickets created from this day (Paris) or RFC 3339 instant, as
    /// `guichet stats --since`.
    #[serde(default)]
    pub depuis: String,
}

struct Figures {
    indicators: Indicators,
    weekly: WeeklyVolumes,
    /// The `now` they were computed at.
    computed_at: DateTime<Utc>,
}

/// How long a perimeter's figures are served again. They follow every
/// change of a ticket at once ([`Store::tickets_changed_at`]); this bounds
/// how far the passing of time (deadlines passing) can be behind.
///
/// [`Store::tickets_changed_at`]: crate::store::Store::tickets_changed_at
const FIGURES_FRESH: Duration = Duration::from_secs(60);
/// Perimeter and period pairs kept; a site has a few.
const FIGURES_KEPT: usize = 64;

/// The figures last computed for each perimeter and period. Computing them
/// reads every ticket of the period, a quarter of a second and more with
/// 100,000 tickets, and a supervisor's or a partner's dashboard is viewed
/// again and again while few tickets change.
#[derive(Default)]
pub struct FigureCache {
    entries: Mutex<HashMap<FigureKey, Cached>>,
}

/// A viewer's perimeter and the `since` of the figures.
type FigureKey = (Perimeter, Option<String>);

struct Cached {
    computed: Instant,
    /// [`Store::tickets_changed_at`] read before the tickets were.
    ///
    /// [`Store::tickets_changed_at`]: crate::store::Store::tickets_changed_at
    changed_at: Option<String>,
    figures: Arc<Figures>,
}

impl FigureCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<FigureKey, Cached>> {
        // A panic while the map was held leaves whole entries behind.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn fresh(&self, key: &FigureKey, changed_at: &Option<String>) -> Option<Arc<Figures>> {
        let entries = self.entries();
        let cached = entries.get(key)?;
        (cached.computed.elapsed() < FIGURES_FRESH && cached.changed_at == *changed_at)
            .then(|| cached.figures.clone())
    }

    fn keep(&self, key: FigureKey, changed_at: Option<String>, figures: Arc<Figures>) {
        let mut entries = self.entries();
        if entries.len() >= FIGURES_KEPT {
            entries.retain(|_, cached| cached.computed.elapsed() < FIGURES_FRESH);
        }
        if entries.len() >= FIGURES_KEPT {
            entries.clear();
        }
        entries.insert(
            key,
            Cached {
                computed: Instant::now(),
                changed_at,
                figures,
            },
        );
    }
}

async fn figures(
    state: &State,
    viewer: &Viewer,
    query: &IndicatorQuery,
) -> Result<Arc<Figures>, WebError> {
    viewer.require(Need::Indicators)?;
    let since =
        match query.depuis.trim() {
            "" => None,
            text => Some(stats::since_timestamp(text).map_err(|_| {
                WebError::BadRequest(format!("date « {text} » : AAAA-MM-JJ attendu"))
            })?),
        };
    // Read first: a change made while the tickets are read shows as a
    // later time at the next view, which computes again.
    let changed_at = state.store.tickets_changed_at().await?;
    let key = (viewer.account.perimeter.clone(), since);
    if let Some(figures) = state.figure_cache.fresh(&key, &changed_at) {
        return Ok(figures);
    }
    let times = state
        .store
        .ticket_times_in(key.1.as_deref(), &key.0)
        .await?;
    // A tenth of a second and more of work with 100,000 tickets: off the
    // threads that serve the mailboxes and the other pages.
    let figures = tokio::task::spawn_blocking(move || {
        let records = times
            .into_iter()
            .map(TicketRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let now = Utc::now();
        Ok::<_, stats::UnreadableTime>(Figures {
            indicators: stats::compute(&records, now),
            weekly: stats::weekly(&records),
            computed_at: now,
        })
    })
    .await
    .map_err(|e| WebError::Internal(format!("indicators: {e}")))?
    .map_err(|e| WebError::Internal(e.to_string()))?;
    let figures = Arc::new(figures);
    state.figure_cache.keep(key, changed_at, figures.clone());
    Ok(figures)
}

fn hours(minutes: Option<f64>) -> f64 {
    minutes.map_or(0.0, |m| m / 60.0)
}

fn rate_percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".into(), |r| format!("{:.1} %", r * 100.0))
}

fn minutes_text(minutes: Option<f64>) -> String {
    minutes.map_or_else(
        || "—".into(),
        |m| super::view::duration_fr(m.round() as i64),
    )
}

#[derive(Serialize)]
struct Row {
    cells: Vec<String>,
}

/// One figure as text: the CSV file has every row, the page the first
/// ones of the same rows.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Every row's count, `rows` holding at most the limit asked.
    total: usize,
}

/// Each figure as a [`Table`] of at most `limit` rows: the page asks for
/// 50 of the thousands a year of tickets can give (establishments × weeks,
/// overdue tickets), and makes only those.
fn table(figures: &Figures, figure: &str, limit: usize) -> Option<Table> {
    let ind = &figures.indicators;
    let weekly = &figures.weekly;
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (header, rows, total) = match figure {
        "semaines-priorite" => {
            let mut header = strings(&["semaine"]);
            header.extend(weekly.by_priority.keys().cloned());
            header.push("total".into());
            let rows: Vec<Vec<String>> = weekly
                .weeks
                .iter()
                .enumerate()
                .take(limit)
                .map(|(i, week)| {
                    let counts: Vec<usize> = weekly.by_priority.values().map(|v| v[i]).collect();
                    let mut row = vec![week.clone()];
                    row.extend(counts.iter().map(usize::to_string));
                    row.push(counts.iter().sum::<usize>().to_string());
                    row
                })
                .collect();
            (header, rows, weekly.weeks.len())
        }
        "semaines-etablissement" => {
            let header = strings(&["etablissement", "semaine", "demandes"]);
            let cells = || {
                weekly.by_establishment.iter().flat_map(|(place, counts)| {
                    weekly
                        .weeks
                        .iter()
                        .zip(counts)
                        .filter(|(_, count)| **count > 0)
                        .map(move |(week, count)| (place, week, count))
                })
            };
            let rows = cells()
                .take(limit)
                .map(|(place, week, count)| vec![place.clone(), week.clone(), count.to_string()])
                .collect();
            (header, rows, cells().count())
        }
        "delais" => {
            let header = strings(&["delai", "demandes", "mediane_minutes", "p90_minutes"]);
            let number = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.1}"));
            let rows = [
                ("prise_en_charge", &ind.take_charge),
                ("resolution", &ind.resolution),
            ]
            .into_iter()
            .map(|(name, d)| {
                vec![
                    name.to_string(),
                    d.count.to_string(),
                    number(d.median_minutes),
                    number(d.p90_minutes),
                ]
            })
            .collect();
            (header, rows, 2)
        }
        "sla" => {
            let header = strings(&[
                "priorite",
                "prise_en_charge_respectee",
                "prise_en_charge_manquee",
                "taux_prise_en_charge",
                "resolution_respectee",
                "resolution_manquee",
                "taux_resolution",
            ]);
            let number = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
            let rows = ind
                .sla
                .iter()
                .map(|(priority, s)| {
                    vec![
                        priority.clone(),
                        s.take_charge_met.to_string(),
                        s.take_charge_missed.to_string(),
                        number(s.take_charge_rate),
                        s.resolution_met.to_string(),
                        s.resolution_missed.to_string(),
                        number(s.resolution_rate),
                    ]
                })
                .collect();
            (header, rows, ind.sla.len())
        }
        "retards" => {
            let header = strings(&["ticket", "priorite", "echeance", "due", "minutes_de_retard"]);
            let rows = ind
                .overdue
                .iter()
                .take(limit)
                .map(|o| {
                    vec![
                        o.id.clone(),
                        o.priority.clone(),
                        o.deadline.as_str().to_string(),
                        crate::store::timestamp(o.due),
                        o.late_minutes.to_string(),
                    ]
                })
                .collect();
            (header, rows, ind.overdue.len())
        }
        _ => return None,
    };
    Some(Table {
        header,
        rows,
        total,
    })
}

/// A CSV cell a spreadsheet will not run as a formula.
fn csv_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>, WebError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| WebError::Internal(format!("csv: {e}"));
    writer.write_record(header).map_err(internal)?;
    for row in rows {
        writer
            .write_record(row.iter().map(|c| csv_safe(c)))
            .map_err(internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| WebError::Internal(format!("csv: {e}")))
}

fn chart(figures: &Figures, figure: &str) -> Option<String> {
    let ind = &figures.indicators;
    let weekly = &figures.weekly;
    Some(match figure {
        "semaines-priorite" => {
            let values: Vec<(String, Vec<f64>)> = weekly
                .by_priority
                .iter()
                .map(|(p, v)| (priority_fr(p), v.iter().map(|c| *c as f64).collect()))
                .collect();
            let series: Vec<Series<'_>> = values
                .iter()
                .map(|(name, values)| Series { name, values })
                .collect();
            stacked_bars(
                "Demandes par semaine et par priorité",
                &weekly.weeks,
                &series,
            )
        }
        "semaines-etablissement" => {
            let mut totals: Vec<(String, f64)> = weekly
                .by_establishment
                .iter()
                .map(|(place, counts)| (place.clone(), counts.iter().sum::<usize>() as f64))
                .collect();
            totals.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            totals.truncate(15);
            horizontal_bars("Demandes par établissement", &totals, "demandes")
        }
        "delais" => horizontal_bars(
            "Délais de prise en charge et de résolution",
            &[
                (
                    "Prise en charge, médiane".into(),
                    hours(ind.take_charge.median_minutes),
                ),
                (
                    "Prise en charge, 90e centile".into(),
                    hours(ind.take_charge.p90_minutes),
                ),
                (
                    "Résolution, médiane".into(),
                    hours(ind.resolution.median_minutes),
                ),
                (
                    "Résolution, 90e centile".into(),
                    hours(ind.resolution.p90_minutes),
                ),
            ],
            "h",
        ),
        "sla" => {
            let mut rows = Vec::new();
            for (priority, s) in &ind.sla {
                let label = priority_fr(priority);
                rows.push((
                    format!("{label}, prise en charge"),
                    s.take_charge_rate.unwrap_or(0.0) * 100.0,
                ));
                rows.push((
                    format!("{label}, résolution"),
                    s.resolution_rate.unwrap_or(0.0) * 100.0,
                ));
            }
            horizontal_bars("Respect des délais par priorité", &rows, "%")
        }
        "retards" => {
            let mut by_priority: std::collections::BTreeMap<String, f64> = Default::default();
            for o in &ind.overdue {
                *by_priority.entry(priority_fr(&o.priority)).or_default() += 1.0;
            }
            let rows: Vec<(String, f64)> = by_priority.into_iter().collect();
            horizontal_bars("Demandes ouvertes en retard", &rows, "échéances")
        }
        _ => return None,
    })
}

pub async fn page(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Query(query): Query<IndicatorQuery>,
) -> Result<Html<String>, WebError> {
    let figures = figures(&state, &viewer, &query).await?;
    let ind = &figures.indicators;
    let query_text = serde_urlencoded::to_string(&query).unwrap_or_default();
    let tables: Vec<minijinja::Value> = FIGURES
        .iter()
        .filter_map(|name| {
            let table = table(&figures, name, PAGE_ROWS)?;
            Some(minijinja::context! {
                name => name,
                title => title_fr(name),
                header => table.header,
                rows => table.rows.into_iter().map(|cells| Row { cells }).collect::<Vec<_>>(),
                more => table.total.saturating_sub(PAGE_ROWS),
            })
        })
        .collect();
    let by_status: Vec<(String, usize)> = ind
        .by_status
        .iter()
        .map(|(s, n)| (status_fr(s), *n))
        .collect();
    let delays = minijinja::context! {
        take_median => minutes_text(ind.take_charge.median_minutes),
        take_p90 => minutes_text(ind.take_charge.p90_minutes),
        take_count => ind.take_charge.count,
        solve_median => minutes_text(ind.resolution.median_minutes),
        solve_p90 => minutes_text(ind.resolution.p90_minutes),
        solve_count => ind.resolution.count,
    };
    let sla: Vec<minijinja::Value> = ind
        .sla
        .iter()
        .map(|(p, s)| {
            minijinja::context! {
                priority => priority_fr(p),
                take => rate_percent(s.take_charge_rate),
                solve => rate_percent(s.resolution_rate),
            }
        })
        .collect();
    let overdue_more = ind.overdue.len().saturating_sub(PAGE_ROWS);
    let overdue: Vec<minijinja::Value> = ind
        .overdue
        .iter()
        .take(PAGE_ROWS)
        .map(|o| {
            minijinja::context! {
                id => o.id,
                priority => priority_fr(&o.priority),
                deadline => match o.deadline.as_str() { "take_charge" => "prise en charge", _ => "résolution" },
                due => time_fr(&crate::store::timestamp(o.due)),
                late => super::view::duration_fr(o.late_minutes),
            }
        })
        .collect();
    state.render(
        "indicators.html",
        minijinja::context! {
            me => viewer.context(),
            depuis => query.depuis,
            computed_at => time_fr(&crate::store::timestamp(figures.computed_at)),
            query => query_text,
            total => ind.total,
            by_status => by_status,
            delays => delays,
            sla => sla,
            overdue => overdue,
            overdue_total => ind.overdue.len(),
            overdue_more => overdue_more,
            tables => tables,
        },
    )
}

fn title_fr(figure: &str) -> &'static str {
    match figure {
        "semaines-priorite" => "Demandes par semaine et par priorité",
        "semaines-etablissement" => "Demandes par semaine et par établissement",
        "delais" => "Délais de prise en charge et de résolution (minutes écoulées)",
        "sla" => "Respect des délais contractuels par priorité",
        "retards" => "Demandes ouvertes après leur échéance",
        _ => "",
    }
}

/// `/indicateurs/NAME.csv` and `/indicateurs/NAME.svg`.
pub async fn file(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Path(file): Path<String>,
    Query(query): Query<IndicatorQuery>,
) -> Result<Response, WebError> {
    let (name, kind) = file.rsplit_once('.').ok_or(WebError::NotFound)?;
    if !FIGURES.contains(&name) || !matches!(kind, "csv" | "svg") {
        return Err(WebError::NotFound);
    }
    let figures = figures(&state, &viewer, &query).await?;
    if kind == "svg" {
        let svg = chart(&figures, name).ok_or(WebError::NotFound)?;
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml; charset=utf-8"),
            )],
            svg,
        )
            .into_response());
    }
    let table = table(&figures, name, usize::MAX).ok_or(WebError::NotFound)?;
    let body = csv_text(&table.header, &table.rows)?;
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/indicateurs?depuis=`: `indicators` as `guichet stats --json`
/// gives them, and the weekly volumes.
pub async fn api(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Query(query): Query<IndicatorQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let figures = figures(&state, &viewer, &query).await?;
    Ok(Json(serde_json::json!({
        "indicators": figures.indicators,
        "weekly": figures.weekly,
        "computed_at": crate::store::timestamp(figures.computed_at),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_start_a_formula() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("-12"), "-12");
        assert_eq!(csv_safe("Lycée"), "Lycée");
    }
}
