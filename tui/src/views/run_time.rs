//! When a custom run should start: `10m`, `1h30m`, or a time (RFC 3339 or `YYYY-MM-DD HH:MM`
//! in UTC) — what `rigel deployment run --start-in/--start-at` accept.

use chrono::{DateTime, Utc};
use rigel_common::when::{parse_delay, parse_time};

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
    if let Ok(d) = parse_delay(text) {
        return Ok(Some(StartAt {
            at: now + d,
            flag: "--start-in",
            value: text.to_string(),
        }));
    }
    if let Ok(at) = parse_time(text) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn delays_and_times() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let s = parse_start("1h30m", now).unwrap().unwrap();
        assert_eq!(s.at, now + chrono::Duration::minutes(90));
        assert_eq!(s.flag, "--start-in");
        let s = parse_start("2026-05-02 09:00", now).unwrap().unwrap();
        assert_eq!(s.at, Utc.with_ymd_and_hms(2026, 5, 2, 9, 0, 0).unwrap());
        assert_eq!(s.flag, "--start-at");
        assert_eq!(parse_start("  ", now), Ok(None));
        assert!(parse_start("tomorrow", now).is_err());
        assert!(parse_start("10y", now).is_err());
    }
}
