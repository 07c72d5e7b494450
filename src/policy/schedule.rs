//! AWS Backup schedule expressions, understood well enough to know the
//! longest and the shortest gap between two runs.
//!
//! `cron(Minutes Hours Day-of-month Month Day-of-week Year)` follows AWS's
//! six-field dialect (UTC, `?`, `L`, `W`, `#`, month and day names);
//! `rate(N unit)` is a fixed interval. The gaps decide whether a schedule can
//! meet the policy's RPO, so they are computed by walking a real calendar:
//! 28 years from a fixed date, the cycle after which weekdays and leap years
//! repeat, so the answer depends on nothing but the expression.

use std::collections::BTreeSet;
use std::fmt;

use super::duration::Duration;

/// A parsed schedule and what it means for recovery points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    expression: String,
    max_gap: Duration,
    min_gap: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{0}` is not a schedule: write `cron(M H DoM Mon DoW Y)` or `rate(N hours)`")]
    Malformed(String),
    #[error("cron needs 6 fields (minutes hours day-of-month month day-of-week year), found {0}")]
    FieldCount(usize),
    #[error("{field} field `{text}`: {why}")]
    Field { field: &'static str, text: String, why: String },
    #[error("one of day-of-month and day-of-week must be `?`, and only one")]
    DayQuestionMark,
    #[error("the year field restricts the schedule to some years: after them the table is no longer backed up")]
    FiniteYears,
    #[error("the schedule never runs")]
    NeverRuns,
    #[error(
        "`every: {0}` has no AWS Backup cron equivalent: use a number of hours that divides 24, `1d` or `7d`, or write `schedule: cron(...)`"
    )]
    EveryNotExpressible(Duration),
}

impl Schedule {
    /// Parses `cron(...)` or `rate(...)`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let trimmed = text.trim();
        if let Some(body) = trimmed.strip_prefix("cron(").and_then(|b| b.strip_suffix(')')) {
            let cron = Cron::parse(body)?;
            let (min_gap, max_gap) = cron.gaps()?;
            Ok(Self { expression: trimmed.to_string(), max_gap, min_gap })
        } else if let Some(body) = trimmed.strip_prefix("rate(").and_then(|b| b.strip_suffix(')')) {
            let every = parse_rate(body).ok_or_else(|| ScheduleError::Malformed(text.to_string()))?;
            Ok(Self { expression: trimmed.to_string(), max_gap: every, min_gap: every })
        } else {
            Err(ScheduleError::Malformed(text.to_string()))
        }
    }

    /// The `every: 6h` sugar, as the cron expression AWS Backup is given.
    pub fn every(interval: Duration) -> Result<Self, ScheduleError> {
        let minutes = interval.minutes();
        let expression = if minutes.is_multiple_of(60) && minutes < 24 * 60 && (24 * 60_u64).is_multiple_of(minutes) {
            format!("cron(0 0/{} * * ? *)", minutes / 60)
        } else if minutes == 24 * 60 {
            "cron(0 0 * * ? *)".to_string()
        } else if minutes == 7 * 24 * 60 {
            "cron(0 0 ? * 1 *)".to_string()
        } else {
            return Err(ScheduleError::EveryNotExpressible(interval));
        };
        Self::parse(&expression)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }
    /// The longest time between two runs: the worst-case age of the newest
    /// recovery point, which the RPO must cover.
    pub fn max_gap(&self) -> Duration {
        self.max_gap
    }
    /// The shortest time between two runs; AWS Backup refuses under an hour.
    pub fn min_gap(&self) -> Duration {
        self.min_gap
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

fn parse_rate(body: &str) -> Option<Duration> {
    let (count, unit) = body.trim().split_once(' ')?;
    let count: u64 = count.parse().ok().filter(|n| *n > 0 && *n < 1_000_000)?;
    let minutes = match unit.trim() {
        "minute" | "minutes" => count,
        "hour" | "hours" => count * 60,
        "day" | "days" => count * 24 * 60,
        _ => return None,
    };
    Some(Duration::from_minutes(minutes))
}

/// Day-of-month rule.
#[derive(Debug)]
enum MonthDay {
    Any,
    Days(Mask),
    Last,
    LastWeekday,
    NearestWeekday(u16),
}

/// Day-of-week rule; weekdays are numbered 1 (Sunday) to 7 (Saturday).
#[derive(Debug)]
enum WeekDay {
    Any,
    Days(Mask),
    LastOfMonth(u16),
    Nth { day: u16, nth: u16 },
}

/// A set of small numbers (all cron values but years are under 64), so the
/// calendar walk tests membership with one instruction.
#[derive(Debug, Clone, Copy)]
struct Mask(u64);

impl Mask {
    fn of(set: &BTreeSet<u16>) -> Self {
        Self(set.iter().fold(0, |mask, v| mask | (1 << v)))
    }
    fn contains(self, value: u16) -> bool {
        self.0 & (1 << value) != 0
    }
    fn values(self) -> impl Iterator<Item = u16> {
        (0..64).filter(move |v| self.contains(*v))
    }
}

#[derive(Debug)]
struct Cron {
    minutes: Mask,
    hours: Mask,
    month_day: MonthDay,
    months: Mask,
    week_day: WeekDay,
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// Weekdays and leap years repeat every 28 years between 1901 and 2099.
const CYCLE_YEARS: u16 = 28;
/// 1 January 2024 was a Monday.
const START_YEAR: u16 = 2024;

impl Cron {
    fn parse(body: &str) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(ScheduleError::FieldCount(fields.len()));
        };
        if year != "*" {
            // Validate the syntax first so a typo is not reported as a policy choice.
            parse_set("year", year, 1970, 2199, &[])?;
            return Err(ScheduleError::FiniteYears);
        }
        let (month_day, week_day) = match (dom, dow) {
            ("?", "?") => return Err(ScheduleError::DayQuestionMark),
            ("?", dow) => (MonthDay::Any, parse_week_day(dow)?),
            (dom, "?") => (parse_month_day(dom)?, WeekDay::Any),
            _ => return Err(ScheduleError::DayQuestionMark),
        };
        Ok(Self {
            minutes: Mask::of(&parse_set("minutes", minutes, 0, 59, &[])?),
            hours: Mask::of(&parse_set("hours", hours, 0, 23, &[])?),
            month_day,
            months: Mask::of(&parse_set("month", month, 1, 12, &MONTHS)?),
            week_day,
        })
    }

    /// (shortest, longest) gap between consecutive runs over a full cycle.
    ///
    /// Every matching day fires at the same minutes of the day, so only the
    /// gap inside a day and the gaps across consecutive matching days matter.
    fn gaps(&self) -> Result<(Duration, Duration), ScheduleError> {
        let times: Vec<u32> =
            self.hours.values().flat_map(|h| self.minutes.values().map(move |m| u32::from(h) * 60 + u32::from(m))).collect();
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Err(ScheduleError::NeverRuns);
        };
        let within_day = times.windows(2).map(|w| w[1] - w[0]);
        let (mut shortest, mut longest) = within_day.fold((u32::MAX, 0), |(lo, hi), g| (lo.min(g), hi.max(g)));

        if self.runs_every_day() {
            let wrap = 24 * 60 - last + first;
            return Ok((Duration::from_minutes(u64::from(shortest.min(wrap))), Duration::from_minutes(u64::from(longest.max(wrap)))));
        }
        let mut previous_day: Option<u32> = None;
        let mut first_day: Option<u32> = None;
        let mut index: u32 = 0;
        for day in calendar() {
            if self.matches(&day) {
                if let Some(previous) = previous_day {
                    let gap = (index - previous) * 24 * 60 - last + first;
                    shortest = shortest.min(gap);
                    longest = longest.max(gap);
                }
                first_day.get_or_insert(index);
                previous_day = Some(index);
            }
            index += 1;
        }
        let (Some(first_day), Some(last_day)) = (first_day, previous_day) else {
            return Err(ScheduleError::NeverRuns);
        };
        // The cycle repeats: the last run of one cycle is followed by the first of the next.
        let wrap = (index - last_day + first_day) * 24 * 60 - last + first;
        shortest = shortest.min(wrap);
        longest = longest.max(wrap);
        Ok((Duration::from_minutes(u64::from(shortest)), Duration::from_minutes(u64::from(longest))))
    }

    /// The common case needs no calendar: every day of every month.
    fn runs_every_day(&self) -> bool {
        let all_months = (1..=12).all(|m| self.months.contains(m));
        let all_days = match &self.month_day {
            MonthDay::Any => true,
            MonthDay::Days(days) => (1..=31).all(|d| days.contains(d)),
            _ => false,
        };
        let all_weekdays = match &self.week_day {
            WeekDay::Any => true,
            WeekDay::Days(days) => (1..=7).all(|d| days.contains(d)),
            _ => false,
        };
        all_months && all_days && all_weekdays
    }

    fn matches(&self, day: &Day) -> bool {
        self.months.contains(day.month) && self.month_day_matches(day) && self.week_day_matches(day)
    }

    fn month_day_matches(&self, day: &Day) -> bool {
        match &self.month_day {
            MonthDay::Any => true,
            MonthDay::Days(days) => days.contains(day.day),
            MonthDay::Last => day.day == day.days_in_month,
            MonthDay::LastWeekday => Some(day.day) == day.nearest_weekday(day.days_in_month),
            MonthDay::NearestWeekday(target) => Some(day.day) == day.nearest_weekday(*target),
        }
    }

    fn week_day_matches(&self, day: &Day) -> bool {
        match &self.week_day {
            WeekDay::Any => true,
            WeekDay::Days(days) => days.contains(day.weekday),
            WeekDay::LastOfMonth(target) => day.weekday == *target && day.day + 7 > day.days_in_month,
            WeekDay::Nth { day: target, nth } => day.weekday == *target && (day.day - 1) / 7 + 1 == *nth,
        }
    }
}

/// One day of the calendar walk; weekdays numbered 1 (Sunday) to 7.
struct Day {
    month: u16,
    day: u16,
    days_in_month: u16,
    weekday: u16,
}

impl Day {
    fn weekday_of(&self, day: u16) -> u16 {
        (self.weekday - 1 + 7 * 5 + day - self.day) % 7 + 1
    }

    /// The weekday nearest to `target` in this month, never crossing into
    /// another month (AWS's `W`).
    fn nearest_weekday(&self, target: u16) -> Option<u16> {
        if target > self.days_in_month {
            return None;
        }
        Some(match self.weekday_of(target) {
            7 if target == 1 => 3,
            7 => target - 1,
            1 if target == self.days_in_month => target - 2,
            1 => target + 1,
            _ => target,
        })
    }
}

fn is_leap(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Every day of the cycle, from 1 January of `START_YEAR` (a Monday).
fn calendar() -> impl Iterator<Item = Day> {
    let mut weekday = 2;
    (START_YEAR..START_YEAR + CYCLE_YEARS).flat_map(|year| (1..=12).map(move |month| (year, month))).flat_map(move |(year, month)| {
        let days_in_month = match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let first_weekday = weekday;
        weekday = (weekday - 1 + days_in_month) % 7 + 1;
        (1..=days_in_month).map(move |day| Day { month, day, days_in_month, weekday: (first_weekday - 1 + day - 1) % 7 + 1 })
    })
}

fn parse_month_day(text: &str) -> Result<MonthDay, ScheduleError> {
    let field_error = |why: &str| ScheduleError::Field { field: "day-of-month", text: text.into(), why: why.into() };
    match text {
        "*" => Ok(MonthDay::Any),
        "L" => Ok(MonthDay::Last),
        "LW" => Ok(MonthDay::LastWeekday),
        _ if text.ends_with('W') => {
            let day: u16 = text[..text.len() - 1].parse().map_err(|_| field_error("`W` follows a day number, as in `15W`"))?;
            if (1..=31).contains(&day) { Ok(MonthDay::NearestWeekday(day)) } else { Err(field_error("days of the month run from 1 to 31")) }
        }
        _ => Ok(MonthDay::Days(Mask::of(&parse_set("day-of-month", text, 1, 31, &[])?))),
    }
}

fn parse_week_day(text: &str) -> Result<WeekDay, ScheduleError> {
    let field_error = |why: &str| ScheduleError::Field { field: "day-of-week", text: text.into(), why: why.into() };
    if text == "*" {
        return Ok(WeekDay::Any);
    }
    if text == "L" {
        return Ok(WeekDay::Days(Mask::of(&BTreeSet::from([7]))));
    }
    if let Some((day, nth)) = text.split_once('#') {
        let day = parse_value(day, 1, 7, &WEEKDAYS).ok_or_else(|| field_error("`#` follows a weekday 1-7 or SUN-SAT"))?;
        let nth: u16 = nth.parse().ok().filter(|n| (1..=5).contains(n)).ok_or_else(|| field_error("`#n` counts weeks 1 to 5"))?;
        return Ok(WeekDay::Nth { day, nth });
    }
    if let Some(day) = text.strip_suffix('L') {
        let day = parse_value(day, 1, 7, &WEEKDAYS).ok_or_else(|| field_error("`L` follows a weekday 1-7 or SUN-SAT"))?;
        return Ok(WeekDay::LastOfMonth(day));
    }
    Ok(WeekDay::Days(Mask::of(&parse_set("day-of-week", text, 1, 7, &WEEKDAYS)?)))
}

