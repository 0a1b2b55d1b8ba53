//! Declared flow parameters, as flow files write them, and the `parameter_schema` they give.

use std::fmt;

use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

use rigel_common::params::ParamType;
use rigel_common::validation::{json_kind, FieldError};

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
                            values
                                .iter()
                                .map(Value::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
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
