//! Deadlines of a ticket by priority class, in business hours.
//!
//! Commitments are counted in business time: a request that arrives on
//! Friday at 17:50 with a 15-minute target is due on Monday at 08:35.
//! Business hours are wall-clock times in Europe/Paris, the time of the
//! schools; instants are `DateTime<Utc>` everywhere else.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc,
};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use crate::intake::priority::Priority;

const CET: FixedOffset = match FixedOffset::east_opt(3600) {
    Some(offset) => offset,
    None => panic!("UTC+1 is a valid offset"),
};
const CEST: FixedOffset = match FixedOffset::east_opt(2 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+2 is a valid offset"),
};

/// The UTC offset of Europe/Paris at an instant.
///
/// Implements the EU rule in force since 1996 rather than pulling a time
/// zone database for one zone: summer time (CEST, UTC+2) from the last
/// Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC,
/// winter time (CET, UTC+1) otherwise. Wrong before 1996 and if the EU
/// ever changes the rule.
pub fn paris_offset(at: DateTime<Utc>) -> FixedOffset {
    let year = at.year();
    match (summer_time_change(year, 3), summer_time_change(year, 10)) {
        (Some(begins), Some(ends)) if begins <= at && at < ends => CEST,
        _ => CET,
    }
}

/// 01:00 UTC on the last Sunday of `month` (March or October, both 31 days).
fn summer_time_change(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let last_day = NaiveDate::from_ymd_opt(year, month, 31)?;
    let back_to_sunday = chrono::Days::new(u64::from(last_day.weekday().num_days_from_sunday()));
    let sunday = last_day.checked_sub_days(back_to_sunday)?;
    Some(sunday.and_hms_opt(1, 0, 0)?.and_utc())
}

/// An instant as Paris wall-clock time, e.g. to show a deadline.
pub fn to_paris(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&paris_offset(at))
}

/// The instant of a Paris wall-clock time.
///
/// Times that happen twice (the October night) give the first one; times
/// that do not exist (02:00–03:00 on the March night) are shifted forward
/// by the hour skipped, as RFC 5545 and JavaScript's Temporal do.
pub fn from_paris(local: NaiveDateTime) -> DateTime<Utc> {
    let assuming = |offset: FixedOffset| {
        local
            .checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc())))
            .map(|naive| naive.and_utc())
    };
    match assuming(CEST) {
        Some(summer) if paris_offset(summer) == CEST => summer,
        _ => assuming(CET).unwrap_or(DateTime::<Utc>::MIN_UTC),
    }
}

/// The Paris calendar day of an instant (the last representable day for
/// instants at the very end of chrono's range).
fn paris_date(at: DateTime<Utc>) -> NaiveDate {
    let offset = TimeDelta::seconds(i64::from(paris_offset(at).local_minus_utc()));
    at.naive_utc()
        .checked_add_signed(offset)
        .map_or(NaiveDate::MAX, |local| local.date())
}

/// When the desk works, in Europe/Paris wall-clock time.
///
/// An `end` of 00:00 means midnight at the end of the day, so
/// [`BusinessHours::always`] (every day 00:00–00:00, no holidays) is the
/// 24/7 schedule: its business time is plain elapsed time, DST included.
/// Closed days are the public holidays of `calendar` and the `holidays`
/// listed (closures, school holidays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Open days, Monday first.
    pub days: [bool; 7],
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Closed days besides the calendar's (closures, school holidays),
    /// Paris dates.
    pub holidays: Vec<NaiveDate>,
    /// Whose public holidays close the desk.
    pub calendar: Calendar,
}

/// A schedule that can never open, which would make every deadline
/// infinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BusinessHoursError {
    #[error("business hours open on no day of the week")]
    NoOpenDay,
    #[error("business hours end at {end} before they start at {start}")]
    EndsBeforeStart { start: NaiveTime, end: NaiveTime },
}

