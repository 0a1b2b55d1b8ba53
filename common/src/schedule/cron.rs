//! Cron schedules, evaluated by `croner` in the schedule's time zone.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use super::{zone, CronSchedule, Window};
use crate::validation::FieldError;

/// Longest cron expression accepted.
const MAX_LEN: usize = 1_000;

/// The macros accepted in place of the five fields.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A parsed cron schedule, ready to list runs.
pub(super) struct Compiled {
    cron: Cron,
    zone: Tz,
}

impl Compiled {
    pub(super) fn new(schedule: &CronSchedule) -> Result<Self, FieldError> {
        let cron = parse(&schedule.cron, schedule.day_or)?;
        let zone = zone::parse(schedule.timezone.as_deref())?;
        Ok(Self { cron, zone })
    }

    /// Rejects expressions that can never fire, such as `0 0 30 2 *`.
    pub(super) fn check_matches_some_day(&self) -> Result<(), FieldError> {
        let start = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).single();
        let Some(start) = start else { return Ok(()) };
        match self.cron.find_next_occurrence(&start, false) {
            Err(CronError::TimeSearchLimitExceeded) => Err(FieldError::new(
                "cron",
                "cron expression never matches a real date",
            )),
            Err(e) => Err(FieldError::new("cron", format!("cron expression: {e}"))),
            Ok(_) => Ok(()),
        }
    }

    pub(super) fn runs(&self, window: &Window) -> Result<Vec<DateTime<Utc>>, FieldError> {
        let mut runs = Vec::new();
        if window.is_empty() {
            return Ok(runs);
        }
        let mut cursor = window.after.with_timezone(&self.zone);
        while runs.len() < window.limit {
            let next = match self.cron.find_next_occurrence(&cursor, false) {
                Ok(next) => next,
                // croner stops searching at year 5000: nothing later.
                Err(CronError::TimeSearchLimitExceeded) => break,
                Err(e) => {
                    return Err(FieldError::new(
                        "cron",
                        format!("cannot compute the next run after {cursor}: {e}"),
                    ))
                }
            };
            if next <= cursor {
                return Err(FieldError::new(
                    "cron",
                    format!("the next run after {cursor} did not move forward"),
                ));
            }
            let run = next.to_utc();
            if run > window.until {
                break;
            }
            runs.push(run);
            cursor = next;
        }
        Ok(runs)
    }
}

/// Parses a standard five-field expression (or a macro); `day_or` picks how a restricted
/// day-of-month and day-of-week combine.
fn parse(expression: &str, day_or: bool) -> Result<Cron, FieldError> {
    let error = |message: String| FieldError::new("cron", message);
    let trimmed = expression.trim();
    if trimmed.is_empty() {
        return Err(error("cron expression must not be empty".into()));
    }
    if trimmed.len() > MAX_LEN {
        return Err(error(format!(
            "cron expression must be at most {MAX_LEN} characters"
        )));
    }
    let fields = if trimmed.starts_with('@') {
        MACROS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(trimmed))
            .map(|(_, fields)| *fields)
            .ok_or_else(|| {
                let names: Vec<&str> = MACROS.iter().map(|(name, _)| *name).collect();
                error(format!(
                    "unknown cron macro '{trimmed}'; expected one of {}",
                    names.join(", ")
                ))
            })?
    } else {
        trimmed
    };
    let count = fields.split_whitespace().count();
    if count != 5 {
        let hint = if count > 5 {
            "; seconds and years are not supported"
        } else {
            ""
        };
        return Err(error(format!(
            "cron expression must have 5 fields (minute hour day-of-month month day-of-week), \
             got {count}{hint}"
        )));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .dom_and_dow(!day_or)
        .build()
        .parse(fields)
        .map_err(|e| error(format!("invalid cron expression '{trimmed}': {e}")))?;
    // croner skips empty list items, so a field such as `,,` would select nothing and make
    // every search run to its year limit.
    let pattern = &cron.pattern;
    let components = [
        ("minute", &pattern.minutes),
        ("hour", &pattern.hours),
        ("day-of-month", &pattern.days),
        ("month", &pattern.months),
        ("day-of-week", &pattern.days_of_week),
    ];
    for ((name, component), text) in components.into_iter().zip(fields.split_whitespace()) {
        if component.values().is_empty() && !component.has_modifiers() {
            return Err(error(format!(
                "invalid cron expression '{trimmed}': the {name} field '{text}' selects nothing"
            )));
        }
    }
    Ok(cron)
}
