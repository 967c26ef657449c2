//! `guichet calendar show YEAR`: the days the SLA clocks count as closed,
//! so that a site can check its calendar, zone and closures.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{Datelike, NaiveDate};

use guichet::config::Settings;
use guichet::desk::calendar::FIRST_YEAR;

use super::shared::usage_error;

/// The closed days of `year`, one a line, with why they are closed.
pub fn show(settings: &Settings, year: i32) -> Result<ExitCode> {
    if !(FIRST_YEAR..=9999).contains(&year) {
        return Ok(usage_error(format_args!(
            "{year} is not a year the calendar covers ({FIRST_YEAR} to 9999)"
        )));
    }
    let hours = &settings.sla.business_hours;
    let mut closed: BTreeMap<NaiveDate, String> = BTreeMap::new();
    for range in hours.zone_closures()? {
        let zone = hours.zone.as_deref().unwrap_or_default();
        for day in range.from.iter_days().take_while(|day| *day <= range.to) {
            closed.insert(day, format!("vacances scolaires, zone {zone}"));
        }
    }
    for day in &hours.holidays {
        closed.insert(*day, "fermeture (sla.business_hours.holidays)".to_string());
    }
    for holiday in hours.calendar.holidays(year) {
        closed.insert(holiday.date, holiday.name.to_string());
    }
    let schedule = settings.sla_clock()?.hours;
    let in_year: Vec<_> = closed
        .iter()
        .filter(|(day, _)| day.year() == year)
        .collect();
    println!(
        "{} closed day(s) in {year} (calendar {}; open {} otherwise):",
        in_year.len(),
        serde_json::to_value(hours.calendar)?
            .as_str()
            .unwrap_or_default(),
        hours.days.join(", ")
    );
    for (day, why) in in_year {
        let weekly = if schedule.days[day.weekday().num_days_from_monday() as usize] {
            ""
        } else {
            " (closed that weekday anyway)"
        };
        println!("{day}  {}  {why}{weekly}", day.format("%a"));
    }
    Ok(ExitCode::SUCCESS)
}
