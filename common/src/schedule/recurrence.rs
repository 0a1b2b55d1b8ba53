//! Recurrence-rule schedules, evaluated by the `rrule` crate.
//!
//! The text is split into its lines here so that times without a zone are read in the schedule's
//! zone (the crate would read them in the machine's local zone), and so that the rule can be
//! restarted close to the requested window (see the module docs of `schedule`).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Month, NaiveDateTime, TimeDelta, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use rrule::{Frequency, NWeekday, RRule, RRuleError, RRuleSet, Unvalidated};

use super::{zone, RRuleSchedule, Window};
use crate::validation::FieldError;

mod work;

#[cfg(test)]
pub(super) use work::probe;
pub use work::MAX_WORK;
use work::{Budget, Cost};

/// Longest rule text accepted.
const MAX_LEN: usize = 10_000;

/// Most `RRULE` lines in one schedule: each is walked separately, so each adds work.
pub const MAX_RULES: usize = 20;

/// Most `RDATE` values, and separately `EXDATE` values, in one schedule (every run is compared
/// with every `EXDATE`).
pub const MAX_DATES: usize = 100;

/// Longer than any DST gap in use: how far out of order the rule crate's occurrences can be.
const MAX_GAP: TimeDelta = TimeDelta::hours(3);

/// Years the rule crate can iterate through.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// A checked recurrence, ready to list runs.
pub(super) struct Compiled {
    /// The zone the rule repeats in.
    zone: Tz,
    /// The start's wall time in `zone`, as written (it may fall in a DST gap).
    start_wall: NaiveDateTime,
    start: DateTime<Tz>,
    /// Each `RRULE`, with every part it inherits from the start made explicit.
    rules: Vec<Rule>,
    rdates: Vec<DateTime<Utc>>,
    exdates: Vec<DateTime<rrule::Tz>>,
}

/// One `RRULE` line.
struct Rule {
    /// As written, to name it in errors.
    text: String,
    rule: RRule<Unvalidated>,
    cost: Cost,
}

/// One content line: `NAME;PARAMS:VALUE`.
struct Line<'a> {
    name: String,
    params: Option<&'a str>,
    value: &'a str,
}

fn error(message: impl Into<String>) -> FieldError {
    FieldError::new("rrule", message)
}

fn crate_error(e: RRuleError) -> FieldError {
    error(format!("invalid rrule: {e}"))
}

