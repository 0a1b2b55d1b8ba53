//! Restarting a rule close to a window: the parts it takes from its start made explicit, and a
//! later start that yields the same occurrences from there on.

use super::*;

/// Makes explicit every part a rule takes from its start (RFC 5545: "the time of day from
/// DTSTART", the weekday for `WEEKLY`, the day for `MONTHLY` and `YEARLY`), mirroring what the
/// rule crate fills in, so the rule means the same with any later start.
pub(super) fn inherit_from_start(
    rule: RRule<Unvalidated>,
    start: NaiveDateTime,
) -> RRule<Unvalidated> {
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
pub(super) fn restart_wall(
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