/// A comma list of `*`, `n`, `a-b`, `*/s`, `a/s` and `a-b/s`.
fn parse_set(field: &'static str, text: &str, low: u16, high: u16, names: &[&str]) -> Result<BTreeSet<u16>, ScheduleError> {
    let error = |why: String| ScheduleError::Field { field, text: text.to_string(), why };
    let range_hint = || {
        if names.is_empty() {
            format!("values run from {low} to {high}")
        } else {
            format!("values run from {low} to {high} or {}-{}", names[0], names[names.len() - 1])
        }
    };
    let mut set = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u16 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0 && *s <= high)
                    .ok_or_else(|| error(format!("step `{step}` must be 1 to {high}")))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((a, b)) => (
                    parse_value(a, low, high, names).ok_or_else(|| error(range_hint()))?,
                    parse_value(b, low, high, names).ok_or_else(|| error(range_hint()))?,
                ),
                // `5/15` means from 5 to the end in steps of 15.
                None if step > 1 => (parse_value(range, low, high, names).ok_or_else(|| error(range_hint()))?, high),
                None => {
                    let value = parse_value(range, low, high, names).ok_or_else(|| error(range_hint()))?;
                    (value, value)
                }
            },
        };
        if from > to {
            return Err(error(format!("range {from}-{to} runs backwards")));
        }
        set.extend((from..=to).step_by(usize::from(step)));
    }
    Ok(set)
}

