//! Deployments: a flow bound to a schedule, default parameters, tags, a flow runner and the
//! place its code is stored. Addressed as `flow_name/deployment_name`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::filter::{AllFilter, AnyFilter, EqFilter};
use crate::flow::FlowCriteria;
use crate::flow_data::FlowData;
use crate::schedule::Schedule;
use crate::validation::{json_at_most, validate_name, FieldError, MAX_SETTINGS_BYTES};

/// Default parameters of a deployment or run: parameter name → JSON value.
pub type Parameters = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deployment {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub name: String,
    pub flow_id: Uuid,
    /// The flow's name, so clients can show `flow/deployment` without a second request.
    pub flow_name: String,
    pub description: Option<String>,
    pub flow_data: FlowData,
    pub schedule: Option<Schedule>,
    pub is_schedule_active: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Parameters,
    /// The flow's declared parameters (JSON Schema-like), when the flow file declares them.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameter_schema: Option<serde_json::Value>,
    pub tags: Vec<String>,
    pub flow_runner: FlowRunnerSettings,
    /// A hint for which work queue should run this deployment's flows.
    pub work_queue_name: Option<String>,
}

impl Deployment {
    /// `flow/deployment`, the name people type.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.flow_name, self.name)
    }
}

/// Body of `POST /api/deployments/`: creates the deployment, or updates the one with the same
/// flow and name (keeping its id). Give the flow by `flow_id` or by `flow_name` (created if new).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentCreate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    pub flow_data: FlowData,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Defaults to `true` on creation; when absent on an update the current value is kept, so
    /// redeploying a spec does not undo a pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_schedule_active: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Parameters,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameter_schema: Option<serde_json::Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub flow_runner: Option<FlowRunnerSettings>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
}

/// Body of `PATCH /api/deployments/{id}`: only the fields present change. `schedule: null`
/// removes the schedule; `description: null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentUpdate {
    #[serde(
        default,
        deserialize_with = "crate::filter::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Parameters>,
    #[serde(
        default,
        deserialize_with = "crate::filter::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Schedule>))]
    pub schedule: Option<Option<Schedule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_schedule_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_runner: Option<FlowRunnerSettings>,
}

/// How a deployment's runs are started: `{type, config}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowRunnerSettings {
    #[serde(rename = "type")]
    pub kind: FlowRunnerType,
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
}

/// What a hidden secret reads as.
pub const REDACTED: &str = "***";

impl FlowRunnerSettings {
    /// Hides the values of the runner's `env` (they often hold credentials), keeping the names.
    pub fn redact(&mut self) {
        if let Some(env) = self
            .config
            .get_mut("env")
            .and_then(serde_json::Value::as_object_mut)
        {
            for v in env.values_mut() {
                *v = serde_json::Value::String(REDACTED.into());
            }
        }
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl Default for FlowRunnerSettings {
    /// The seed's default: `{'type': 'universal', 'config': {'env': {}}}`.
    fn default() -> Self {
        Self {
            kind: FlowRunnerType::Universal,
            config: serde_json::json!({ "env": {} }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FlowRunnerType {
    /// Runs wherever the agent is; treated as `subprocess`.
    Universal,
    Subprocess,
    Docker,
    Kubernetes,
}

impl FlowRunnerType {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowRunnerType::Universal => "universal",
            FlowRunnerType::Subprocess => "subprocess",
            FlowRunnerType::Docker => "docker",
            FlowRunnerType::Kubernetes => "kubernetes",
        }
    }
}

/// Deployment fields to filter on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AnyFilter<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<AllFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_schedule_active: Option<EqFilter<bool>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentSort {
    /// By deployment name, then flow name.
    #[default]
    NameAsc,
    NameDesc,
    CreatedAsc,
    CreatedDesc,
    UpdatedAsc,
    UpdatedDesc,
}

/// Body of `POST /api/deployments/filter` (and, without paging, `/count`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentFilter {
    #[serde(default)]
    pub flows: FlowCriteria,
    #[serde(default)]
    pub deployments: DeploymentCriteria,
    #[serde(default)]
    pub sort: DeploymentSort,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Default for DeploymentFilter {
    /// Everything, first page of the largest size.
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({}))
            .expect("every field of a filter has a default")
    }
}

/// Body of `POST /api/deployments/count`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentCount {
    #[serde(default)]
    pub flows: FlowCriteria,
    #[serde(default)]
    pub deployments: DeploymentCriteria,
}

