//! Interval schedules: `anchor + k × interval`.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{zone, IntervalSchedule, Window};
use crate::validation::FieldError;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i128 = 86_400;

/// The longest interval accepted: 100 years of 365.25 days, in seconds.
pub(super) const MAX_INTERVAL_SECONDS: f64 = 100.0 * 365.25 * 86_400.0;

/// A checked interval schedule, ready to list runs.
pub(super) struct Compiled {
    anchor: DateTime<FixedOffset>,
    step: Step,
}

enum Step {
    /// Fixed length in nanoseconds (at least one second).
    Absolute(i128),
    /// A whole number of local days in a time zone, keeping the anchor's wall time.
    LocalDays { days: i64, zone: Tz },
}

impl Compiled {
    pub(super) fn new(schedule: &IntervalSchedule) -> Result<Self, FieldError> {
        let seconds = schedule.interval;
        if !seconds.is_finite() || seconds < 1.0 {
            return Err(FieldError::new(
                "interval",
                "interval must be at least 1 second",
            ));
        }
        if seconds > MAX_INTERVAL_SECONDS {
            return Err(FieldError::new(
                "interval",
                format!("interval must be at most 100 years ({MAX_INTERVAL_SECONDS} seconds)"),
            ));
        }
        let zone = zone::parse(schedule.timezone.as_deref())?;
        let anchor = match schedule.anchor_date {
            Some(anchor) if (1..=9999).contains(&anchor.to_utc().year()) => anchor,
            Some(_) => {
                return Err(FieldError::new(
                    "anchor_date",
                    "anchor_date must be between the years 1 and 9999",
                ))
            }
            None => zone::default_anchor(&zone).ok_or_else(|| {
                FieldError::new("anchor_date", "no default anchor date in this time zone")
            })?,
        };
        // Within 1..=3.2e9 seconds the product fits easily, and rounding to whole nanoseconds
        // is exact for every integer number of seconds.
        let nanos = (seconds * 1e9).round() as i128;
        let day_nanos = SECONDS_PER_DAY * NANOS_PER_SECOND;
        let step = if schedule.timezone.is_some() && nanos % day_nanos == 0 {
            Step::LocalDays {
                days: i64::try_from(nanos / day_nanos).unwrap_or(i64::MAX),
                zone,
            }
        } else {
            Step::Absolute(nanos)
        };
        Ok(Self { anchor, step })
    }

    pub(super) fn runs(&self, window: &Window) -> Result<Vec<DateTime<Utc>>, FieldError> {
        if window.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match &self.step {
            Step::Absolute(step) => self.absolute_runs(*step, window),
            Step::LocalDays { days, zone } => self.local_day_runs(*days, zone, window),
        })
    }

    /// The first index is computed arithmetically, then one run per step.
    fn absolute_runs(&self, step: i128, window: &Window) -> Vec<DateTime<Utc>> {
        let anchor = nanos_since_epoch(&self.anchor.to_utc());
        let after = nanos_since_epoch(&window.after);
        let until = nanos_since_epoch(&window.until);
        // The first k with anchor + k·step > after.
        let mut at = anchor + ((after - anchor).div_euclid(step) + 1) * step;
        let mut runs = Vec::new();
        while runs.len() < window.limit && at <= until {
            let Some(run) = from_nanos(at) else { break };
            runs.push(run);
            at += step;
        }
        runs
    }

    /// Runs on the anchor's local wall time every `days` local days.
    fn local_day_runs(&self, days: i64, zone: &Tz, window: &Window) -> Vec<DateTime<Utc>> {
        let anchor_wall = self.anchor.with_timezone(zone).naive_local();
        let (anchor_day, wall_time) = (anchor_wall.date(), anchor_wall.time());
        let after_day = window.after.with_timezone(zone).date_naive();
        let elapsed = (after_day - anchor_day).num_days();
        // Start one step before the day of `after`; the loop skips at most a couple of runs.
        let mut k = elapsed.div_euclid(days).saturating_sub(1);
        let mut runs: Vec<DateTime<Utc>> = Vec::new();
        while runs.len() < window.limit {
            let Some(run) = local_day_run(anchor_day, wall_time, days, k, zone) else {
                break;
            };
            if run > window.until {
                break;
            }
            let later_than_last = runs.last().is_none_or(|last| run > *last);
            if run > window.after && later_than_last {
                runs.push(run);
            }
            let Some(next) = k.checked_add(1) else { break };
            k = next;
        }
        runs
    }
}

/// The `k`-th run of a local-days interval, in UTC.
fn local_day_run(
    anchor_day: NaiveDate,
    wall_time: NaiveTime,
    days: i64,
    k: i64,
    zone: &Tz,
) -> Option<DateTime<Utc>> {
    let offset = TimeDelta::try_days(k.checked_mul(days)?)?;
    let day = anchor_day.checked_add_signed(offset)?;
    zone::resolve(zone, day.and_time(wall_time)).map(|at| at.to_utc())
}

fn nanos_since_epoch(at: &DateTime<Utc>) -> i128 {
    i128::from(at.timestamp()) * NANOS_PER_SECOND + i128::from(at.timestamp_subsec_nanos())
}

fn from_nanos(nanos: i128) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
    let subsec = u32::try_from(nanos.rem_euclid(NANOS_PER_SECOND)).ok()?;
    DateTime::<Utc>::from_timestamp(seconds, subsec)
}

/// `every 1 day`, `every 15 minutes`, `every 1.5 seconds`.
pub(super) fn describe(seconds: f64) -> String {
    let units = [(86_400.0, "day"), (3_600.0, "hour"), (60.0, "minute")];
    for (size, unit) in units {
        let count = seconds / size;
        if seconds >= size && count.fract() == 0.0 {
            return plural(count, unit);
        }
    }
    plural(seconds, "second")
}

fn plural(count: f64, unit: &str) -> String {
    if count == 1.0 {
        format!("every 1 {unit}")
    } else {
        format!("every {count} {unit}s")
    }
}