const DEFAULT_OPENING: NaiveTime = match NaiveTime::from_hms_opt(8, 30, 0) {
    Some(time) => time,
    None => panic!("08:30 is a valid time"),
};
const DEFAULT_CLOSING: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
    Some(time) => time,
    None => panic!("18:00 is a valid time"),
};

impl Default for BusinessHours {
    /// Monday to Friday, 08:30–18:00, no holidays (the configuration's
    /// default adds the French calendar).
    fn default() -> Self {
        Self {
            days: [true, true, true, true, true, false, false],
            start: DEFAULT_OPENING,
            end: DEFAULT_CLOSING,
            holidays: Vec::new(),
            calendar: Calendar::None,
        }
    }
}

impl BusinessHours {
    /// Around the clock, every day.
    pub fn always() -> Self {
        Self {
            days: [true; 7],
            start: NaiveTime::MIN,
            end: NaiveTime::MIN,
            holidays: Vec::new(),
            calendar: Calendar::None,
        }
    }

    /// Refuses schedules that never open; check them when loading the
    /// configuration, since the computations below then answer "never".
    pub fn validate(&self) -> Result<(), BusinessHoursError> {
        if !self.days.contains(&true) {
            return Err(BusinessHoursError::NoOpenDay);
        }
        if self.end <= self.start && self.end != NaiveTime::MIN {
            return Err(BusinessHoursError::EndsBeforeStart {
                start: self.start,
                end: self.end,
            });
        }
        Ok(())
    }

    /// Whether a Paris day is closed whatever its weekday: a public
    /// holiday of the calendar or a listed closure.
    pub fn is_closed(&self, day: NaiveDate) -> bool {
        self.holidays.contains(&day) || self.calendar.holiday_on(day).is_some()
    }

    /// The open period of a Paris day, as instants; `None` when closed.
    fn opening(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let weekday = day.weekday().num_days_from_monday() as usize;
        if !self.days[weekday] || self.is_closed(day) {
            return None;
        }
        let open = from_paris(day.and_time(self.start));
        let close = if self.end == NaiveTime::MIN {
            from_paris(day.succ_opt()?.and_time(NaiveTime::MIN))
        } else {
            from_paris(day.and_time(self.end))
        };
        (open < close).then_some((open, close))
    }

    /// The open periods from `not_before` on, the first one cut at
    /// `not_before`; one step per calendar day.
    fn openings_from(&self, not_before: DateTime<Utc>) -> Openings<'_> {
        let day = self.validate().is_ok().then(|| paris_date(not_before));
        Openings {
            hours: self,
            not_before,
            day,
        }
    }
}

struct Openings<'a> {
    hours: &'a BusinessHours,
    not_before: DateTime<Utc>,
    /// The next Paris day to look at; `None` once past chrono's last day.
    day: Option<NaiveDate>,
}

impl Iterator for Openings<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(day) = self.day {
            self.day = day.succ_opt();
            if let Some((open, close)) = self.hours.opening(day) {
                let open = open.max(self.not_before);
                if open < close {
                    return Some((open, close));
                }
            }
        }
        None
    }
}

/// The first instant at which `duration` of business time has elapsed
/// since `start`.
///
/// A period ending exactly at closing time gives the closing time, not the
/// next opening. A zero or negative duration gives `start`. Schedules that
/// fail [`BusinessHours::validate`] give `DateTime::<Utc>::MAX_UTC`
/// ("never"). Cost: one step per calendar day of the answer's span.
pub fn add_business_time(
    start: DateTime<Utc>,
    duration: TimeDelta,
    hours: &BusinessHours,
) -> DateTime<Utc> {
    if duration <= TimeDelta::zero() {
        return start;
    }
    let mut remaining = duration;
    for (open, close) in hours.openings_from(start) {
        let available = close - open;
        if remaining <= available {
            return open + remaining;
        }
        remaining -= available;
    }
    DateTime::<Utc>::MAX_UTC
}

