//! Times and delays as people type them, read the same way by the CLI (`--start-in`,
//! `--start-at`, `--since`) and the terminal UI (a custom run's start).

use chrono::{DateTime, NaiveDateTime, Utc};

/// Longest delay accepted: a time this far ahead is certainly a typo, and any date arithmetic
/// on it stays far from chrono's limits.
const MAX_DELAY_SECONDS: f64 = 100.0 * 366.0 * 86_400.0;

/// A delay as [`crate::duration::parse_seconds`] reads it (`90`, `10m`, `1h30m`, `PT1H`), to the
/// millisecond; negative delays and delays over 100 years are refused.
pub fn parse_delay(s: &str) -> Result<chrono::Duration, String> {
    let seconds = crate::duration::parse_seconds(s)?;
    if seconds < 0.0 {
        return Err(format!("'{s}' is negative"));
    }
    if seconds > MAX_DELAY_SECONDS {
        return Err(format!("'{s}' is too long (at most 100 years)"));
    }
    Ok(chrono::Duration::milliseconds(
        (seconds * 1000.0).round() as i64
    ))
}

/// An RFC 3339 time, or `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]` read as UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
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
    .ok_or_else(|| {
        format!(
            "'{s}' is not a time: use RFC 3339 (2026-05-01T09:00:00+02:00) or 'YYYY-MM-DD HH:MM' (UTC)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn delays_in_every_form_and_never_negative() {
        assert_eq!(parse_delay("1h30m"), Ok(chrono::Duration::minutes(90)));
        assert_eq!(
            parse_delay("PT0.5S"),
            Ok(chrono::Duration::milliseconds(500))
        );
        assert_eq!(parse_delay("90"), Ok(chrono::Duration::seconds(90)));
        assert!(parse_delay("-5").unwrap_err().contains("negative"));
        assert!(parse_delay("1e300").unwrap_err().contains("too long"));
        assert!(parse_delay("10y").is_err());
    }

    #[test]
    fn times_in_rfc3339_or_as_utc() {
        let nine = Utc.with_ymd_and_hms(2026, 5, 2, 9, 0, 0).unwrap();
        assert_eq!(parse_time("2026-05-02 09:00"), Ok(nine));
        assert_eq!(parse_time("2026-05-02T09:00:00"), Ok(nine));
        assert_eq!(parse_time("2026-05-02T11:00:00+02:00"), Ok(nine));
        assert!(parse_time("tomorrow").unwrap_err().contains("RFC 3339"));
    }
}
