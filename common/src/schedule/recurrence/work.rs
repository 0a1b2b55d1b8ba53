//! How much work listing a recurrence's runs takes, and the budget that bounds it.
//!
//! The `rrule` crate walks a rule period by period (a year for `FREQ=YEARLY`, a second for
//! `FREQ=SECONDLY`) and examines every candidate time of each period against the rule's `BY*`
//! parts. Counting occurrences says little about that work: `FREQ=SECONDLY;BYSECOND=0` examines
//! sixty candidates for each occurrence it keeps, and a `BYSETPOS` keeps one of a whole year's
//! candidates. The crate does not report what it examined, so the work is estimated from the
//! rule and the stretch of wall time it has walked: an upper bound on the candidates examined,
//! computed without iterating. The estimate is deterministic, so whether a schedule fits the
//! budget does not depend on the machine or its load.

use chrono::{Datelike, NaiveDateTime};
use rrule::{Frequency, RRule, Unvalidated};

use super::error;
use crate::validation::FieldError;

/// Candidate times one listing of a schedule's runs may examine, across all of its rules: 70–90
/// ms of one core in a release build (measured with `FREQ=SECONDLY;BYSECOND=0` and
/// `FREQ=MINUTELY`, both walked from a distant `DTSTART` with `COUNT`), about ten times that in a
/// debug build.
pub const MAX_WORK: u64 = 1_000_000;

/// The work one rule does per unit of wall time it walks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cost {
    unit: Unit,
    /// Candidates examined per unit (at least 1).
    per_unit: u64,
}

/// What the crate handles in one step of its loop, for counting the steps between two times.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// `INTERVAL` years, months, weeks or days: one period of the rule.
    Years(i64),
    Months(i64),
    Weeks(i64),
    Days(i64),
    /// Sub-daily rules are costed per day (within a day the crate steps through hours, then
    /// minutes of matching hours, then seconds of matching minutes) and charged in proportion to
    /// the time walked, so a short walk of a fine rule is not charged a whole day. A day's work
    /// sits in its matching hours (at most `hours` of them), so a walk inside them is charged
    /// at their rate instead of the day's average.
    SubDaily {
        hours: u64,
    },
}

/// How many values a `BY*` list allows: its length, or `all` when it is empty.
fn allowed(values: usize, all: u64) -> u64 {
    if values == 0 {
        all
    } else {
        values as u64
    }
}

/// At most how many of a period's `days` the rule's day parts let through, from the parts that
/// bound it simply (a list of month days or year days alone, months, weekdays); the rest is
/// assumed to let every day through.
fn days_passing(rule: &RRule<Unvalidated>, days: u64) -> u64 {
    let months = allowed(rule.get_by_month().len(), 12);
    let month_days = rule.get_by_month_day().len() as u64;
    let year_days = rule.get_by_year_day().len() as u64;
    let weekdays = rule.get_by_weekday().len() as u64;
    let others_empty = rule.get_by_week_no().is_empty() && weekdays == 0;
    let mut passing = days.min(months * 31);
    if others_empty && year_days == 0 && month_days > 0 {
        passing = passing.min(months * month_days);
    }
    if others_empty && month_days == 0 && year_days > 0 {
        passing = passing.min(year_days);
    }
    if rule.get_freq() == Frequency::Weekly && weekdays > 0 {
        passing = passing.min(weekdays);
    }
    passing
}

impl Cost {
    /// The cost of a rule whose inherited parts are explicit (see `inherit_from_start`).
    pub(super) fn of(rule: &RRule<Unvalidated>) -> Self {
        let interval = i64::from(rule.get_interval().max(1));
        let hours = allowed(rule.get_by_hour().len(), 24);
        let minutes = allowed(rule.get_by_minute().len(), 60);
        let seconds = allowed(rule.get_by_second().len(), 60);
        // Candidate times of one day in a daily-or-longer period: every BYHOUR × BYMINUTE ×
        // BYSECOND combination (all three are explicit for these frequencies).
        let times = hours * minutes * seconds;
        let every = |steps_per_day: u64| steps_per_day.div_ceil(interval.unsigned_abs()).max(1);
        // A period's days are all checked against the day parts; the candidate times are tried
        // on the days that pass.
        let period = |days: u64| days + days_passing(rule, days) * times;
        let (unit, per_unit) = match rule.get_freq() {
            Frequency::Yearly => (Unit::Years(interval), period(366)),
            Frequency::Monthly => (Unit::Months(interval), period(31)),
            Frequency::Weekly => (Unit::Weeks(interval), period(7)),
            Frequency::Daily => (Unit::Days(interval), times),
            // Hours scanned, then each matching hour's BYMINUTE × BYSECOND candidates.
            Frequency::Hourly => (
                Unit::SubDaily {
                    hours: every(24).min(hours),
                },
                24 + every(24).min(hours) * minutes * seconds,
            ),
            // Hours scanned, the minutes of matching hours, then each matching minute's BYSECOND
            // candidates (an interval steps over minutes).
            Frequency::Minutely => (
                Unit::SubDaily {
                    hours: every(1440).min(hours),
                },
                24 + every(1440).min(hours * 60) + every(1440).min(hours * minutes) * seconds,
            ),
            // Hours scanned, the minutes of matching hours, the seconds of matching minutes.
            Frequency::Secondly => (
                Unit::SubDaily {
                    hours: every(86_400).min(hours),
                },
                24 + every(1440).min(hours * 60) + every(86_400).min(hours * minutes * 60),
            ),
        };
        Self {
            unit,
            per_unit: per_unit.max(1),
        }
    }

