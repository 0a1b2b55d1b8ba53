//! Declared flow parameters, the JSON-Schema-like `parameter_schema` stored on a deployment, and
//! the check of given parameters against it.

use std::fmt;

use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

use super::located::json_kind;
use crate::deployment::Parameters;
use crate::validation::FieldError;

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
    fn of_value(value: &Value) -> ParamType {
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

/// One declared parameter.
///
/// Written either in full (`{type, default, description, enum, required}`; every key optional)
/// or as a bare default (`name: "world"`), whose type is then taken from the value. Without a
/// `type`, the type is taken from `default` when there is one, else it is `any`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParamDef {
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    /// A run must give a value unless there is a default.
    pub required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullParamDef {
    #[serde(rename = "type", default)]
    kind: Option<ParamType>,
    /// `default: null` is kept (as `Some(Null)`): null is then an accepted value.
    #[serde(default, deserialize_with = "present")]
    default: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "enum", default)]
    enum_values: Option<Vec<Value>>,
    #[serde(default)]
    required: bool,
}

fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(de).map(Some)
}

impl<'de> Deserialize<'de> for ParamDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Ok(ParamDef {
                kind: ParamType::of_value(&value),
                default: Some(value),
                ..ParamDef::default()
            });
        }
        let full = FullParamDef::deserialize(value).map_err(D::Error::custom)?;
        let kind = full.kind.unwrap_or_else(|| {
            full.default
                .as_ref()
                .map(ParamType::of_value)
                .unwrap_or_default()
        });
        Ok(ParamDef {
            kind,
            default: full.default,
            description: full.description,
            enum_values: full.enum_values,
            required: full.required,
        })
    }
}

impl ParamDef {
    /// Checks the declaration itself: the default and the `enum` values fit the type, and the
    /// default is one of the `enum` values. The field is `default` or `enum`.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(values) = &self.enum_values {
            if values.is_empty() {
                return Err(FieldError::new("enum", "must list at least one value"));
            }
            if let Some(bad) = values.iter().find(|v| !self.kind.accepts(v)) {
                return Err(FieldError::new(
                    "enum",
                    format!("{bad} is not of type {}", self.kind),
                ));
            }
        }
        if let Some(default) = self.default.as_ref().filter(|d| !d.is_null()) {
            if !self.kind.accepts(default) {
                return Err(FieldError::new(
                    "default",
                    format!(
                        "{default} is {}, but the parameter's type is {}",
                        json_kind(default),
                        self.kind
                    ),
                ));
            }
            if let Some(values) = &self.enum_values {
                if !values.contains(default) {
                    return Err(FieldError::new(
                        "default",
                        format!(
                            "{default} is not one of the allowed values ({})",
                            list(values)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks a parameter name (field `parameters.<name>`): letters, digits and `_`, not starting with a digit
/// (parameters reach commands as `RIGEL_PARAM_<NAME>` environment variables).
pub fn validate_param_name(name: &str) -> Result<(), FieldError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            format!("parameters.{name}"),
            "is not a valid parameter name: use letters, digits and _, not starting with a digit",
        ))
    }
}

/// Reads a mapping of parameter name → [`ParamDef`], keeping the order it was written in.
pub(crate) fn ordered<'de, D, V>(deserializer: D) -> Result<Option<Vec<(String, V)>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Ordered<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Ordered<V> {
        type Value = Option<Vec<(String, V)>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping of parameter names to their declarations")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(Vec::new()))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(Vec::new()))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, V)> = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                if out.iter().any(|(n, _)| *n == name) {
                    return Err(A::Error::custom(format!(
                        "parameter '{name}' is declared twice"
                    )));
                }
                let def = map.next_value()?;
                out.push((name, def));
            }
            Ok(Some(out))
        }
    }
    deserializer.deserialize_any(Ordered(std::marker::PhantomData))
}

/// The `parameter_schema` of declared parameters:
/// `{"type": "object", "properties": {name: {"type", "default", "description", "enum",
/// "position"}}, "required": [names]}`. `position` is the declaration order (JSON objects have
/// none); `type` is left out for `any`; `required` lists the required parameters without a
/// default, in declaration order.
pub fn parameter_schema(params: &[(String, ParamDef)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (position, (name, def)) in params.iter().enumerate() {
        let mut prop = Map::new();
        if def.kind != ParamType::Any {
            prop.insert("type".into(), json!(def.kind.as_str()));
        }
        if let Some(d) = &def.default {
            prop.insert("default".into(), d.clone());
        }
        if let Some(d) = &def.description {
            prop.insert("description".into(), json!(d));
        }
        if let Some(e) = &def.enum_values {
            prop.insert("enum".into(), json!(e));
        }
        prop.insert("position".into(), json!(position));
        properties.insert(name.clone(), Value::Object(prop));
        if def.required && def.default.is_none() {
            required.push(json!(name));
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
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