impl Compiled {
    pub(super) fn new(schedule: &RRuleSchedule) -> Result<Self, FieldError> {
        let schedule_zone = match &schedule.timezone {
            Some(name) => Some(zone::parse(Some(name))?),
            None => None,
        };
        if schedule.rrule.len() > MAX_LEN {
            return Err(error(format!("rrule must be at most {MAX_LEN} characters")));
        }
        let lines = unfold(&schedule.rrule);
        if lines.is_empty() {
            return Err(error("rrule must not be empty"));
        }

        let mut dtstart = None;
        let mut rule_texts = Vec::new();
        let mut rdate_lines = Vec::new();
        let mut exdate_lines = Vec::new();
        for text in &lines {
            let line = split_line(text)?;
            match line.name.as_str() {
                "DTSTART" => {
                    if dtstart.replace(line).is_some() {
                        return Err(error("rrule has more than one DTSTART line"));
                    }
                }
                "RRULE" => {
                    if let Some(params) = line.params {
                        return Err(error(format!("RRULE takes no parameters, got '{params}'")));
                    }
                    rule_texts.push(line.value);
                }
                "RDATE" => rdate_lines.push(line),
                "EXDATE" => exdate_lines.push(line),
                "EXRULE" => return Err(error("EXRULE is not supported; use EXDATE")),
                other => {
                    return Err(error(format!(
                        "unsupported line '{other}'; expected DTSTART, RRULE, RDATE or EXDATE"
                    )))
                }
            }
        }
        if rule_texts.len() > MAX_RULES {
            return Err(error(format!(
                "rrule has {} RRULE lines; at most {MAX_RULES} are allowed",
                rule_texts.len()
            )));
        }
        if rule_texts.is_empty() && rdate_lines.is_empty() {
            return Err(error(
                "rrule needs an RRULE line, e.g. 'RRULE:FREQ=WEEKLY;BYDAY=MO'",
            ));
        }

        let (zone, start_wall, start) = match dtstart {
            None => {
                let zone = schedule_zone.unwrap_or(Tz::UTC);
                let wall = zone::default_anchor_wall_time();
                let start = zone::resolve(&zone, wall)
                    .ok_or_else(|| error("no default start in this time zone"))?;
                (zone, wall, start)
            }
            Some(line) => parse_dtstart(&line, schedule_zone)?,
        };
        if !YEARS.contains(&start_wall.year()) {
            return Err(error("DTSTART must be between the years 1 and 9999"));
        }
        let rrule_start = start.with_timezone(&rrule::Tz::Tz(zone));

        let mut rules = Vec::with_capacity(rule_texts.len());
        for text in rule_texts {
            let rule: RRule<Unvalidated> =
                with_utc_until(text, &zone).parse().map_err(crate_error)?;
            if rule.get_interval() == 0 {
                return Err(error("INTERVAL must be at least 1"));
            }
            let rule = inherit_from_start(rule, start_wall);
            rule.clone().validate(rrule_start).map_err(crate_error)?;
            let cost = Cost::of(&rule);
            // The crate computes a whole period before it yields anything: one must fit.
            if cost.per_unit() > MAX_WORK {
                return Err(work::too_much_work(text));
            }
            rules.push(Rule {
                text: text.to_string(),
                rule,
                cost,
            });
        }

        let mut rdates = Vec::new();
        for line in &rdate_lines {
            rdates.extend(
                parse_date_list(line, &zone)?
                    .into_iter()
                    .map(|at| at.to_utc()),
            );
        }
        if rdates.len() > MAX_DATES {
            return Err(error(format!(
                "rrule has {} RDATE values; at most {MAX_DATES} are allowed",
                rdates.len()
            )));
        }
        rdates.sort();
        let mut exdates = Vec::new();
        for line in &exdate_lines {
            exdates.extend(
                parse_date_list(line, &zone)?
                    .into_iter()
                    .map(|at| at.with_timezone(&rrule::Tz::Tz(zone))),
            );
        }

        if exdates.len() > MAX_DATES {
            return Err(error(format!(
                "rrule has {} EXDATE values; at most {MAX_DATES} are allowed",
                exdates.len()
            )));
        }

        Ok(Self {
            zone,
            start_wall,
            start,
            rules,
            rdates,
            exdates,
        })
    }

    /// Rejects a recurrence that never produces a run, such as `FREQ=YEARLY;BYMONTHDAY=30;BYMONTH=2`.
    pub(super) fn check_has_runs(&self) -> Result<(), FieldError> {
        let window = Window {
            after: self
                .start
                .to_utc()
                .checked_sub_signed(TimeDelta::seconds(1))
                .unwrap_or(self.start.to_utc()),
            until: super::supported_range::latest(),
            limit: 1,
        };
        if self.runs(&window)?.is_empty() {
            return Err(error("rrule never produces a run"));
        }
        Ok(())
    }

    pub(super) fn runs(&self, window: &Window) -> Result<Vec<DateTime<Utc>>, FieldError> {
        let mut runs = Vec::new();
        if window.is_empty() {
            return Ok(runs);
        }
        let after_wall = window.after.with_timezone(&self.zone).naive_local();
        // One budget for every line: many cheap lines add up to one expensive schedule.
        let mut budget = Budget::new();
        budget.spend(self.rdates.len() as u64, "RDATE")?;
        for rule in &self.rules {
            self.rule_runs(rule, after_wall, window, &mut budget, &mut runs)?;
        }
        let excluded = |at: &DateTime<Utc>| {
            self.exdates
                .iter()
                .any(|exdate| exdate.timestamp() == at.timestamp())
        };
        runs.extend(
            self.rdates
                .iter()
                .filter(|at| window.contains(**at) && !excluded(at)),
        );
        runs.sort();
        runs.dedup();
        runs.truncate(window.limit);
        Ok(runs)
    }