    /// Candidates examined in one period (or day, for sub-daily rules): what the crate may do
    /// before it yields anything at all.
    pub(super) fn per_unit(&self) -> u64 {
        self.per_unit
    }

    /// Candidates examined walking the rule from `from` through `to` (wall times), the periods
    /// at both ends included (for a sub-daily rule: the time between them, plus an hour).
    pub(super) fn between(&self, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
        let months = |at: NaiveDateTime| i64::from(at.year()) * 12 + i64::from(at.month0());
        let days = (to.date() - from.date()).num_days();
        let units = match self.unit {
            Unit::Years(step) => i64::from(to.year() - from.year()) / step,
            Unit::Months(step) => (months(to) - months(from)) / step,
            Unit::Weeks(step) => days / (7 * step),
            Unit::Days(step) => days / step,
            Unit::SubDaily { hours } => {
                let seconds = u128::from(u64::try_from((to - from).num_seconds()).unwrap_or(0));
                let per_day = u128::from(self.per_unit);
                // the days the walk touches, at the day's average, plus an hour…
                let by_days = per_day * seconds / 86_400 + per_day.div_ceil(24);
                // …but no less than the hours it touches at the rate of a matching hour, where
                // a day's candidates are (a walk inside them would be under-charged otherwise)
                let per_hour = per_day.div_ceil(u128::from(hours.max(1)));
                let by_hours = per_hour * (seconds.div_ceil(3_600) + 1);
                let walked = by_days.max(by_hours.min(per_day * (seconds.div_ceil(86_400) + 1)));
                return u64::try_from(walked).unwrap_or(u64::MAX);
            }
        };
        // `units` periods lie between the two, plus the one being walked.
        u64::try_from(units)
            .unwrap_or(0)
            .saturating_add(1)
            .saturating_mul(self.per_unit)
    }
}

/// The work left for one listing of a schedule's runs.
#[derive(Debug)]
pub(super) struct Budget {
    spent: u64,
}

impl Budget {
    pub(super) fn new() -> Self {
        Self { spent: 0 }
    }

    /// Whether `more` candidates on top of what was spent still fit; `rule` names the culprit.
    pub(super) fn check(&self, more: u64, rule: &str) -> Result<(), FieldError> {
        #[cfg(test)]
        probe::estimated(self.spent.saturating_add(more));
        if self.spent.saturating_add(more) > MAX_WORK {
            return Err(too_much_work(rule));
        }
        Ok(())
    }

    /// Spends `more` candidates (checked first).
    pub(super) fn spend(&mut self, more: u64, rule: &str) -> Result<(), FieldError> {
        self.check(more, rule)?;
        self.spent += more;
        Ok(())
    }
}

/// The refusal, naming the rule (cut short if it is long).
pub(super) fn too_much_work(rule: &str) -> FieldError {
    let mut shown: String = rule.chars().take(120).collect();
    if shown.len() < rule.len() {
        shown.push('…');
    }
    error(format!(
        "rule '{shown}' needs too much work to compute (more than {MAX_WORK} candidate times \
         examined for these runs); simplify it: use the coarsest FREQ that fits \
         (FREQ=DAILY;BYHOUR=9 rather than FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0;BYSECOND=0), \
         fewer BY values, or, with COUNT, a later DTSTART"
    ))
}

/// What the listings of this thread did, for the schedule tests: the highest estimate a listing
/// reached and the occurrences the crate yielded, which the estimate must cover.
#[cfg(test)]
pub(in crate::schedule) mod probe {
    use std::cell::Cell;

    thread_local! {
        static ESTIMATE: Cell<u64> = const { Cell::new(0) };
        static YIELDED: Cell<u64> = const { Cell::new(0) };
    }

