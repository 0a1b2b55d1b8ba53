//! Deployment specs: the settings a deployment is created from, as YAML, JSON or Rust code.
//!
//! A spec file is YAML — one spec per document, documents separated by `---` — or JSON (one
//! object, or an array of objects). A YAML document may also be a list of specs. Fields are the
//! seed's `DeploymentSpec` ones ([`DeploymentSpec`]); unknown keys are errors:
//!
//! ```yaml
//! name: hello-world-daily
//! flow_location: ./hello_flow.py
//! flow_name: hello-world
//! tags: [foo, bar]
//! parameters:
//!     name: "Earth"
//! schedule:
//!     interval: 3600
//! ```
//!
//! Each document is read on its own: a bad one gives a [`SpecError`] (file and line) and the
//! others are still read. A relative `flow_location` is resolved against the spec file's folder.
//! A YAML file with a top-level `flows:` key is a flow file; its `deployments:` are its specs
//! (see [`crate::flowfile`]) — [`load`] handles both.
//!
//! Parsing reads only the spec. [`resolve`] then reads the flow file it points at, picks the
//! flow, checks the parameters and gives what is needed to build a [`DeploymentCreate`].

mod documents;
mod python;
mod resolved;
#[cfg(test)]
mod tests;

pub use python::load_collected;
pub use resolved::{resolve, resolve_with, ResolvedSpec};

pub(crate) use documents::read_unit;
use documents::*;
pub(crate) use resolved::{check_doc_parameters, reject_duplicates};

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use rigel_common::block::{validate_block_config, BlockCreate};
use rigel_common::deployment::{
    validate_tags, DeploymentCreate, FlowRunnerSettings, FlowRunnerType, Parameters,
};
use rigel_common::flow_data::{DataEncoding, FlowData};
use rigel_common::params::{check_parameter_values, check_parameters};

use crate::flowfile::{
    has_top_level_flows, json_error, key, parse_flow_bytes, parse_flow_source, yaml_error, FlowDef,
    FlowFile, LineIndex, Scope, Seg, SpecError,
};
use rigel_common::schedule::Schedule;
use rigel_common::validation::{validate_name, FieldError};

/// How a deployment keeps its flow's code (the `flow_data` document's encoding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowDataMode {
    /// The file is uploaded to a storage block (`flow_storage`, else the server's default).
    #[default]
    Blockstorage,
    /// The file's text is kept in the deployment itself.
    Text,
    /// Only the file's path is kept: agents must see the same file.
    File,
}

/// Where a deployment's flow code is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FlowStorage {
    /// An existing block, by id or name.
    Block(String),
    /// A block given inline (`{type, name, config}`); the server reuses an identical block.
    New(BlockCreate),
}

impl<'de> Deserialize<'de> for FlowStorage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(FlowStorage::Block(s)),
            v @ Value::Object(_) => BlockCreate::deserialize(v)
                .map(FlowStorage::New)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "must be a block's id or name, or a block as {type, name, config}",
            )),
        }
    }
}

impl FlowStorage {
    /// Field paths are relative to the storage (`config.bucket`).
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            FlowStorage::Block(id) if id.trim().is_empty() => {
                Err(FieldError::new("", "must not be empty"))
            }
            FlowStorage::Block(_) => Ok(()),
            FlowStorage::New(block) => {
                if let Some(name) = &block.name {
                    validate_name("name", name)?;
                }
                validate_block_config(block.kind, &block.config)
            }
        }
    }
}

/// A deployment spec: the seed's `DeploymentSpec` fields plus `description`,
/// `is_schedule_active`, `work_queue_name` and `flow_data`. Read from YAML/JSON or built in code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    pub name: String,
    /// The flow file. Relative paths read from a spec file are resolved against its folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_location: Option<PathBuf>,
    /// Which flow of the file; required when it has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    /// `{type, config}`, or just the type (`subprocess`).
    #[serde(
        default,
        deserialize_with = "flow_runner",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_runner: Option<FlowRunnerSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_storage: Option<FlowStorage>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_schedule_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_queue_name: Option<String>,
    /// Defaults to `blockstorage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_data: Option<FlowDataMode>,
}

/// `flow_runner: subprocess` as well as `{type: subprocess, config: {…}}`.
fn flow_runner<'de, D: Deserializer<'de>>(de: D) -> Result<Option<FlowRunnerSettings>, D::Error> {
    match Value::deserialize(de)? {
        Value::Null => Ok(None),
        v @ Value::String(_) => {
            let kind: FlowRunnerType = serde_json::from_value(v).map_err(D::Error::custom)?;
            Ok(Some(FlowRunnerSettings {
                kind,
                config: Value::Object(Default::default()),
            }))
        }
        v => FlowRunnerSettings::deserialize(v)
            .map(Some)
            .map_err(D::Error::custom),
    }
}

