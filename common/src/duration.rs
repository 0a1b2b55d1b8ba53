//! Durations as people write them: `90` (seconds), `90s`, `10m`, `1h30m`, `1.5h`, `1d`, `2w`, or
//! ISO 8601 (`PT1H`, `P1D`, `P1DT2H30M`, `PT0.5S`, `P2W`). Schedules' intervals, the CLI's
//! `--interval` and `--start-in` all read them here, so every place agrees.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// What to write, for error messages.
pub const EXAMPLES: &str = "seconds, or e.g. 90s, 10m, 1h30m, 1d, 2w, PT1H";

/// Seconds in a duration written as seconds, with units, or in ISO 8601. Months and years are
/// refused: their length varies (use a cron or rrule schedule for calendar months).
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let bad = || format!("'{text}' is not a duration ({EXAMPLES})");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n).ok_or_else(bad);
    }
    let upper = s.to_ascii_uppercase();
    let seconds = match upper.strip_prefix('P') {
        Some(iso) => iso_seconds(iso).ok_or_else(|| {
            if iso.split('T').next().is_some_and(|d| d.contains(['Y', 'M'])) {
                format!("'{text}': months and years have no fixed length; use days (P30D) or a cron/rrule schedule")
            } else {
                bad()
            }
        })?,
        None => unit_seconds(s).ok_or_else(bad)?,
    };
    seconds.is_finite().then_some(seconds).ok_or_else(bad)
}

/// `1h30m`, `1.5h`, `90s`: numbers each followed by a unit (s, m, h, d, w).
fn unit_seconds(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86_400.0,
            'w' => 604_800.0,
            _ => return None,
        };
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += n * unit;
    }
    // a bare number was handled by the caller: a trailing one has no unit
    number.is_empty().then_some(total)
}

/// The part after `P`: `[nW][nD][T[nH][nM][nS]]`.
fn iso_seconds(iso: &str) -> Option<f64> {
    let (date, time) = match iso.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (iso, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let date = designators(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    let time = match time {
        Some(t) => designators(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?,
        None => 0.0,
    };
    Some(date + time)
}

/// Numbers each followed by one of `units`, in that order, each at most once.
fn designators(part: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut next = 0;
    for c in part.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
            continue;
        }
        let at = units[next..].iter().position(|(u, _)| *u == c)? + next;
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += n * units[at].1;
        next = at + 1;
    }
    number.is_empty().then_some(total)
}

/// Serde: a number of seconds, or a duration string ([`parse_seconds`]).
pub fn deserialize_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    struct Seconds;
    impl Visitor<'_> for Seconds {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a duration: {EXAMPLES}")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            parse_seconds(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_any(Seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_form() {
        for (text, seconds) in [
            ("3600", 3600.0),
            ("1.5", 1.5),
            ("90s", 90.0),
            ("90m", 5400.0),
            ("1h", 3600.0),
            ("1h30m", 5400.0),
            ("1.5h", 5400.0),
            ("1d", 86_400.0),
            ("2w", 1_209_600.0),
            ("PT1H", 3600.0),
            ("pt90m", 5400.0),
            ("P1D", 86_400.0),
            ("P1DT2H30M", 95_400.0),
            ("PT0.5S", 0.5),
            ("P2W", 1_209_600.0),
        ] {
            assert_eq!(parse_seconds(text), Ok(seconds), "{text}");
        }
        for bad in [
            "", "x", "10y", "m", "1h30", "P", "PT", "PT1D", "P1H", "PT1M1H", "inf", "NaN",
        ] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        let months = parse_seconds("P1M").unwrap_err();
        assert!(months.contains("no fixed length"), "{months}");
    }
}
