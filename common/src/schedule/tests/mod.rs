//! Schedule tests, one file per concern; the shared schedule builders and run listers are here.

mod cron_runs;
mod describe;
mod dst;
mod fuzz;
mod interval_runs;
mod rrule_runs;
mod validate;
mod wire;
mod work_budget;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;

use super::*;

const NEW_YORK: &str = "America/New_York";
const LONDON: &str = "Europe/London";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn interval(seconds: f64, anchor: Option<&str>, timezone: Option<&str>) -> Schedule {
    Schedule::Interval(IntervalSchedule {
        interval: seconds,
        anchor_date: anchor.map(|a| DateTime::parse_from_rfc3339(a).unwrap()),
        timezone: timezone.map(Into::into),
    })
}

fn cron(expression: &str, timezone: Option<&str>) -> Schedule {
    Schedule::Cron(CronSchedule {
        cron: expression.into(),
        timezone: timezone.map(Into::into),
        day_or: true,
    })
}

fn rrule(text: &str, timezone: Option<&str>) -> Schedule {
    Schedule::RRule(RRuleSchedule {
        rrule: text.into(),
        timezone: timezone.map(Into::into),
    })
}

/// Runs after `after` (within a year), as UTC RFC 3339 strings.
fn runs(schedule: &Schedule, after: &str, limit: usize) -> Vec<String> {
    let after = at(after);
    schedule
        .next_runs(after, after + TimeDelta::days(400), limit)
        .unwrap()
        .iter()
        .map(|run| run.to_rfc3339_opts(SecondsFormat::Secs, true))
        .collect()
}

/// The same runs as local wall times with their zone abbreviation.
fn local_runs(schedule: &Schedule, after: &str, limit: usize, zone: &str) -> Vec<String> {
    let zone: Tz = zone.parse().unwrap();
    let after = at(after);
    schedule
        .next_runs(after, after + TimeDelta::days(400), limit)
        .unwrap()
        .iter()
        .map(|run| {
            run.with_timezone(&zone)
                .format("%m-%d %H:%M %Z")
                .to_string()
        })
        .collect()
}