    /// Adds up to `window.limit` runs of one rule to `runs`, within what is left of `budget`.
    fn rule_runs(
        &self,
        Rule { text, rule, cost }: &Rule,
        after_wall: NaiveDateTime,
        window: &Window,
        budget: &mut Budget,
        runs: &mut Vec<DateTime<Utc>>,
    ) -> Result<(), FieldError> {
        // A counted rule has to be counted from its start.
        let restart = match rule.get_count() {
            Some(_) => None,
            None => restart_wall(rule, self.start_wall, after_wall),
        };
        let start = match restart {
            None => self.start,
            Some(wall) if YEARS.contains(&wall.year()) => match zone::resolve(&self.zone, wall) {
                Some(start) => start,
                None => return Ok(()),
            },
            // Past the years the rule crate handles: no more runs.
            Some(_) => return Ok(()),
        };
        if rule
            .get_until()
            .is_some_and(|until| until.to_utc() < start.to_utc())
        {
            return Ok(());
        }
        let walk_from = start.naive_local();
        let start = start.with_timezone(&rrule::Tz::Tz(self.zone));
        let validated = rule.clone().validate(start).map_err(crate_error)?;
        let set = RRuleSet::new(start)
            .rrule(validated)
            .set_exdates(self.exdates.clone())
            .limit();
        // The crate yields occurrences in wall-time order, so a wall time moved forward out of a
        // DST gap can come out after (or equal to) a later one. Keep the `limit` earliest distinct
        // runs, and stop only once the occurrences are past them by more than any gap.
        //
        // Work is charged as the crate walks: every occurrence says how far it has got, and
        // everything up to there (the period it is in included) is charged before it is used.
        // After the last occurrence the crate stops by itself within 100,000 empty periods.
        let mut kept = BTreeSet::new();
        let mut walked = 0_u64;
        let plus_gap = |at: DateTime<Utc>| at.checked_add_signed(MAX_GAP).unwrap_or(at);
        let scan_until = plus_gap(window.until);
        for occurrence in &set {
            #[cfg(test)]
            work::probe::yielded();
            let at = occurrence.to_utc();
            walked = cost.between(walk_from, occurrence.naive_local());
            budget.check(walked, text)?;
            let past_kept =
                kept.len() >= window.limit && kept.last().is_some_and(|last| at > plus_gap(*last));
            if past_kept || at > scan_until {
                break;
            }
            if at <= window.after {
                continue;
            }
            if at <= window.until {
                kept.insert(at);
                if kept.len() > window.limit {
                    kept.pop_last();
                }
            }
        }
        budget.spend(walked, text)?;
        runs.extend(kept);
        Ok(())
    }
}

/// `FREQ=WEEKLY;BYDAY=MO`: the rule lines without their `RRULE:` prefix.
pub(super) fn describe(text: &str) -> String {
    let lines = unfold(text);
    let rules: Vec<&str> = lines
        .iter()
        .filter_map(|line| match split_line(line) {
            Ok(line) if line.name == "RRULE" => Some(line.value),
            _ => None,
        })
        .collect();
    if rules.is_empty() {
        lines.join(" ")
    } else {
        rules.join(" + ")
    }
}

/// The non-blank lines of the text, with RFC 5545 folded lines joined back.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest.trim_end()),
            _ => lines.push(raw.trim().to_string()),
        }
    }
    lines.retain(|line| !line.is_empty());
    lines
}

/// Splits `NAME;PARAMS:VALUE`. A line without a name (`FREQ=DAILY`) is an `RRULE` value.
fn split_line(text: &str) -> Result<Line<'_>, FieldError> {
    let Some((head, value)) = text.split_once(':') else {
        if text.contains('=') {
            return Ok(Line {
                name: "RRULE".into(),
                params: None,
                value: text,
            });
        }
        return Err(error(format!("malformed rrule line '{text}'")));
    };
    let (name, params) = match head.split_once(';') {
        Some((name, params)) => (name, Some(params)),
        None => (head, None),
    };
    Ok(Line {
        name: name.trim().to_ascii_uppercase(),
        params,
        value: value.trim(),
    })
}

