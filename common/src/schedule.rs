//! Deployment schedules: a fixed interval, a cron expression or an RFC 5545 recurrence rule.
//!
//! Every schedule can [validate](Schedule::validate) itself, fill in its defaults
//! ([`Schedule::normalized`]) and list its run times in a window ([`Schedule::next_runs`]). The
//! listing is incremental: its cost follows the number of runs returned, not the distance between
//! the schedule's anchor and the window.
//!
//! # Time zones
//!
//! `timezone` is an IANA name known to `chrono-tz` (`Europe/London`); none means UTC. Run times
//! are always returned in UTC.
//!
//! # Daylight-saving time
//!
//! * **Interval.** A whole number of days with a time zone steps in local days: the local wall
//!   time of the anchor is kept across DST changes (09:00 stays 09:00). Every other interval
//!   steps in absolute time (an hourly interval is exactly 3600 s apart across a change). A wall
//!   time that does not exist on some day (spring-forward gap) runs at the first instant after the
//!   gap (the gap's end, e.g. 03:00); a wall time that occurs twice (fall-back overlap) runs once,
//!   at the earlier instant.
//! * **Cron.** The pattern is matched against local wall time. A pattern whose minute and hour
//!   are single values (`30 2 * * *`, `@daily`) runs once a matching day: inside a gap it runs at
//!   the first instant after the gap (02:30 → 03:00 on the spring-forward day), inside an overlap
//!   only at the earlier instant. Any other pattern (a list, range, step or `*` in minute or hour,
//!   e.g. `0 * * * *`) runs at every real instant whose wall time matches: wall times inside a gap
//!   don't run, and both instants of a repeated wall time run, so an hourly cron fires once per
//!   real hour across both changes (01:00 EDT and 01:00 EST both run).
//! * **RRule.** Occurrences are generated on local wall time as RFC 5545 describes: a wall time in
//!   a gap is read with the offset from before the gap (02:30 becomes 03:30), a repeated wall time
//!   runs once at its earlier instant. Sub-daily frequencies count wall-clock hours, so
//!   `FREQ=HOURLY` runs once for each local hour label.
//!
//! # Recurrence rules without `DTSTART`
//!
//! A rule without a `DTSTART` line starts at 2020-01-01T00:00 local time in the schedule's zone,
//! the same default anchor as intervals (and the anchor Prefect uses). Parts the rule leaves out
//! are taken from that start, as RFC 5545 requires: the time of day is 00:00:00, `FREQ=WEEKLY`
//! without `BYDAY` repeats on Wednesdays, `FREQ=MONTHLY` without a day on the 1st, and `COUNT`
//! counts from 2020. The result is the same for every caller, whatever the current time.
//!
//! To stay incremental, a rule without `COUNT` is not iterated from its start: the start is moved
//! forward to the beginning of the last whole period (year, month, week from `WKST`, day, hour,
//! minute or second, counted in steps of `INTERVAL` from the original start) before the window,
//! after making every part inherited from the original start explicit. Both rules then produce
//! the same occurrences from that point on, and at most one period is scanned before the window.
//! A rule with `COUNT` has to count from its start, so it is iterated from there.
//!
//! # Work budget
//!
//! Listing a recurrence's runs is bounded by the work it takes, not by the occurrences kept: one
//! call of [`Schedule::next_runs`] (and [`Schedule::validate`]) may examine at most
//! [`MAX_RRULE_WORK`] candidate times across all of the schedule's lines, estimated from each
//! rule and the stretch of time it walks (see `recurrence/work.rs`). A schedule that needs more
//! is an error naming the rule, e.g. `FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000` without a
//! `DTSTART` (it counts every second since 2020). A schedule has at most [`MAX_RRULE_LINES`]
//! `RRULE` lines and [`MAX_RRULE_DATES`] `RDATE` and `EXDATE` values each. Interval and cron
//! schedules need no budget: an interval is arithmetic, and a cron step moves to the next
//! matching field value, so its cost follows the runs listed.

mod cron;
mod interval;
mod recurrence;
mod zone;

#[cfg(test)]
mod tests;

use chrono::{DateTime, FixedOffset, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::validation::FieldError;

pub use recurrence::{
    MAX_DATES as MAX_RRULE_DATES, MAX_RULES as MAX_RRULE_LINES, MAX_WORK as MAX_RRULE_WORK,
};

/// A deployment's schedule. On the wire it is one of three objects, told apart by their key:
/// `{"interval": …}`, `{"cron": …}` or `{"rrule": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Schedule {
    Interval(IntervalSchedule),
    Cron(CronSchedule),
    RRule(RRuleSchedule),
}

/// Runs every `interval` seconds, counted from `anchor_date`.
///
/// The anchor only fixes the phase: the runs are `anchor_date + k × interval` for every whole `k`,
/// so times before the anchor belong to the schedule too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntervalSchedule {
    /// Seconds between runs (at least 1). Also read from a duration string such as `1h`,
    /// `90m`, `1d` or `PT1H`; always written as seconds.
    #[serde(deserialize_with = "crate::duration::deserialize_seconds")]
    pub interval: f64,
    /// Defaults to 2020-01-01T00:00 in `timezone`.
    #[serde(default, serialize_with = "serialize_anchor")]
    pub anchor_date: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Runs when a five-field cron expression (or a macro such as `@daily`) matches local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CronSchedule {
    pub cron: String,
    #[serde(default)]
    pub timezone: Option<String>,
    /// When both day-of-month and day-of-week are restricted, run on days matching either
    /// (`true`, classic cron) or only on days matching both (`false`).
    #[serde(default = "default_true")]
    pub day_or: bool,
}

