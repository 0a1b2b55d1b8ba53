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

mod restart;
mod text;
mod work;

use restart::*;
pub(super) use text::describe;
use text::*;
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