/// The parameters of a date line that matter here: its `TZID`.
fn date_line_zone(line: &Line<'_>) -> Result<Option<Tz>, FieldError> {
    let mut tzid = None;
    for param in line.params.into_iter().flat_map(|params| params.split(';')) {
        let Some((key, value)) = param.split_once('=') else {
            return Err(error(format!(
                "malformed {} parameter '{param}'",
                line.name
            )));
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_uppercase().as_str() {
            "TZID" => {
                let zone = zone::lookup(value).ok_or_else(|| {
                    error(format!("unknown time zone '{value}' in {} TZID", line.name))
                })?;
                tzid = Some(zone);
            }
            "VALUE" if matches!(value.to_ascii_uppercase().as_str(), "DATE" | "DATE-TIME") => {}
            _ => {
                return Err(error(format!(
                    "unsupported {} parameter '{param}'",
                    line.name
                )))
            }
        }
    }
    Ok(tzid)
}

/// A date or date-time value: its wall time, and whether it ends in `Z` (UTC).
fn parse_value(value: &str) -> Option<(NaiveDateTime, bool)> {
    let (body, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(body) => (body, true),
        None => (value, false),
    };
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let wall = match body.split_once(['T', 't']) {
        None if body.len() == 8 && digits(body) && !utc => {
            chrono::NaiveDate::parse_from_str(body, "%Y%m%d")
                .ok()?
                .and_hms_opt(0, 0, 0)?
        }
        Some((date, time))
            if date.len() == 8 && time.len() == 6 && digits(date) && digits(time) =>
        {
            NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y%m%dT%H%M%S").ok()?
        }
        _ => return None,
    };
    Some((wall, utc))
}

fn parse_dtstart(
    line: &Line<'_>,
    schedule_zone: Option<Tz>,
) -> Result<(Tz, NaiveDateTime, DateTime<Tz>), FieldError> {
    let tzid = date_line_zone(line)?;
    let (wall, utc) = parse_value(line.value).ok_or_else(|| {
        error(format!(
            "invalid DTSTART '{}': expected YYYYMMDD or YYYYMMDDTHHMMSS, optionally ending in Z",
            line.value
        ))
    })?;
    if let (Some(tzid), Some(schedule_zone)) = (tzid, schedule_zone) {
        if tzid != schedule_zone {
            return Err(error(format!(
                "DTSTART TZID '{tzid}' differs from the schedule's timezone '{schedule_zone}'"
            )));
        }
    }
    if utc && tzid.is_some() {
        return Err(error("DTSTART cannot have both a TZID and a trailing Z"));
    }
    let zone = tzid.or(schedule_zone).unwrap_or(Tz::UTC);
    if utc {
        let start = wall.and_utc().with_timezone(&zone);
        return Ok((zone, start.naive_local(), start));
    }
    let start = zone::resolve(&zone, wall)
        .ok_or_else(|| error(format!("DTSTART '{}' is out of range", line.value)))?;
    Ok((zone, wall, start))
}

/// The instants of an `RDATE` or `EXDATE` line, read in `zone` unless the line says otherwise.
fn parse_date_list(line: &Line<'_>, zone: &Tz) -> Result<Vec<DateTime<Tz>>, FieldError> {
    let line_zone = date_line_zone(line)?.unwrap_or(*zone);
    line.value
        .split(',')
        .map(|value| {
            let value = value.trim();
            let (wall, utc) = parse_value(value)
                .ok_or_else(|| error(format!("invalid {} value '{value}'", line.name)))?;
            let at = if utc {
                Some(wall.and_utc().with_timezone(&line_zone))
            } else {
                zone::resolve(&line_zone, wall)
            };
            at.ok_or_else(|| error(format!("{} value '{value}' is out of range", line.name)))
        })
        .collect()
}

/// Rewrites a floating `UNTIL` (no `Z`) to UTC, reading it in `zone`; a date alone means the end
/// of that day. The rule crate needs `UNTIL` in UTC when the start has a zone.
fn with_utc_until(rule: &str, zone: &Tz) -> String {
    let parts: Vec<String> = rule
        .split(';')
        .map(|part| {
            let Some((key, value)) = part.split_once('=') else {
                return part.to_string();
            };
            if !key.trim().eq_ignore_ascii_case("UNTIL") {
                return part.to_string();
            }
            let value = value.trim();
            let Some((mut wall, false)) = parse_value(value) else {
                return part.to_string();
            };
            if value.len() == 8 {
                wall = wall.date().and_hms_opt(23, 59, 59).unwrap_or(wall);
            }
            match zone::resolve_latest(zone, wall) {
                Some(until) => format!("UNTIL={}", until.to_utc().format("%Y%m%dT%H%M%SZ")),
                None => part.to_string(),
            }
        })
        .collect();
    parts.join(";")
}

/// Makes explicit every part a rule takes from its start (RFC 5545: "the time of day from
/// DTSTART", the weekday for `WEEKLY`, the day for `MONTHLY` and `YEARLY`), mirroring what the
/// rule crate fills in, so the rule means the same with any later start.
fn inherit_from_start(rule: RRule<Unvalidated>, start: NaiveDateTime) -> RRule<Unvalidated> {
    let freq = rule.get_freq();
    let mut rule = rule;
    let no_day_parts = rule.get_by_week_no().is_empty()
        && rule.get_by_year_day().is_empty()
        && rule.get_by_month_day().is_empty()
        && rule.get_by_weekday().is_empty();
    // Day 1..=31, hour, minute and second all fit the narrow types.
    let day = i8::try_from(start.day()).unwrap_or(1);
    if no_day_parts {
        match freq {
            Frequency::Yearly => {
                if rule.get_by_month().is_empty() {
                    let month = u8::try_from(start.month())
                        .ok()
                        .and_then(|month| Month::try_from(month).ok());
                    if let Some(month) = month {
                        rule = rule.by_month(&[month]);
                    }
                }
                rule = rule.by_month_day(vec![day]);
            }
            Frequency::Monthly => rule = rule.by_month_day(vec![day]),
            Frequency::Weekly => rule = rule.by_weekday(vec![NWeekday::Every(start.weekday())]),
            _ => {}
        }
    }
    let part = |value: u32| vec![u8::try_from(value).unwrap_or(0)];
    if rule.get_by_hour().is_empty() && freq < Frequency::Hourly {
        rule = rule.by_hour(part(start.hour()));
    }
    if rule.get_by_minute().is_empty() && freq < Frequency::Minutely {
        rule = rule.by_minute(part(start.minute()));
    }
    if rule.get_by_second().is_empty() && freq < Frequency::Secondly {
        rule = rule.by_second(part(start.second()));
    }
    rule
}

/// A later start for `rule` (with its inherited parts explicit) that yields the same occurrences
/// from there on: the beginning of the last period, counted in `INTERVAL` steps from `start`,
/// that begins at or before `after`. `None` when no such period lies after `start`.
fn restart_wall(
    rule: &RRule<Unvalidated>,
    start: NaiveDateTime,
    after: NaiveDateTime,
) -> Option<NaiveDateTime> {
    if after <= start {
        return None;
    }
    let step = i64::from(rule.get_interval().max(1));
    let midnight = |date: chrono::NaiveDate| date.and_hms_opt(0, 0, 0);
    let restart = match rule.get_freq() {
        Frequency::Yearly => {
            let periods = i64::from(after.year() - start.year()) / step;
            let year = i64::from(start.year()) + periods * step;
            midnight(chrono::NaiveDate::from_ymd_opt(
                i32::try_from(year).ok()?,
                1,
                1,
            )?)?
        }
        Frequency::Monthly => {
            let index = |at: NaiveDateTime| i64::from(at.year()) * 12 + i64::from(at.month0());
            let periods = (index(after) - index(start)) / step;
            let month = index(start) + periods * step;
            let year = i32::try_from(month.div_euclid(12)).ok()?;
            let month = u32::try_from(month.rem_euclid(12)).ok()? + 1;
            midnight(chrono::NaiveDate::from_ymd_opt(year, month, 1)?)?
        }
        Frequency::Weekly => {
            let week_start: Weekday = rule.get_week_start();
            let into_week = i64::from(start.weekday().days_since(week_start));
            let first_week = start
                .date()
                .checked_sub_signed(TimeDelta::try_days(into_week)?)?;
            let periods = (after.date() - first_week).num_days() / (7 * step);
            let offset = TimeDelta::try_days(periods.checked_mul(7 * step)?)?;
            midnight(first_week.checked_add_signed(offset)?)?
        }
        Frequency::Daily => {
            let periods = (after.date() - start.date()).num_days() / step;
            let offset = TimeDelta::try_days(periods.checked_mul(step)?)?;
            midnight(start.date().checked_add_signed(offset)?)?
        }
        Frequency::Hourly => {
            let first = start.date().and_hms_opt(start.hour(), 0, 0)?;
            let periods = (after - first).num_hours() / step;
            first.checked_add_signed(TimeDelta::try_hours(periods.checked_mul(step)?)?)?
        }
        Frequency::Minutely => {
            let first = start.date().and_hms_opt(start.hour(), start.minute(), 0)?;
            let periods = (after - first).num_minutes() / step;
            first.checked_add_signed(TimeDelta::try_minutes(periods.checked_mul(step)?)?)?
        }
        Frequency::Secondly => {
            let first = start.with_nanosecond(0)?;
            let periods = (after - first).num_seconds() / step;
            first.checked_add_signed(TimeDelta::try_seconds(periods.checked_mul(step)?)?)?
        }
    };
    (restart > start).then_some(restart)
}