/// Runs on the occurrences of an RFC 5545 recurrence: an optional `DTSTART` line, one or more
/// `RRULE` lines, and optional `RDATE` / `EXDATE` lines.
///
/// A `DTSTART` without `TZID` or `Z` is local time in `timezone`. A `DTSTART` with `Z` is an
/// instant, and the rule repeats in `timezone` from it. A `DTSTART` with `TZID` sets the zone the
/// rule repeats in; `timezone`, when set, must name the same zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RRuleSchedule {
    pub rrule: String,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// RFC 3339 with a numeric offset (`+00:00`, never `Z`), as Prefect writes it.
fn serialize_anchor<S: serde::Serializer>(
    anchor: &Option<DateTime<FixedOffset>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match anchor {
        Some(anchor) => serializer.serialize_some(&anchor.to_rfc3339()),
        None => serializer.serialize_none(),
    }
}

fn default_true() -> bool {
    true
}

/// The keys that tell the schedule kinds apart, in the order they are reported.
const KIND_KEYS: [&str; 3] = ["interval", "cron", "rrule"];

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let serde_json::Value::Object(map) = value else {
            return Err(D::Error::custom(format!(
                "schedule must be an object with one of `interval`, `cron` or `rrule`, not {}",
                crate::validation::json_kind(&value)
            )));
        };
        let present: Vec<&str> = KIND_KEYS
            .into_iter()
            .filter(|key| map.contains_key(*key))
            .collect();
        let kind = match present.as_slice() {
            [] => {
                return Err(D::Error::custom(
                    "schedule must have one of `interval`, `cron` or `rrule`",
                ))
            }
            [kind] => *kind,
            several => {
                let names: Vec<String> = several.iter().map(|key| format!("`{key}`")).collect();
                return Err(D::Error::custom(format!(
                    "schedule has {}; give only one of `interval`, `cron` or `rrule`",
                    names.join(" and ")
                )));
            }
        };
        let object = serde_json::Value::Object(map);
        let parsed = match kind {
            "interval" => IntervalSchedule::deserialize(object).map(Schedule::Interval),
            "cron" => CronSchedule::deserialize(object).map(Schedule::Cron),
            _ => RRuleSchedule::deserialize(object).map(Schedule::RRule),
        };
        parsed.map_err(|e| D::Error::custom(format!("{kind} schedule: {e}")))
    }
}

impl Schedule {
    /// Checks the schedule; the error's field is relative to the schedule (`cron`, `timezone`, …).
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Schedule::Interval(s) => interval::Compiled::new(s).map(drop),
            Schedule::Cron(s) => cron::Compiled::new(s)?.check_matches_some_day(),
            Schedule::RRule(s) => recurrence::Compiled::new(s)?.check_has_runs(),
        }
    }

    /// The schedule with defaults made explicit: an interval without an anchor date gets
    /// 2020-01-01T00:00 in its time zone. Everything else is returned unchanged.
    pub fn normalized(self) -> Self {
        match self {
            Schedule::Interval(mut s) => {
                if s.anchor_date.is_none() {
                    if let Ok(zone) = zone::parse(s.timezone.as_deref()) {
                        s.anchor_date = zone::default_anchor(&zone);
                    }
                }
                Schedule::Interval(s)
            }
            other => other,
        }
    }

    /// Up to `limit` run times strictly after `after` and not later than `until`, ascending, in UTC.
    ///
    /// An invalid schedule gives the same error as [`Schedule::validate`]. Only runs between the
    /// years 1 and 9999 are listed.
    pub fn next_runs(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DateTime<Utc>>, FieldError> {
        let window = Window {
            after: after.max(supported_range::earliest()),
            until: until.min(supported_range::latest()),
            limit,
        };
        match self {
            Schedule::Interval(s) => interval::Compiled::new(s)?.runs(&window),
            Schedule::Cron(s) => cron::Compiled::new(s)?.runs(&window),
            Schedule::RRule(s) => recurrence::Compiled::new(s)?.runs(&window),
        }
    }

    /// A few words for a table: `every 1 day`, `cron '0 9 * * 1-5' (Europe/London)`,
    /// `rrule FREQ=WEEKLY;BYDAY=MO`.
    pub fn describe(&self) -> String {
        let text = match self {
            Schedule::Interval(s) => interval::describe(s.interval),
            Schedule::Cron(s) => {
                let mut text = format!("cron '{}'", s.cron.trim());
                if !s.day_or {
                    text.push_str(" (day-of-month and day-of-week)");
                }
                text
            }
            Schedule::RRule(s) => format!("rrule {}", recurrence::describe(&s.rrule)),
        };
        match self.timezone() {
            Some(zone) => format!("{text} ({zone})"),
            None => text,
        }
    }

    /// The schedule's `timezone`, if it has one (none means UTC).
    pub fn timezone(&self) -> Option<&str> {
        match self {
            Schedule::Interval(s) => s.timezone.as_deref(),
            Schedule::Cron(s) => s.timezone.as_deref(),
            Schedule::RRule(s) => s.timezone.as_deref(),
        }
    }
}

/// Run times are computed between the years 1 and 9999 (what every zone, `croner` and `rrule`
/// handle); a window reaching past them is cut to them.
mod supported_range {
    use chrono::{DateTime, NaiveDate, Utc};

    /// 0001-01-02T00:00Z: local time is still in year 1 or later in every zone.
    pub(super) fn earliest() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(1, 1, 2)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|at| at.and_utc())
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// 9999-12-31T00:00Z: local time is still in year 9999 or earlier in every zone.
    pub(super) fn latest() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|at| at.and_utc())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The arguments of [`Schedule::next_runs`].
struct Window {
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
}

impl Window {
    /// Whether no run can fall in the window.
    fn is_empty(&self) -> bool {
        self.limit == 0 || self.until <= self.after
    }

    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.after < at && at <= self.until
    }
}
