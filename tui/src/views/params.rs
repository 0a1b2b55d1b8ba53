//! A deployment's parameters as people read and type them: declared type, default, value.

use rigel_common::deployment::Deployment;
use rigel_common::params::ParamType;
use serde_json::Value;

/// One parameter of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    /// The declared type; `None` when the flow declares no parameters at all.
    pub kind: Option<ParamType>,
    /// The flow's default.
    pub default: Option<Value>,
    /// The deployment's value (which runs get unless they give another).
    pub value: Option<Value>,
    pub description: Option<String>,
    pub required: bool,
    pub allowed: Option<Vec<Value>>,
}

impl ParamInfo {
    /// `string`, `integer, required`, `string, one of "a", "b"`.
    pub fn type_words(&self) -> String {
        let mut words = self
            .kind
            .map_or("undeclared".to_string(), |k| k.as_str().to_string());
        if self.required && self.default.is_none() {
            words.push_str(", required");
        }
        if let Some(values) = &self.allowed {
            let list: Vec<String> = values.iter().map(Value::to_string).collect();
            words.push_str(&format!(", one of {}", list.join(" ")));
        }
        words
    }

    /// What a run gets when it gives nothing: the deployment's value, else the flow's default.
    pub fn effective(&self) -> Option<&Value> {
        self.value.as_ref().or(self.default.as_ref())
    }
}

/// The declared parameters in declaration order, then any the deployment sets that the flow
/// doesn't declare.
pub fn declared(d: &Deployment) -> Vec<ParamInfo> {
    let mut out = Vec::new();
    let properties = d
        .parameter_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let required: Vec<&str> = d
        .parameter_schema
        .as_ref()
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = properties {
        let mut props: Vec<(&String, &Value)> = props.iter().collect();
        props.sort_by_key(|(_, p)| p.get("position").and_then(Value::as_u64).unwrap_or(0));
        for (name, p) in props {
            let kind = p
                .get("type")
                .and_then(|t| serde_json::from_value(t.clone()).ok())
                .unwrap_or(ParamType::Any);
            out.push(ParamInfo {
                name: name.clone(),
                kind: Some(kind),
                default: p.get("default").cloned(),
                value: d.parameters.get(name.as_str()).cloned(),
                description: p
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                required: required.contains(&name.as_str()),
                allowed: p.get("enum").and_then(Value::as_array).cloned(),
            });
        }
    }
    for (name, value) in &d.parameters {
        if out.iter().any(|p| &p.name == name) {
            continue;
        }
        out.push(ParamInfo {
            name: name.clone(),
            kind: properties.is_some().then_some(ParamType::Any),
            default: None,
            value: Some(value.clone()),
            description: None,
            required: false,
            allowed: None,
        });
    }
    out
}

/// A value as typed: strings bare, everything else as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads typed text as a value of `kind`; the error says what was expected.
pub fn parse_value(kind: Option<ParamType>, text: &str) -> Result<Value, String> {
    let json = || serde_json::from_str::<Value>(text);
    match kind.unwrap_or(ParamType::Any) {
        ParamType::String => Ok(Value::String(text.to_string())),
        ParamType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("'{text}' is not an integer")),
        ParamType::Number => {
            let t = text.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::from(i));
            }
            t.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("'{text}' is not a number"))
        }
        ParamType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "n" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not true or false")),
        },
        ParamType::Array => match json() {
            Ok(v @ Value::Array(_)) => Ok(v),
            _ => Err(format!("'{text}' is not a JSON array, e.g. [1, 2]")),
        },
        ParamType::Object => match json() {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(format!("'{text}' is not a JSON object, e.g. {{\"a\": 1}}")),
        },
        // like the CLI's -p: JSON when it reads as JSON, else the text itself
        ParamType::Any => Ok(json().unwrap_or_else(|_| Value::String(text.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_text_becomes_typed_values() {
        assert_eq!(parse_value(Some(ParamType::String), "3"), Ok(json!("3")));
        assert_eq!(parse_value(Some(ParamType::Integer), " 3 "), Ok(json!(3)));
        assert!(parse_value(Some(ParamType::Integer), "3.5").is_err());
        assert_eq!(parse_value(Some(ParamType::Number), "3.5"), Ok(json!(3.5)));
        assert_eq!(
            parse_value(Some(ParamType::Boolean), "yes"),
            Ok(json!(true))
        );
        assert!(parse_value(Some(ParamType::Boolean), "maybe").is_err());
        assert_eq!(parse_value(Some(ParamType::Array), "[1]"), Ok(json!([1])));
        assert!(parse_value(Some(ParamType::Object), "[1]").is_err());
        assert_eq!(parse_value(None, "Marvin"), Ok(json!("Marvin")));
        assert_eq!(parse_value(None, "42"), Ok(json!(42)));
    }
}
