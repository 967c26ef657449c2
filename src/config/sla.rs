//! The `[sla]` section: the deadlines per priority class, when the team is
//! warned, and the business hours they are counted in, checked into a
//! schedule.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};
use crate::desk::calendar::Calendar;
use crate::desk::sla::{BusinessHours, SlaPolicy};

/// Service-level commitments and the hours they are counted in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSettings {
    /// Per priority class, in business minutes.
    #[serde(default)]
    pub targets: SlaPolicy,
    /// How long before a deadline the team is warned (elapsed minutes).
    #[serde(default = "default_warn_before")]
    pub warn_before_minutes: u32,
    #[serde(default)]
    pub business_hours: BusinessHoursSettings,
}

fn default_warn_before() -> u32 {
    30
}

impl Default for SlaSettings {
    fn default() -> Self {
        Self {
            targets: SlaPolicy::default(),
            warn_before_minutes: default_warn_before(),
            business_hours: BusinessHoursSettings::default(),
        }
    }
}

/// When the desk works, Europe/Paris time. `end = "00:00"` means midnight
/// at the end of the day; all seven days 00:00–00:00 is around the clock.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursSettings {
    /// Open days: `mon`, `tue`… (or full English names).
    pub days: Vec<String>,
    /// `HH:MM`.
    pub start: String,
    pub end: String,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Whose public holidays close the desk: `france` (the default),
    /// `alsace-moselle` (adds Good Friday and 26 December) or `none`.
    #[serde(default = "default_calendar")]
    pub calendar: Calendar,
    /// The school-holiday zone whose closures apply (`A`, `B`, `C`,
    /// `corse`…), one of `school_holidays`' keys.
    #[serde(default)]
    pub zone: Option<String>,
    /// School-holiday closures per zone, as date ranges.
    #[serde(default)]
    pub school_holidays: BTreeMap<String, Vec<DateRange>>,
}

/// The days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The longest closure range accepted: the summer holidays are some 60
/// days; a longer range is a typo in a year.
const LONGEST_CLOSURE_DAYS: i64 = 100;

fn default_calendar() -> Calendar {
    Calendar::France
}

impl Default for BusinessHoursSettings {
    fn default() -> Self {
        Self {
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "08:30".into(),
            end: "18:00".into(),
            holidays: Vec::new(),
            calendar: default_calendar(),
            zone: None,
            school_holidays: BTreeMap::new(),
        }
    }
}

impl BusinessHoursSettings {
    /// The schedule, checked; the error names the key at fault.
    pub fn schedule(&self) -> Result<BusinessHours, ConfigError> {
        let key = "sla.business_hours";
        let mut days = [false; 7];
        for day in &self.days {
            let weekday: chrono::Weekday = day
                .parse()
                .map_err(|_| invalid(format!("{key}.days"), format!("{day:?} is not a day")))?;
            days[weekday.num_days_from_monday() as usize] = true;
        }
        let time = |name: &str, text: &str| {
            chrono::NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| invalid(format!("{key}.{name}"), format!("{text:?} is not HH:MM")))
        };
        let mut holidays = self.holidays.clone();
        for range in self.zone_closures()? {
            holidays.extend(range.from.iter_days().take_while(|day| *day <= range.to));
        }
        let hours = BusinessHours {
            days,
            start: time("start", &self.start)?,
            end: time("end", &self.end)?,
            holidays,
            calendar: self.calendar,
        };
        hours.validate().map_err(|e| invalid(key, e.to_string()))?;
        Ok(hours)
    }

    /// The school-holiday closures of the configured zone, checked: a zone
    /// named with no ranges, ranges with no zone to choose them, a range
    /// that ends before it starts or is implausibly long.
    pub fn zone_closures(&self) -> Result<Vec<DateRange>, ConfigError> {
        let key = "sla.business_hours";
        let Some(zone) = &self.zone else {
            if self.school_holidays.is_empty() {
                return Ok(Vec::new());
            }
            return Err(invalid(
                format!("{key}.zone"),
                "school_holidays are given: say which zone's apply (zone = \"A\")",
            ));
        };
        let ranges = self
            .school_holidays
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(zone))
            .map(|(_, ranges)| ranges)
            .ok_or_else(|| {
                invalid(
                    format!("{key}.zone"),
                    format!("no school_holidays are given for zone {zone:?}"),
                )
            })?;
        for range in ranges {
            let days = (range.to - range.from).num_days();
            if !(0..LONGEST_CLOSURE_DAYS).contains(&days) {
                return Err(invalid(
                    format!("{key}.school_holidays.{zone}"),
                    format!(
                        "{} to {} is not a closure of 1 to {LONGEST_CLOSURE_DAYS} days",
                        range.from, range.to
                    ),
                ));
            }
        }
        Ok(ranges.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> BusinessHoursSettings {
        toml::from_str(&format!(
            "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart = \"08:30\"\nend = \"18:00\"\n{toml_text}"
        ))
        .unwrap()
    }

    /// The zone's ranges close every day they span, both ends included;
    /// the French calendar is on unless `none` is written.
    #[test]
    fn the_zone_s_school_holidays_close_the_desk() {
        let hours = settings(
            "zone = \"a\"\n[[school_holidays.A]]\nfrom = \"2026-05-15\"\nto = \"2026-05-17\"\n",
        )
        .schedule()
        .unwrap();
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        assert!(hours.is_closed(day("2026-05-14")), "Ascension");
        assert!(hours.is_closed(day("2026-05-15")) && hours.is_closed(day("2026-05-17")));
        assert!(!hours.is_closed(day("2026-05-18")));
        let none = settings("calendar = \"none\"\n").schedule().unwrap();
        assert!(!none.is_closed(day("2026-05-14")));
    }

    #[test]
    fn school_holidays_need_a_zone_and_sensible_ranges() {
        let ranges = "[[school_holidays.A]]\nfrom = \"2026-05-15\"\nto = \"2026-05-17\"\n";
        let error = settings(ranges).schedule().unwrap_err().to_string();
        assert!(error.contains("sla.business_hours.zone"), "{error}");
        let backwards =
            "zone = \"A\"\n[[school_holidays.A]]\nfrom = \"2026-05-17\"\nto = \"2026-05-15\"\n";
        let error = settings(backwards).schedule().unwrap_err().to_string();
        assert!(error.contains("school_holidays.A"), "{error}");
        let a_year_off =
            "zone = \"A\"\n[[school_holidays.A]]\nfrom = \"2026-07-04\"\nto = \"2027-08-31\"\n";
        assert!(settings(a_year_off).schedule().is_err());
    }
}