impl FlowRunnerSettings {
    /// Checks `config` against the runner type. `docker` and `kubernetes` configs are stored as
    /// given (no agent runs them yet); the others accept only the keys their runner reads.
    pub fn validate(&self) -> Result<(), FieldError> {
        json_at_most("config", &self.config, MAX_SETTINGS_BYTES)?;
        let obj = self
            .config
            .as_object()
            .ok_or_else(|| FieldError::new("config", "must be a JSON object"))?;
        let allowed: &[&str] = match self.kind {
            FlowRunnerType::Universal => crate::settings::ProcessConfig::UNIVERSAL_KEYS,
            FlowRunnerType::Subprocess => crate::settings::ProcessConfig::KEYS,
            FlowRunnerType::Docker | FlowRunnerType::Kubernetes => return Ok(()),
        };
        for (key, value) in obj {
            let field = format!("config.{key}");
            match key.as_str() {
                k if !allowed.contains(&k) => {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "unknown setting for a {} flow runner; known: {}",
                            self.kind.as_str(),
                            allowed.join(", ")
                        ),
                    ))
                }
                "env" => {
                    let env = value
                        .as_object()
                        .ok_or_else(|| FieldError::new(&field, "must be an object of strings"))?;
                    for (name, v) in env {
                        if name.is_empty() || name.contains('=') || name.contains('\0') {
                            return Err(FieldError::new(
                                format!("{field}.{name}"),
                                "is not a valid environment variable name",
                            ));
                        }
                        match v.as_str() {
                            None => {
                                return Err(FieldError::new(
                                    format!("{field}.{name}"),
                                    "must be a string",
                                ))
                            }
                            Some(text) if text.contains('\0') => {
                                return Err(FieldError::new(format!("{field}.{name}"), NUL_MESSAGE))
                            }
                            Some(_) => {}
                        }
                    }
                }
                "stream_output" => {
                    if !value.is_boolean() {
                        return Err(FieldError::new(field, "must be true or false"));
                    }
                }
                _ => {
                    if value.as_str().is_none_or(str::is_empty) && !value.is_null() {
                        return Err(FieldError::new(field, "must be a non-empty string"));
                    }
                    if value.as_str().is_some_and(|t| t.contains('\0')) {
                        return Err(FieldError::new(field, NUL_MESSAGE));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Tags are non-empty strings without control characters.
/// Why a string that reaches a process's environment or arguments is refused.
const NUL_MESSAGE: &str = "must not contain a NUL character (it cannot reach a process)";

/// Checks parameters where they enter: a top-level string becomes the `RIGEL_PARAM_<NAME>`
/// environment variable, which cannot hold a NUL, so one is refused here rather than at spawn.
/// (Nested values travel JSON-encoded in `RIGEL_PARAMETERS`, where a NUL is escaped.)
pub fn validate_parameters(field: &str, parameters: &Parameters) -> Result<(), FieldError> {
    crate::validation::json_at_most(field, parameters, crate::validation::MAX_PARAMETERS_BYTES)?;
    for (name, value) in parameters {
        if value.as_str().is_some_and(|t| t.contains('\0')) {
            return Err(FieldError::new(format!("{field}.{name}"), NUL_MESSAGE));
        }
    }
    Ok(())
}

pub fn validate_tags(field: &str, tags: &[String]) -> Result<(), FieldError> {
    use crate::filter::{MAX_TAGS, MAX_TAG_CHARS};
    if tags.len() > MAX_TAGS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_TAGS} tags, got {}", tags.len()),
        ));
    }
    for (i, t) in tags.iter().enumerate() {
        if t.chars().count() > MAX_TAG_CHARS {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("a tag is at most {MAX_TAG_CHARS} characters"),
            ));
        }
        if t.trim().is_empty() || t.chars().any(char::is_control) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                "tags must be non-empty text without control characters",
            ));
        }
    }
    Ok(())
}

