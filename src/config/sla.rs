//! The `[sla]` section: the deadlines per priority class, when the team is
//! warned, and the business hours they are counted in, checked into a
//! schedule.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};
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
    pub holidays: Vec<chrono::NaiveDate>,
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
        let hours = BusinessHours {
            days,
            start: time("start", &self.start)?,
            end: time("end", &self.end)?,
            holidays: self.holidays.clone(),
        };
        hours.validate().map_err(|e| invalid(key, e.to_string()))?;
        Ok(hours)
    }
}
