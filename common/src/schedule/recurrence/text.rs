//! Reading the rule text: folded content lines, `NAME;PARAMS:VALUE`, dates and date lists with
//! their zones, and a floating `UNTIL` made UTC.

use super::*;

/// `FREQ=WEEKLY;BYDAY=MO`: the rule lines without their `RRULE:` prefix.
pub(crate) fn describe(text: &str) -> String {
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
pub(super) fn unfold(text: &str) -> Vec<String> {
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
pub(super) fn split_line(text: &str) -> Result<Line<'_>, FieldError> {
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
pub(super) fn date_line_zone(line: &Line<'_>) -> Result<Option<Tz>, FieldError> {
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
pub(super) fn parse_value(value: &str) -> Option<(NaiveDateTime, bool)> {
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

pub(super) fn parse_dtstart(
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
pub(super) fn parse_date_list(line: &Line<'_>, zone: &Tz) -> Result<Vec<DateTime<Tz>>, FieldError> {
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
pub(super) fn with_utc_until(rule: &str, zone: &Tz) -> String {
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