impl DeploymentCreate {
    /// Everything that can be checked without the database.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        match (&self.flow_id, &self.flow_name) {
            (None, None) => {
                return Err(FieldError::new(
                    "flow_id",
                    "give the flow as `flow_id` or `flow_name`",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "flow_name",
                    "give either `flow_id` or `flow_name`, not both",
                ))
            }
            (None, Some(n)) => validate_name("flow_name", n)?,
            (Some(_), None) => {}
        }
        self.flow_data
            .validate()
            .map_err(|e| e.under("flow_data"))?;
        if let Some(s) = &self.schedule {
            s.validate().map_err(|e| e.under("schedule"))?;
        }
        validate_tags("tags", &self.tags)?;
        validate_parameters("parameters", &self.parameters)?;
        if let Some(d) = &self.description {
            json_at_most("description", d, MAX_SETTINGS_BYTES)?;
        }
        if let Some(r) = &self.flow_runner {
            r.validate().map_err(|e| e.under("flow_runner"))?;
        }
        if let Some(q) = &self.work_queue_name {
            validate_name("work_queue_name", q)?;
        }
        if let Some(schema) = &self.parameter_schema {
            if !schema.is_object() {
                return Err(FieldError::new("parameter_schema", "must be a JSON object"));
            }
            json_at_most("parameter_schema", schema, MAX_SETTINGS_BYTES)?;
            crate::params::check_parameter_values(schema, &self.parameters)?;
        }
        Ok(())
    }
}

impl DeploymentUpdate {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(Some(s)) = &self.schedule {
            s.validate().map_err(|e| e.under("schedule"))?;
        }
        if let Some(tags) = &self.tags {
            validate_tags("tags", tags)?;
        }
        if let Some(r) = &self.flow_runner {
            r.validate().map_err(|e| e.under("flow_runner"))?;
        }
        if let Some(p) = &self.parameters {
            validate_parameters("parameters", p)?;
        }
        if let Some(Some(d)) = &self.description {
            json_at_most("description", d, MAX_SETTINGS_BYTES)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runner(kind: FlowRunnerType, config: serde_json::Value) -> FlowRunnerSettings {
        FlowRunnerSettings { kind, config }
    }

    #[test]
    fn flow_runner_config_is_checked() {
        assert!(FlowRunnerSettings::default().validate().is_ok());
        let ok = runner(
            FlowRunnerType::Subprocess,
            json!({"env": {"A": "1"}, "stream_output": true, "working_dir": "/tmp"}),
        );
        assert!(ok.validate().is_ok());
        let cases = [
            (json!({"env": {"A": 1}}), "config.env.A"),
            (json!({"env": {"A": "x\u{0}y"}}), "config.env.A"),
            (json!({"working_dir": "/tmp\u{0}"}), "config.working_dir"),
            (json!({"env": []}), "config.env"),
            (json!({"stream_output": "yes"}), "config.stream_output"),
            (json!({"image": "x"}), "config.image"),
            (json!([]), "config"),
        ];
        for (config, field) in cases {
            let err = runner(FlowRunnerType::Subprocess, config)
                .validate()
                .unwrap_err();
            assert_eq!(err.field, field);
        }
        assert!(runner(FlowRunnerType::Docker, json!({"image": "x"}))
            .validate()
            .is_ok());
    }

    #[test]
    fn unknown_runner_type_is_a_parse_error() {
        let err = serde_json::from_value::<FlowRunnerSettings>(json!({"type": "ssh"})).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    #[test]
    fn update_tells_absent_from_null() {
        let u: DeploymentUpdate = serde_json::from_value(json!({"schedule": null})).unwrap();
        assert_eq!(u.schedule, Some(None));
        let u: DeploymentUpdate = serde_json::from_value(json!({})).unwrap();
        assert_eq!(u.schedule, None);
    }
}