/// The business time between two instants: how long handling really took.
/// Negative when `to` comes before `from`.
pub fn business_time_between(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    hours: &BusinessHours,
) -> TimeDelta {
    if to < from {
        return -business_time_between(to, from, hours);
    }
    hours
        .openings_from(from)
        .take_while(|(open, _)| *open < to)
        .map(|(open, close)| close.min(to) - open)
        .sum()
}

/// Commitments of one priority class, in minutes of business time so that
/// a TOML table can set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    /// From creation until an agent takes the ticket.
    pub take_charge_minutes: u32,
    /// From creation until the ticket is solved.
    pub resolution_minutes: u32,
}

impl SlaTargets {
    pub fn take_charge(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.take_charge_minutes))
    }

    pub fn resolution(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.resolution_minutes))
    }
}

/// Minutes in one business day of the default schedule (08:30–18:00).
const BUSINESS_DAY_MINUTES: u32 = 9 * 60 + 30;

/// The commitments of a regional service centre to schools, in business
/// time:
///
/// | class       | take charge | resolution                     |
/// |-------------|-------------|--------------------------------|
/// | `bloquante` | 15 min      | 4 h                            |
/// | `majeure`   | 1 h         | 2 business days (19 h)         |
/// | `mineure`   | 4 h         | 5 business days (47 h 30)      |
///
/// A whole service down stops teaching, hence the same half day; a major
/// feature missing can wait for a visit or an editor's answer; help and
/// minor issues fit in a week. Business days are those of the default
/// schedule, 9 h 30 each.
pub fn default_targets(priority: Priority) -> SlaTargets {
    match priority {
        Priority::Bloquante => SlaTargets {
            take_charge_minutes: 15,
            resolution_minutes: 4 * 60,
        },
        Priority::Majeure => SlaTargets {
            take_charge_minutes: 60,
            resolution_minutes: 2 * BUSINESS_DAY_MINUTES,
        },
        Priority::Mineure => SlaTargets {
            take_charge_minutes: 4 * 60,
            resolution_minutes: 5 * BUSINESS_DAY_MINUTES,
        },
    }
}

/// The commitments of every priority class, as a configuration table
/// (`[sla.bloquante]` with `take_charge_minutes` and `resolution_minutes`);
/// classes left out keep [`default_targets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaPolicy {
    pub bloquante: SlaTargets,
    pub majeure: SlaTargets,
    pub mineure: SlaTargets,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self {
            bloquante: default_targets(Priority::Bloquante),
            majeure: default_targets(Priority::Majeure),
            mineure: default_targets(Priority::Mineure),
        }
    }
}

impl SlaPolicy {
    pub fn targets(&self, priority: Priority) -> SlaTargets {
        match priority {
            Priority::Bloquante => self.bloquante,
            Priority::Majeure => self.majeure,
            Priority::Mineure => self.mineure,
        }
    }
}

/// When a ticket must be taken and solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub take_charge_by: DateTime<Utc>,
    pub resolve_by: DateTime<Utc>,
}

/// The deadlines of a ticket created at `created` with `priority`.
pub fn deadlines(
    created: DateTime<Utc>,
    priority: Priority,
    policy: &SlaPolicy,
    hours: &BusinessHours,
) -> Deadlines {
    let targets = policy.targets(priority);
    Deadlines {
        take_charge_by: add_business_time(created, targets.take_charge(), hours),
        resolve_by: add_business_time(created, targets.resolution(), hours),
    }
}

/// Targets, hours and warning delay together: what the desk needs to set
/// and watch deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    pub policy: SlaPolicy,
    pub hours: BusinessHours,
    pub warn_before: TimeDelta,
}

impl SlaClock {
    pub fn deadlines(&self, created: DateTime<Utc>, priority: Priority) -> Deadlines {
        deadlines(created, priority, &self.policy, &self.hours)
    }

    pub fn state(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) -> SlaState {
        state(deadline, now, self.warn_before)
    }
}