impl DeploymentSpec {
    pub fn new(name: impl Into<String>, flow_location: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            flow_location: Some(flow_location.into()),
            ..Self::default()
        }
    }

    /// Everything that can be checked without reading the flow file: names, tags, schedule,
    /// flow runner, storage. (Whether `flow_location` is given is checked by the parser and
    /// [`resolve`].)
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        if let Some(loc) = &self.flow_location {
            if loc.as_os_str().is_empty() {
                return Err(FieldError::new("flow_location", "must not be empty"));
            }
        }
        if let Some(n) = &self.flow_name {
            validate_name("flow_name", n)?;
        }
        if let Some(r) = &self.flow_runner {
            r.validate().map_err(|e| e.under("flow_runner"))?;
        }
        if let Some(s) = &self.flow_storage {
            s.validate().map_err(|e| e.under("flow_storage"))?;
        }
        if let Some(s) = &self.schedule {
            s.validate().map_err(|e| e.under("schedule"))?;
        }
        validate_tags("tags", &self.tags)?;
        if let Some(q) = &self.work_queue_name {
            validate_name("work_queue_name", q)?;
        }
        Ok(())
    }
}

/// A spec and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecDocument {
    pub spec: DeploymentSpec,
    /// The file it was read from (a spec file or a flow file).
    pub file: PathBuf,
    /// The first line of its document (or list item); 0 for a spec built in code.
    pub line: usize,
    /// The line of each field written in the file, by dotted path: the top-level fields
    /// (`schedule`) and each parameter (`parameters.name`).
    pub lines: BTreeMap<String, usize>,
}

impl SpecDocument {
    /// A spec built in code, not read from a file; errors name `file`.
    pub fn in_code(spec: DeploymentSpec, file: impl Into<PathBuf>) -> Self {
        Self {
            spec,
            file: file.into(),
            line: 0,
            lines: BTreeMap::new(),
        }
    }

    /// The line of a field, else of the document.
    pub fn line_of(&self, field: &str) -> usize {
        self.lines.get(field).copied().unwrap_or(self.line)
    }

    fn error(&self, line: usize, message: impl Into<String>) -> SpecError {
        SpecError::new(&self.file, Some(line).filter(|l| *l > 0), message)
    }
}

/// Everything read from one file by [`load`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Set when the file is a YAML flow file; `specs` are then its `deployments:`.
    pub flow_file: Option<FlowFile>,
    /// The specs read without error, in file order.
    pub specs: Vec<SpecDocument>,
    pub errors: Vec<SpecError>,
}

/// Reads a spec file, or a YAML flow file's `deployments:`. `.json` files are JSON, `.py` files
/// are refused (a Python deployment file is run, not parsed: `rigel deployment create` runs it
/// and reads what it made with [`load_collected`]), anything else is YAML.
pub fn load(path: &Path) -> Loaded {
    match std::fs::read_to_string(path) {
        Ok(text) => load_source(path, &text),
        Err(e) => Loaded {
            errors: vec![SpecError::new(path, None, format!("cannot read: {e}"))],
            ..Loaded::default()
        },
    }
}

/// [`load`] for text already read; `path` names the file in errors and anchors relative paths.
pub fn load_source(path: &Path, text: &str) -> Loaded {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut loaded = Loaded::default();
    match ext.as_deref() {
        Some("json") => json_documents(path, text, &mut loaded),
        Some("py") => loaded.errors.push(SpecError::new(
            path,
            None,
            "is a Python file: a Python deployment file must be run to collect its specs \
             (`rigel deployment create` does that); only YAML and JSON specs are parsed",
        )),
        _ if has_top_level_flows(text) => match parse_flow_source(path, text) {
            Ok(flow_file) => {
                loaded.specs = flow_file.deployments.clone();
                loaded.flow_file = Some(flow_file);
            }
            Err(errors) => loaded.errors = errors,
        },
        _ => yaml_documents(path, text, &mut loaded),
    }
    let specs = std::mem::take(&mut loaded.specs);
    loaded.specs = reject_duplicates(specs, &mut loaded.errors);
    loaded.errors.sort_by_key(|e| e.line);
    loaded
}

/// Reads a spec file: the specs read and the problems found, each document on its own.
pub fn parse_spec_file(path: &Path) -> (Vec<SpecDocument>, Vec<SpecError>) {
    let loaded = load(path);
    (loaded.specs, loaded.errors)
}

/// [`parse_spec_file`] for text already read.
pub fn parse_spec_source(path: &Path, text: &str) -> (Vec<SpecDocument>, Vec<SpecError>) {
    let loaded = load_source(path, text);
    (loaded.specs, loaded.errors)
}