    /// Starts counting afresh (before a listing).
    pub(in crate::schedule) fn reset() {
        ESTIMATE.set(0);
        YIELDED.set(0);
    }

    pub(super) fn estimated(total: u64) {
        ESTIMATE.set(ESTIMATE.get().max(total));
    }

    pub(in crate::schedule) fn yielded() {
        YIELDED.set(YIELDED.get() + 1);
    }

    /// (highest estimate, occurrences yielded) since the last reset.
    pub(in crate::schedule) fn read() -> (u64, u64) {
        (ESTIMATE.get(), YIELDED.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(text: &str) -> Cost {
        let rule: RRule<Unvalidated> = text.parse().unwrap();
        Cost::of(&rule)
    }

    fn wall(text: &str) -> NaiveDateTime {
        text.parse().unwrap()
    }

    #[test]
    fn fine_frequencies_with_filters_cost_their_stepping() {
        let day = (wall("2026-01-01T00:00:00"), wall("2026-01-02T00:00:00"));
        // every second of the day is stepped through to keep one a minute
        let c = cost("FREQ=SECONDLY;BYSECOND=0");
        assert_eq!(c.per_unit(), 24 + 24 * 60 + 86_400);
        assert_eq!(
            c.between(day.0, day.1),
            c.per_unit() + c.per_unit().div_ceil(24)
        );
        // half a day: half, plus the hour being walked
        let noon = wall("2026-01-01T12:00:00");
        assert_eq!(
            c.between(day.0, noon),
            c.per_unit() / 2 + c.per_unit().div_ceil(24)
        );
        // a filtered sub-daily rule only steps through what its filters let through
        assert_eq!(
            cost("FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0;BYSECOND=0").per_unit(),
            24 + 60 + 60
        );
        // an interval skips steps
        assert_eq!(cost("FREQ=SECONDLY;INTERVAL=3600").per_unit(), 24 + 1 + 24);
        assert_eq!(
            cost("FREQ=MINUTELY;BYSECOND=0").per_unit(),
            24 + 24 * 60 + 24 * 60
        );
        assert_eq!(
            cost("FREQ=HOURLY;BYMINUTE=0,30;BYSECOND=0").per_unit(),
            24 + 24 * 2
        );
        // backwards (never asked for) costs the hour being walked, never wraps
        assert_eq!(c.between(noon, day.0), c.per_unit().div_ceil(24));
    }

    #[test]
    fn long_periods_cost_their_candidates() {
        let c = cost("FREQ=YEARLY;BYHOUR=0,12;BYMINUTE=0;BYSECOND=0;BYSETPOS=1");
        assert_eq!(c.per_unit(), 366 + 366 * 2);
        assert_eq!(
            c.between(wall("2020-06-01T00:00:00"), wall("2029-01-01T00:00:00")),
            10 * (366 + 366 * 2)
        );
        // the day parts bound the days whose times are tried
        let c = cost("FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1,2;BYHOUR=0,12;BYMINUTE=0;BYSECOND=0");
        assert_eq!(c.per_unit(), 366 + 2 * 2);
        let c = cost("FREQ=YEARLY;BYMONTH=1,7;BYHOUR=0;BYMINUTE=0;BYSECOND=0");
        assert_eq!(c.per_unit(), 366 + 62);
        let c = cost("FREQ=WEEKLY;BYDAY=MO,TU;BYHOUR=0;BYMINUTE=0;BYSECOND=0");
        assert_eq!(c.per_unit(), 7 + 2);
        let c = cost("FREQ=MONTHLY;INTERVAL=2;BYHOUR=1;BYMINUTE=1;BYSECOND=1");
        assert_eq!(
            c.between(wall("2026-01-31T00:00:00"), wall("2026-12-01T00:00:00")),
            6 * (31 + 31)
        );
        // backwards (never asked for) costs one period, never wraps
        assert_eq!(
            c.between(wall("2026-12-01T00:00:00"), wall("2026-01-01T00:00:00")),
            31 + 31
        );
    }

    #[test]
    fn the_budget_is_shared_and_names_the_rule() {
        let mut budget = Budget::new();
        budget.spend(MAX_WORK - 10, "FREQ=DAILY").unwrap();
        assert!(budget.check(10, "FREQ=DAILY").is_ok());
        let err = budget.spend(11, "FREQ=HOURLY").unwrap_err();
        assert_eq!(err.field, "rrule");
        assert!(err.message.contains("'FREQ=HOURLY'"), "{}", err.message);
        assert!(err.message.contains("too much work"), "{}", err.message);
    }
}
