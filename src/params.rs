//! Parsing what people type on the command line: `-p name=value`, durations, times.

use chrono::{DateTime, NaiveDateTime, Utc};
use rigel_common::deployment::Parameters;

use crate::exit::{CliError, CliResult};

/// `name=value`: the value is read as JSON (`3`, `true`, `[1,2]`, `"x"`) and otherwise taken as
/// a plain string, so `-p name=Marvin` works without quotes.
pub fn parse_param(s: &str) -> CliResult<(String, serde_json::Value)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| CliError::invalid(format!("-p '{s}': expected name=value")))?;
    if k.is_empty() {
        return Err(CliError::invalid(format!("-p '{s}': the name is empty")));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
    Ok((k.to_string(), value))
}

/// Collects `--params JSON` (or `-` for stdin) and then every `-p`, later ones winning.
pub fn collect(params_json: Option<&str>, pairs: &[String]) -> CliResult<Parameters> {
    let mut out = Parameters::new();
    if let Some(text) = params_json {
        let text = if text == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| CliError::invalid(format!("cannot read parameters from stdin: {e}")))?
        } else {
            text.to_string()
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CliError::invalid(format!("--params is not valid JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(CliError::invalid("--params must be a JSON object"));
        };
        out.extend(map);
    }
    for p in pairs {
        let (k, v) = parse_param(p)?;
        out.insert(k, v);
    }
    Ok(out)
}

/// A duration as [`rigel_common::duration::parse_seconds`] reads it (`90`, `10m`, `1h30m`,
/// `PT1H`), to the millisecond.
pub fn parse_duration(s: &str) -> CliResult<chrono::Duration> {
    let seconds = rigel_common::duration::parse_seconds(s).map_err(CliError::invalid)?;
    if seconds < 0.0 {
        return Err(CliError::invalid(format!("'{s}' is negative")));
    }
    chrono::Duration::try_milliseconds((seconds * 1000.0).round() as i64)
        .ok_or_else(|| CliError::invalid(format!("'{s}' is too long")))
}

/// An RFC 3339 time, or `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]` read as UTC.
pub fn parse_time(s: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(CliError::invalid(format!(
        "'{s}' is not a time: use RFC 3339 (2026-05-01T09:00:00+02:00) or 'YYYY-MM-DD HH:MM' (UTC)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_json_or_strings() {
        assert_eq!(
            parse_param("name=Marvin").unwrap().1,
            serde_json::json!("Marvin")
        );
        assert_eq!(parse_param("n=3").unwrap().1, serde_json::json!(3));
        assert_eq!(parse_param("l=[1,2]").unwrap().1, serde_json::json!([1, 2]));
        assert_eq!(parse_param("e=").unwrap().1, serde_json::json!(""));
        assert_eq!(parse_param("eq=a=b").unwrap().1, serde_json::json!("a=b"));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=x").is_err());
        let merged = collect(Some(r#"{"a": 1, "b": 2}"#), &["b=3".into()]).unwrap();
        assert_eq!(merged["a"], 1);
        assert_eq!(merged["b"], 3);
        assert!(collect(Some("[1]"), &[]).is_err());
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("10m").unwrap().num_seconds(), 600);
        assert_eq!(parse_duration("1h30m").unwrap().num_seconds(), 5400);
        assert_eq!(parse_duration("90").unwrap().num_seconds(), 90);
        assert_eq!(parse_duration("2d").unwrap().num_seconds(), 172_800);
        assert_eq!(parse_duration("PT1H").unwrap().num_seconds(), 3600);
        for bad in ["", "x", "10y", "m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_time("2026-05-01 09:00").unwrap().to_rfc3339(),
            "2026-05-01T09:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-05-01T09:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-05-01T07:00:00+00:00"
        );
        assert!(parse_time("tomorrow").is_err());
    }
}
