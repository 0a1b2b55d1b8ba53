//! Input validation shared by the server (which enforces it) and the CLI (which checks early).

use std::fmt;

/// A problem with one field of some input: which field, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `schedule.timezone`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, seen from one level up: `timezone` under `schedule` becomes `schedule.timezone`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_string()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Characters that can't appear in names, because names travel in URL paths (`flow/deployment`).
pub const FORBIDDEN_NAME_CHARS: [char; 5] = ['/', '%', '&', '>', '<'];

/// Longest name accepted for flows, deployments, work queues and storage blocks.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a flow, deployment, work queue or block name; `field` names it in the error.
pub fn validate_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN_NAME_CHARS.contains(c)) {
        return Err(FieldError::new(
            field,
            format!("must not contain '{c}' (names may not contain / % & > <)"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Most bytes of a run's or deployment's parameters (as JSON): they are copied into every run,
/// and into every event and answer about it.
pub const MAX_PARAMETERS_BYTES: usize = 256 * 1024;
/// Most bytes of a parameter schema, a flow runner's config or a description.
pub const MAX_SETTINGS_BYTES: usize = 64 * 1024;

/// Refuses a value whose JSON is longer than `max` bytes.
pub fn json_at_most<T: serde::Serialize + ?Sized>(
    field: &str,
    value: &T,
    max: usize,
) -> Result<(), FieldError> {
    let len = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > max {
        return Err(FieldError::new(
            field,
            format!(
                "must be at most {} KiB of JSON, got {} KiB",
                max / 1024,
                len.div_ceil(1024)
            ),
        ));
    }
    Ok(())
}

/// A short description of a JSON value's kind, for messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a number",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_reserved_characters_and_blank() {
        for bad in ["", "  ", "a/b", "50%", "a&b", "a>b", "a<b", "tab\there"] {
            let err = validate_name("name", bad).unwrap_err();
            assert_eq!(err.field, "name", "{bad:?}");
        }
        for good in [
            "hello-world",
            "storage instance test",
            "ÄÖ ünïcode",
            "a.b_c",
        ] {
            assert!(validate_name("name", good).is_ok(), "{good:?}");
        }
        assert!(validate_name("name", &"x".repeat(201)).is_err());
    }

    #[test]
    fn under_builds_dotted_paths() {
        let e = FieldError::new("timezone", "unknown").under("schedule");
        assert_eq!(e.field, "schedule.timezone");
        assert_eq!(e.to_string(), "schedule.timezone: unknown");
        assert_eq!(
            FieldError::new("", "bad").under("schedule").field,
            "schedule"
        );
    }
}
