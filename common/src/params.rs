//! The JSON-Schema-like `parameter_schema` stored on a deployment, and the check of given
//! parameters against it (flow files declare parameters: `rigel_spec::flowfile`).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deployment::Parameters;
use crate::validation::{json_kind, FieldError};

/// The declared type of a parameter. `any` accepts every value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[serde(alias = "str")]
    String,
    #[serde(alias = "int")]
    Integer,
    /// Any number; integers are accepted.
    #[serde(alias = "float")]
    Number,
    #[serde(alias = "bool")]
    Boolean,
    #[serde(alias = "list")]
    Array,
    #[serde(alias = "dict")]
    Object,
    #[default]
    Any,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Array => "array",
            ParamType::Object => "object",
            ParamType::Any => "any",
        }
    }

    /// Whether `value` is of this type. `null` is only accepted by `any`; an integral float
    /// (`3.0`) counts as an integer, as in JSON Schema.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Integer => match value {
                Value::Number(n) => {
                    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
                }
                _ => false,
            },
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::Array => value.is_array(),
            ParamType::Object => value.is_object(),
            ParamType::Any => true,
        }
    }

    /// The type a default value implies when no `type` is declared.
    pub fn of_value(value: &Value) -> ParamType {
        match value {
            Value::String(_) => ParamType::String,
            Value::Number(n) if n.is_f64() => ParamType::Number,
            Value::Number(_) => ParamType::Integer,
            Value::Bool(_) => ParamType::Boolean,
            Value::Array(_) => ParamType::Array,
            Value::Object(_) => ParamType::Object,
            Value::Null => ParamType::Any,
        }
    }

    fn from_schema(prop: &Value) -> ParamType {
        prop.get("type")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or(ParamType::Any)
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's effective parameters: the defaults its flow declares (in `schema`), overlaid by its
/// deployment's parameters, overlaid by the run's own. This is what the run stores and what its
/// flow receives, whatever kind of flow file it is, so a declared default reaches a script's
/// `RIGEL_PARAM_<NAME>` as surely as a Python function's signature.
pub fn effective_parameters(
    schema: Option<&Value>,
    deployment: &Parameters,
    run: &Parameters,
) -> Parameters {
    let mut out = Parameters::new();
    if let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        for (name, prop) in properties {
            if let Some(default) = prop.get("default") {
                out.insert(name.clone(), default.clone());
            }
        }
    }
    for layer in [deployment, run] {
        out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// Checks parameters against a [`parameter_schema`]: every name is declared, every value has
/// the declared type and is one of the `enum` values, and every required parameter without a
/// default is given. `null` passes only for `any` or when the declared default is `null`. The
/// error's field is `parameters.<name>`. A schema without `properties` accepts everything.
pub fn check_parameters(schema: &Value, params: &Parameters) -> Result<(), FieldError> {
    check_parameter_values(schema, params)?;
    let Some(required) = schema.get("required").and_then(Value::as_array) else {
        return Ok(());
    };
    for name in required.iter().filter_map(Value::as_str) {
        if !params.contains_key(name) {
            return Err(FieldError::new(
                format!("parameters.{name}"),
                "is required: the flow declares it without a default",
            ));
        }
    }
    Ok(())
}

/// [`check_parameters`] without the check that required parameters are present: for a
/// deployment's defaults, which runs may complete.
pub fn check_parameter_values(schema: &Value, params: &Parameters) -> Result<(), FieldError> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, value) in params {
        let field = format!("parameters.{name}");
        let Some(prop) = properties.get(name) else {
            let message = if properties.is_empty() {
                "unknown parameter: the flow declares no parameters".to_string()
            } else {
                let mut names: Vec<(&String, u64)> = properties
                    .iter()
                    .map(|(n, p)| (n, p.get("position").and_then(Value::as_u64).unwrap_or(0)))
                    .collect();
                names.sort_by_key(|(_, pos)| *pos);
                let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
                format!(
                    "unknown parameter; the flow's parameters are: {}",
                    names.join(", ")
                )
            };
            return Err(FieldError::new(field, message));
        };
        let kind = ParamType::from_schema(prop);
        if value.is_null() {
            if kind == ParamType::Any || prop.get("default").is_some_and(Value::is_null) {
                continue;
            }
            return Err(FieldError::new(
                field,
                format!("must be {} {kind}, not null", article(kind)),
            ));
        }
        if !kind.accepts(value) {
            return Err(FieldError::new(
                field,
                format!(
                    "must be {} {kind}, not {} ({value})",
                    article(kind),
                    json_kind(value)
                ),
            ));
        }
        if let Some(values) = prop.get("enum").and_then(Value::as_array) {
            if !values.contains(value) && !values.iter().any(|v| same_number(v, value)) {
                return Err(FieldError::new(
                    field,
                    format!("{value} is not one of the allowed values: {}", list(values)),
                ));
            }
        }
    }
    Ok(())
}

fn article(kind: ParamType) -> &'static str {
    match kind {
        ParamType::Integer | ParamType::Array | ParamType::Object | ParamType::Any => "an",
        _ => "a",
    }
}

/// `1` and `1.0` are the same enum value.
fn same_number(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => a.is_number() && b.is_number() && x == y,
        _ => false,
    }
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
