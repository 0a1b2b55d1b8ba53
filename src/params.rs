//! Parsing what people type on the command line: `-p name=value`, durations, times.

use chrono::{DateTime, Utc};
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

/// A delay (`90`, `10m`, `1h30m`, `PT1H`): [`rigel_common::when::parse_delay`].
pub fn parse_duration(s: &str) -> CliResult<chrono::Duration> {
    rigel_common::when::parse_delay(s).map_err(CliError::invalid)
}

/// A time (RFC 3339, or `YYYY-MM-DD HH:MM` in UTC): [`rigel_common::when::parse_time`].
pub fn parse_time(s: &str) -> CliResult<DateTime<Utc>> {
    rigel_common::when::parse_time(s).map_err(CliError::invalid)
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
}