/// Where a ticket stands against one deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    OnTime,
    /// Within `warn_before` of the deadline: time to act.
    DueSoon,
    /// Past the deadline.
    Breached,
}

/// Compares `now` with a deadline. `warn_before` is plain elapsed time, so
/// that a warning is not delayed by a weekend; the deadline instant itself
/// is still on time (due soon).
pub fn state(deadline: DateTime<Utc>, now: DateTime<Utc>, warn_before: TimeDelta) -> SlaState {
    if now > deadline {
        SlaState::Breached
    } else if deadline - now <= warn_before {
        SlaState::DueSoon
    } else {
        SlaState::OnTime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Paris wall-clock time, e.g. `paris("2026-03-06 17:50")`.
    fn paris(text: &str) -> DateTime<Utc> {
        from_paris(NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap())
    }

    fn utc(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
    }

    fn minutes(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn paris_offset_changes_at_one_utc_on_the_last_sundays() {
        let cases = [
            ("2026-03-29 00:59:59", CET),
            ("2026-03-29 01:00:00", CEST),
            ("2026-10-25 00:59:59", CEST),
            ("2026-10-25 01:00:00", CET),
            ("2025-03-30 01:00:00", CEST),
            ("2025-03-29 12:00:00", CET),
            ("2025-10-26 00:59:59", CEST),
            ("2025-10-26 01:00:00", CET),
            ("2027-03-28 01:00:00", CEST),
            ("2027-10-31 00:59:59", CEST),
            ("2027-10-31 01:00:00", CET),
            ("2026-01-01 00:00:00", CET),
            ("2026-07-14 12:00:00", CEST),
            ("2026-12-31 23:59:59", CET),
        ];
        for (at, expected) in cases {
            assert_eq!(paris_offset(utc(at)), expected, "{at}");
        }
        assert_eq!(
            to_paris(utc("2026-07-14 10:00:00")).to_rfc3339(),
            "2026-07-14T12:00:00+02:00"
        );
    }

    #[test]
    fn paris_wall_clock_times_on_transition_nights() {
        // Ordinary times on both transition days.
        assert_eq!(paris("2026-03-29 01:59"), utc("2026-03-29 00:59:00"));
        assert_eq!(paris("2026-03-29 03:00"), utc("2026-03-29 01:00:00"));
        assert_eq!(paris("2026-10-25 03:00"), utc("2026-10-25 02:00:00"));
        assert_eq!(paris("2026-10-25 01:59"), utc("2026-10-24 23:59:00"));
        // 02:30 does not exist in March: shifted forward to 03:30 CEST.
        assert_eq!(paris("2026-03-29 02:30"), utc("2026-03-29 01:30:00"));
        // 02:30 happens twice in October: the first one, still CEST.
        assert_eq!(paris("2026-10-25 02:30"), utc("2026-10-25 00:30:00"));
        // Round trip on ordinary times.
        for at in [
            "2026-03-28 23:15:00",
            "2026-10-25 04:00:00",
            "2026-06-01 06:30:00",
        ] {
            let instant = utc(at);
            assert_eq!(from_paris(to_paris(instant).naive_local()), instant, "{at}");
        }
    }

    #[test]
    fn friday_evening_request_is_due_on_monday_morning() {
        let hours = BusinessHours::default();
        let friday = paris("2026-03-06 17:50");
        assert_eq!(
            add_business_time(friday, minutes(15), &hours),
            paris("2026-03-09 08:35")
        );
        assert_eq!(
            add_business_time(friday, minutes(10), &hours),
            paris("2026-03-06 18:00")
        );
        let after_closing = paris("2026-03-06 19:30");
        assert_eq!(
            add_business_time(after_closing, minutes(15), &hours),
            paris("2026-03-09 08:45")
        );
    }

    #[test]
    fn weekend_and_early_requests_count_from_the_opening() {
        let hours = BusinessHours::default();
        for arrival in ["2026-03-07 10:00", "2026-03-08 23:59", "2026-03-09 06:00"] {
            assert_eq!(
                add_business_time(paris(arrival), minutes(60), &hours),
                paris("2026-03-09 09:30"),
                "{arrival}"
            );
        }
        assert_eq!(
            business_time_between(paris("2026-03-07 10:00"), paris("2026-03-09 09:30"), &hours),
            minutes(60)
        );
    }

    #[test]
    fn holidays_are_skipped() {
        let hours = BusinessHours {
            holidays: vec![date("2026-05-01"), date("2026-05-08")],
            ..BusinessHours::default()
        };
        // Thursday 30 April 17:00 + 2 h: Friday 1 May is Labour Day.
        assert_eq!(
            add_business_time(paris("2026-04-30 17:00"), minutes(120), &hours),
            paris("2026-05-04 09:30")
        );
        // A request on the holiday itself counts from the next opening.
        assert_eq!(
            add_business_time(paris("2026-05-08 11:00"), minutes(15), &hours),
            paris("2026-05-11 08:45")
        );
        assert_eq!(
            business_time_between(paris("2026-04-30 08:30"), paris("2026-05-11 08:30"), &hours),
            minutes(5 * 570)
        );
    }

    /// A request on the evening before Ascension (Thursday 14 May 2026),
    /// with the Friday bridge closed as the school calendar does: its
    /// deadline lands on the Monday after the bridge.
    #[test]
    fn the_evening_before_ascension_is_due_after_the_bridge() {
        let french = BusinessHours {
            calendar: Calendar::France,
            ..BusinessHours::default()
        };
        let created = paris("2026-05-13 17:50");
        let one_hour = minutes(60);
        assert_eq!(
            add_business_time(created, one_hour, &french),
            paris("2026-05-15 09:20"),
            "Ascension is closed"
        );
        let with_bridge = BusinessHours {
            holidays: vec![date("2026-05-15")],
            ..french
        };
        assert_eq!(
            add_business_time(created, one_hour, &with_bridge),
            paris("2026-05-18 09:20")
        );
        // Without the calendar, Ascension counted as a working day.
        assert_eq!(
            add_business_time(created, one_hour, &BusinessHours::default()),
            paris("2026-05-14 09:20")
        );
    }

    #[test]
    fn dst_weekends_keep_wall_clock_hours() {
        let hours = BusinessHours::default();
        // March: Friday in CET, Monday in CEST.
        let friday = paris("2026-03-27 17:00");
        assert_eq!(friday, utc("2026-03-27 16:00:00"));
        let due = add_business_time(friday, minutes(120), &hours);
        assert_eq!(due, utc("2026-03-30 07:30:00"));
        assert_eq!(to_paris(due).to_rfc3339(), "2026-03-30T09:30:00+02:00");
        assert_eq!(business_time_between(friday, due, &hours), minutes(120));
        // October: Friday in CEST, Monday in CET.
        let friday = paris("2026-10-23 17:00");
        assert_eq!(friday, utc("2026-10-23 15:00:00"));
        let due = add_business_time(friday, minutes(120), &hours);
        assert_eq!(due, utc("2026-10-26 08:30:00"));
        assert_eq!(business_time_between(friday, due, &hours), minutes(120));
    }

    #[test]
    fn continuous_schedule_is_elapsed_time_across_dst() {
        let hours = BusinessHours::always();
        assert_eq!(hours.validate(), Ok(()));
        let saturday = utc("2026-03-28 12:00:00");
        assert_eq!(
            add_business_time(saturday, minutes(24 * 60), &hours),
            utc("2026-03-29 12:00:00")
        );
        // The March Sunday lasts 23 hours, the October one 25.
        assert_eq!(
            business_time_between(paris("2026-03-29 00:00"), paris("2026-03-30 00:00"), &hours),
            minutes(23 * 60)
        );
        assert_eq!(
            business_time_between(paris("2026-10-25 00:00"), paris("2026-10-26 00:00"), &hours),
            minutes(25 * 60)
        );
        let start = utc("2026-10-20 07:13:00");
        let three_weeks = minutes(21 * 24 * 60 + 17);
        assert_eq!(
            add_business_time(start, three_weeks, &hours),
            start + three_weeks
        );
    }

    #[test]
    fn long_spans_cross_many_weeks() {
        let hours = BusinessHours::default();
        // Ten full weeks of 47 h 30 end on the tenth Friday at closing time.
        let monday = paris("2026-01-05 08:30");
        let ten_weeks = minutes(10 * 5 * 570);
        assert_eq!(
            add_business_time(monday, ten_weeks, &hours),
            paris("2026-03-13 18:00")
        );
        assert_eq!(
            business_time_between(monday, paris("2026-03-16 08:30"), &hours),
            ten_weeks
        );
        // Five weeks across the March change.
        let monday = paris("2026-03-02 08:30");
        assert_eq!(
            add_business_time(monday, minutes(5 * 5 * 570), &hours),
            utc("2026-04-03 16:00:00")
        );
        // A year of stats: 261 weekdays in 2026.
        assert_eq!(
            business_time_between(paris("2026-01-01 00:00"), paris("2027-01-01 00:00"), &hours),
            minutes(261 * 570)
        );
    }

    #[test]
    fn zero_negative_and_reversed_spans() {
        let hours = BusinessHours::default();
        let saturday = paris("2026-03-07 10:00");
        assert_eq!(
            add_business_time(saturday, TimeDelta::zero(), &hours),
            saturday
        );
        assert_eq!(add_business_time(saturday, minutes(-5), &hours), saturday);
        let a = paris("2026-03-06 17:00");
        let b = paris("2026-03-09 09:00");
        assert_eq!(business_time_between(a, b, &hours), minutes(90));
        assert_eq!(business_time_between(b, a, &hours), minutes(-90));
        assert_eq!(business_time_between(a, a, &hours), TimeDelta::zero());
    }

    #[test]
    fn schedules_that_never_open_are_refused_and_mean_never() {
        let closed = BusinessHours {
            days: [false; 7],
            ..BusinessHours::default()
        };
        assert_eq!(closed.validate(), Err(BusinessHoursError::NoOpenDay));
        let now = paris("2026-03-06 10:00");
        assert_eq!(
            add_business_time(now, minutes(15), &closed),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            business_time_between(now, now + TimeDelta::days(30), &closed),
            TimeDelta::zero()
        );

        let backwards = BusinessHours {
            start: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(8, 30, 0).unwrap(),
            ..BusinessHours::default()
        };
        assert!(matches!(
            backwards.validate(),
            Err(BusinessHoursError::EndsBeforeStart { .. })
        ));
        assert_eq!(BusinessHours::default().validate(), Ok(()));

        let evening_until_midnight = BusinessHours {
            start: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            end: NaiveTime::MIN,
            ..BusinessHours::default()
        };
        assert_eq!(evening_until_midnight.validate(), Ok(()));
        assert_eq!(
            add_business_time(
                paris("2026-03-06 23:00"),
                minutes(90),
                &evening_until_midnight
            ),
            paris("2026-03-09 18:30")
        );
    }

    /// Deterministic pseudo-random numbers (64-bit LCG, Knuth's constants).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % bound
        }
    }

    #[test]
    fn adding_and_measuring_agree_on_generated_instants() {
        let with_holidays = BusinessHours {
            holidays: vec![
                date("2026-04-06"),
                date("2026-05-01"),
                date("2026-05-14"),
                date("2026-11-11"),
            ],
            ..BusinessHours::default()
        };
        let schedules = [with_holidays, BusinessHours::always()];
        let origin = utc("2026-01-01 00:00:00");
        let mut random = Lcg(42);
        for _ in 0..400 {
            let hours = &schedules[random.below(2) as usize];
            // Any minute of 2026, including both DST nights.
            let start = origin + minutes(random.below(365 * 24 * 60) as i64);
            let duration = minutes(1 + random.below(15 * 570) as i64);
            let due = add_business_time(start, duration, hours);
            assert!(due > start, "{start} + {duration}");
            assert_eq!(
                business_time_between(start, due, hours),
                duration,
                "{start} + {duration}"
            );
            // The answer is the first such instant: a minute earlier is short.
            assert_eq!(
                business_time_between(start, due - minutes(1), hours),
                duration - minutes(1),
                "{start} + {duration}"
            );

            let end = start + minutes(random.below(60 * 24 * 60) as i64);
            let measured = business_time_between(start, end, hours);
            let reached = add_business_time(start, measured, hours);
            assert!(reached <= end, "{start} → {end}");
            assert_eq!(
                business_time_between(reached, end, hours),
                TimeDelta::zero()
            );
        }
    }

    #[test]
    fn default_targets_by_class() {
        let expected = [
            (Priority::Bloquante, 15, 240),
            (Priority::Majeure, 60, 1140),
            (Priority::Mineure, 240, 2850),
        ];
        let policy = SlaPolicy::default();
        for (priority, take_charge, resolution) in expected {
            let targets = default_targets(priority);
            assert_eq!(
                targets.take_charge(),
                minutes(take_charge),
                "{}",
                priority.as_str()
            );
            assert_eq!(
                targets.resolution(),
                minutes(resolution),
                "{}",
                priority.as_str()
            );
            assert_eq!(policy.targets(priority), targets);
        }
    }

    #[test]
    fn policy_reads_from_a_partial_toml_table() {
        let policy: SlaPolicy =
            toml::from_str("[bloquante]\ntake_charge_minutes = 10\nresolution_minutes = 120\n")
                .unwrap();
        assert_eq!(
            policy.bloquante,
            SlaTargets {
                take_charge_minutes: 10,
                resolution_minutes: 120
            }
        );
        assert_eq!(policy.mineure, default_targets(Priority::Mineure));
        let typo =
            toml::from_str::<SlaPolicy>("[majeure]\ntake_charge = 10\nresolution_minutes = 1\n");
        assert!(typo.is_err());
    }

    #[test]
    fn deadlines_of_a_blocking_request_on_friday_evening() {
        let created = paris("2026-03-06 17:50");
        let due = deadlines(
            created,
            Priority::Bloquante,
            &SlaPolicy::default(),
            &BusinessHours::default(),
        );
        assert_eq!(due.take_charge_by, paris("2026-03-09 08:35"));
        // 10 minutes on Friday, 3 h 50 on Monday.
        assert_eq!(due.resolve_by, paris("2026-03-09 12:20"));

        let minor = deadlines(
            paris("2026-03-09 08:30"),
            Priority::Mineure,
            &SlaPolicy::default(),
            &BusinessHours::default(),
        );
        assert_eq!(minor.take_charge_by, paris("2026-03-09 12:30"));
        assert_eq!(minor.resolve_by, paris("2026-03-13 18:00"));
    }

    #[test]
    fn state_against_a_deadline() {
        let deadline = paris("2026-03-09 08:35");
        let warn = minutes(30);
        assert_eq!(
            state(deadline, paris("2026-03-06 17:55"), warn),
            SlaState::OnTime
        );
        assert_eq!(
            state(deadline, paris("2026-03-09 08:04"), warn),
            SlaState::OnTime
        );
        assert_eq!(
            state(deadline, paris("2026-03-09 08:05"), warn),
            SlaState::DueSoon
        );
        assert_eq!(state(deadline, deadline, warn), SlaState::DueSoon);
        assert_eq!(
            state(deadline, deadline + TimeDelta::seconds(1), warn),
            SlaState::Breached
        );
    }
}