fn parse_value(text: &str, low: u16, high: u16, names: &[&str]) -> Option<u16> {
    let value = match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        Some(index) => low + index as u16,
        None if text.len() <= 4 => text.parse::<u16>().ok()?,
        None => return None,
    };
    (low..=high).contains(&value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w_is_the_nearest_weekday_within_the_month() {
        // February 2026 starts on a Sunday (1); seen from the 1st and the 10th.
        for today in [Day { month: 2, day: 1, days_in_month: 28, weekday: 1 }, Day { month: 2, day: 10, days_in_month: 28, weekday: 3 }] {
            let nearest: Vec<Option<u16>> = [1, 7, 10, 14, 15, 28, 29].iter().map(|d| today.nearest_weekday(*d)).collect();
            assert_eq!(nearest, [Some(2), Some(6), Some(10), Some(13), Some(16), Some(27), None], "seen from day {}", today.day);
        }
        // August 2026 starts on a Saturday: 1W is Monday the 3rd; the 31st is a Monday.
        let august = Day { month: 8, day: 1, days_in_month: 31, weekday: 7 };
        assert_eq!((august.nearest_weekday(1), august.nearest_weekday(31)), (Some(3), Some(31)));
        // May 2026 ends on a Sunday: 31W is Friday the 29th.
        let may = Day { month: 5, day: 1, days_in_month: 31, weekday: 6 };
        assert_eq!(may.nearest_weekday(31), Some(29));
    }

    #[test]
    fn a_schedule_prints_as_written() {
        let schedule = Schedule::parse("cron(0 */6 * * ? *)").unwrap();
        assert_eq!(schedule.to_string(), "cron(0 */6 * * ? *)");
    }

    #[test]
    fn a_rate_reads_minutes_hours_and_days() {
        let minutes = |body: &str| parse_rate(body).map(|d| d.minutes());
        assert_eq!(minutes("30 minutes"), Some(30));
        assert_eq!(minutes("1 minute"), Some(1));
        assert_eq!(minutes("6 hours"), Some(360));
        assert_eq!(minutes("1 hour"), Some(60));
        assert_eq!(minutes("2 days"), Some(2880));
        assert_eq!(minutes("1 day"), Some(1440));
        for bad in ["0 hours", "1000000 minutes", "6 weeks", "six hours", "6"] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
        assert_eq!(minutes("999999 minutes"), Some(999_999));
    }

    fn gaps(expression: &str) -> (String, String) {
        let schedule = Schedule::parse(expression).unwrap();
        (schedule.min_gap().to_string(), schedule.max_gap().to_string())
    }

    #[test]
    fn regular_schedules() {
        assert_eq!(gaps("cron(0 */6 * * ? *)"), ("6h".into(), "6h".into()));
        assert_eq!(gaps("cron(0 5 * * ? *)"), ("1d".into(), "1d".into()));
        assert_eq!(gaps("cron(30 1,13 * * ? *)"), ("12h".into(), "12h".into()));
        assert_eq!(gaps("rate(12 hours)"), ("12h".into(), "12h".into()));
        assert_eq!(gaps("rate(1 day)"), ("1d".into(), "1d".into()));
    }

    #[test]
    fn uneven_schedules_report_the_longest_gap() {
        // Weekdays only: Friday 02:00 to Monday 02:00.
        assert_eq!(gaps("cron(0 2 ? * MON-FRI *)"), ("1d".into(), "3d".into()));
        assert_eq!(gaps("cron(0 2 ? * 2-6 *)"), ("1d".into(), "3d".into()));
        // Hours 8 to 20 every 4 hours: 8, 12, 16, 20, then 12 hours to 8.
        assert_eq!(gaps("cron(0 8-20/4 * * ? *)"), ("4h".into(), "12h".into()));
    }

    #[test]
    fn monthly_rules_l_w_and_hash() {
        // Last day of the month: 28 to 31 days apart.
        assert_eq!(gaps("cron(0 0 L * ? *)"), ("28d".into(), "31d".into()));
        // First of the month.
        assert_eq!(gaps("cron(0 0 1 * ? *)"), ("28d".into(), "31d".into()));
        // Nearest weekday to the 15th wanders by up to two days either way.
        let (min, max) = gaps("cron(0 0 15W * ? *)");
        assert!(min.ends_with('d') && max.ends_with('d'));
        assert_eq!(Schedule::parse("cron(0 0 15W * ? *)").unwrap().max_gap(), Duration::from_days(32));
        // Third Monday and last Friday of each month: five weeks at most.
        assert_eq!(Schedule::parse("cron(0 0 ? * 2#3 *)").unwrap().max_gap(), Duration::from_days(35));
        assert_eq!(Schedule::parse("cron(0 0 ? * 6L *)").unwrap().max_gap(), Duration::from_days(35));
        assert_eq!(Schedule::parse("cron(0 0 ? * MON#1 *)").unwrap().min_gap(), Duration::from_days(28));
    }

    #[test]
    fn last_weekday_rules_at_their_exact_gaps() {
        // Expected values from an independent walk of 2024-2051 with
        // Python's calendar module (the 28-year cycle this code walks).
        assert_eq!(gaps("cron(0 0 LW * ? *)"), ("28d".into(), "33d".into()));
        assert_eq!(gaps("cron(0 0 ? * 6L *)"), ("28d".into(), "35d".into()));
    }

    #[test]
    fn nth_weekday_and_nearest_weekday_rules_at_their_exact_gaps() {
        // Expected values from an independent walk of the 28-year cycle
        // with Python's calendar module (AWS's rules: `#` the nth weekday of
        // the month; `W` the nearest weekday, never crossing the month: a
        // Saturday 1st moves to Monday the 3rd, a Sunday last day to Friday).
        for (expression, expected) in [
            ("cron(0 0 ? * 2#3 *)", ("28d", "35d")),
            ("cron(0 0 ? * 1#2 *)", ("28d", "35d")),
            ("cron(0 0 ? * 6#5 *)", ("63d", "119d")),
            ("cron(0 0 15W * ? *)", ("28d", "32d")),
            ("cron(0 0 1W * ? *)", ("28d", "33d")),
            ("cron(0 0 30W * ? *)", ("29d", "61d")),
            ("cron(0 0 31W * ? *)", ("29d", "63d")),
        ] {
            assert_eq!(gaps(expression), (expected.0.into(), expected.1.into()), "{expression}");
        }
    }

    #[test]
    fn a_walked_schedule_off_midnight_wraps_to_the_same_minute() {
        // The cycle's last run (1 January 2051) to the next cycle's first
        // (1 January 2052) is 365 days whatever the time of day.
        assert_eq!(gaps("cron(30 1 1 JAN ? *)"), ("365d".into(), "366d".into()));
    }

    #[test]
    fn yearly_schedule_wraps_across_the_cycle() {
        assert_eq!(Schedule::parse("cron(0 0 1 JAN ? *)").unwrap().max_gap(), Duration::from_days(366));
        // 29 February only: up to 8 years apart (2096 to 2104 skips 2100), at least 4.
        assert!(Schedule::parse("cron(0 0 29 2 ? *)").unwrap().max_gap() >= Duration::from_days(4 * 365));
    }

    #[test]
    fn every_sugar_becomes_cron() {
        assert_eq!(Schedule::every(Duration::from_hours(6)).unwrap().expression(), "cron(0 0/6 * * ? *)");
        assert_eq!(Schedule::every(Duration::from_hours(6)).unwrap().max_gap(), Duration::from_hours(6));
        assert_eq!(Schedule::every(Duration::from_days(1)).unwrap().max_gap(), Duration::from_days(1));
        assert_eq!(Schedule::every(Duration::from_days(7)).unwrap().max_gap(), Duration::from_days(7));
        assert!(matches!(Schedule::every(Duration::from_hours(5)), Err(ScheduleError::EveryNotExpressible(_))));
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in [
            "",
            "cron(0 */6 * * *)",
            "cron(0 */6 * * * *)",
            "cron(0 */6 * * ? ? )",
            "cron(60 * * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 0 32 * ? *)",
            "cron(0 0 ? * 8 *)",
            "cron(0 0 ? * 2#6 *)",
            "cron(0 0 ? FOO ? *)",
            "cron(0 0/0 * * ? *)",
            "cron(0 5-1 * * ? *)",
            "cron(0 0 1 * ? 2025)",
            "cron(0 0 31 2 ? *)",
            "rate(0 hours)",
            "rate(6 fortnights)",
            "every 6h",
            "cron(0 99999999999 * * ? *)",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
