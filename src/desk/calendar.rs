//! The French public holidays, computed for any year (pure): the fixed
//! dates, and those that follow Easter (Easter Monday, Ascension, Whit
//! Monday); Good Friday and 26 December in Alsace-Moselle, where the local
//! law of 1892 still adds them. The SLA clock (`desk::sla`) skips them.

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Which public holidays close the desk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Calendar {
    /// None: only the configured closures.
    #[default]
    None,
    /// The eleven public holidays of the Code du travail (art. L3133-1).
    France,
    /// France's, with Good Friday and 26 December (Bas-Rhin, Haut-Rhin,
    /// Moselle).
    AlsaceMoselle,
}

/// One public holiday of a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    /// Its French name, as a site's staff knows it.
    pub name: &'static str,
}

/// The first year of the Gregorian calendar everywhere the computus below
/// is right.
pub const FIRST_YEAR: i32 = 1583;

/// Easter Sunday of a Gregorian year (the anonymous "Meeus/Jones/Butcher"
/// computus); `None` before [`FIRST_YEAR`] or past chrono's range.
pub fn easter(year: i32) -> Option<NaiveDate> {
    if year < FIRST_YEAR {
        return None;
    }
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

impl Calendar {
    /// The public holidays of `year`, in date order; none for
    /// [`Calendar::None`] or a year the computus does not cover.
    pub fn holidays(self, year: i32) -> Vec<Holiday> {
        let Some(easter) = easter(year).filter(|_| self != Calendar::None) else {
            return Vec::new();
        };
        let fixed = |month, day, name| {
            NaiveDate::from_ymd_opt(year, month, day).map(|date| Holiday { date, name })
        };
        let after_easter = |days: i64, name| {
            let date = if days >= 0 {
                easter.checked_add_days(Days::new(days.unsigned_abs()))
            } else {
                easter.checked_sub_days(Days::new(days.unsigned_abs()))
            };
            date.map(|date| Holiday { date, name })
        };
        let mut holidays: Vec<Holiday> = [
            fixed(1, 1, "Jour de l'an"),
            after_easter(1, "Lundi de Pâques"),
            fixed(5, 1, "Fête du Travail"),
            fixed(5, 8, "Victoire 1945"),
            after_easter(39, "Ascension"),
            after_easter(50, "Lundi de Pentecôte"),
            fixed(7, 14, "Fête nationale"),
            fixed(8, 15, "Assomption"),
            fixed(11, 1, "Toussaint"),
            fixed(11, 11, "Armistice 1918"),
            fixed(12, 25, "Noël"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self == Calendar::AlsaceMoselle {
            holidays.extend(after_easter(-2, "Vendredi saint"));
            holidays.extend(fixed(12, 26, "Saint-Étienne"));
        }
        holidays.sort_by_key(|h| h.date);
        holidays
    }

    /// The public holiday on `day`, if it is one.
    pub fn holiday_on(self, day: NaiveDate) -> Option<Holiday> {
        self.holidays(day.year())
            .into_iter()
            .find(|h| h.date == day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn easter_of_known_years() {
        for (year, sunday) in [
            (2000, "2000-04-23"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter(year), Some(date(sunday)), "{year}");
        }
        assert_eq!(easter(1582), None);
    }

    #[test]
    fn the_french_holidays_of_2026() {
        let dates: Vec<String> = Calendar::France
            .holidays(2026)
            .iter()
            .map(|h| h.date.to_string())
            .collect();
        assert_eq!(
            dates,
            [
                "2026-01-01",
                "2026-04-06",
                "2026-05-01",
                "2026-05-08",
                "2026-05-14",
                "2026-05-25",
                "2026-07-14",
                "2026-08-15",
                "2026-11-01",
                "2026-11-11",
                "2026-12-25"
            ]
        );
        assert_eq!(
            Calendar::France
                .holiday_on(date("2027-05-06"))
                .map(|h| h.name),
            Some("Ascension")
        );
        assert!(Calendar::None.holidays(2026).is_empty());
    }

    #[test]
    fn alsace_moselle_adds_good_friday_and_saint_stephen() {
        let alsace = Calendar::AlsaceMoselle;
        assert_eq!(
            alsace.holiday_on(date("2025-04-18")).map(|h| h.name),
            Some("Vendredi saint")
        );
        assert_eq!(
            alsace.holiday_on(date("2026-12-26")).map(|h| h.name),
            Some("Saint-Étienne")
        );
        assert_eq!(alsace.holidays(2026).len(), 13);
        assert_eq!(Calendar::France.holiday_on(date("2026-04-03")), None);
    }
}
