//! When a custom run should start: `10m`, `1h30m`, or a time (RFC 3339 or `YYYY-MM-DD HH:MM`
//! in UTC) — what `rigel deployment run --start-in/--start-at` accept.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

/// A start time and how to say it to the CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct StartAt {
    pub at: DateTime<Utc>,
    /// `--start-in` or `--start-at`.
    pub flag: &'static str,
    pub value: String,
}

/// Blank is "now" (`None`).
pub fn parse_start(text: &str, now: DateTime<Utc>) -> Result<Option<StartAt>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(d) = parse_duration(text) {
        return Ok(Some(StartAt {
            at: now + d,
            flag: "--start-in",
            value: text.to_string(),
        }));
    }
    if let Some(at) = parse_time(text) {
        return Ok(Some(StartAt {
            at,
            flag: "--start-at",
            value: text.to_string(),
        }));
    }
    Err(format!(
        "'{text}' is neither a delay (10m, 2h, 1h30m) nor a time (2026-05-01 09:00, UTC)"
    ))
}

/// `90`, `90s`, `10m`, `2h`, `1d`, `1w`, `1h30m`.
fn parse_duration(s: &str) -> Option<Duration> {
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse().ok()?)?;
    }
    Duration::try_seconds(total)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
    .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn delays_and_times() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let s = parse_start("1h30m", now).unwrap().unwrap();
        assert_eq!(s.at, now + Duration::minutes(90));
        assert_eq!(s.flag, "--start-in");
        let s = parse_start("2026-05-02 09:00", now).unwrap().unwrap();
        assert_eq!(s.at, Utc.with_ymd_and_hms(2026, 5, 2, 9, 0, 0).unwrap());
        assert_eq!(s.flag, "--start-at");
        assert_eq!(parse_start("  ", now), Ok(None));
        assert!(parse_start("tomorrow", now).is_err());
        assert!(parse_start("10y", now).is_err());
    }
}
