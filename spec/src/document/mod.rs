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

mod python;
#[cfg(test)]
mod tests;

pub use python::load_collected;

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

/// A YAML document of a multi-document file, padded with empty lines so that the parser's line
/// numbers are the file's.
struct Chunk {
    text: String,
    /// Line of its first content (not blank, not a comment), if any.
    first: Option<usize>,
}

/// Splits YAML text at `---` (and after `...`) lines; `%` directive lines are dropped.
fn split_documents(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current = Chunk {
        text: String::new(),
        first: None,
    };
    let mut padding = 0;
    let new_chunk = |lines_before: usize| Chunk {
        text: "\n".repeat(lines_before),
        first: None,
    };
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let marker = line
            .strip_prefix("---")
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        if let Some(rest) = marker {
            chunks.push(std::mem::replace(&mut current, new_chunk(padding)));
            current.text.push_str("   ");
            current.text.push_str(rest);
            current.text.push('\n');
            if is_content(rest) {
                current.first.get_or_insert(number);
            }
        } else if line.trim_end() == "..." {
            current.text.push('\n');
            chunks.push(std::mem::replace(&mut current, new_chunk(padding + 1)));
        } else if line.starts_with('%') {
            current.text.push('\n');
        } else {
            current.text.push_str(line);
            current.text.push('\n');
            if is_content(line) {
                current.first.get_or_insert(number);
            }
        }
        padding = number;
    }
    chunks.push(current);
    chunks.retain(|c| c.first.is_some());
    chunks
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

fn yaml_documents(path: &Path, text: &str, loaded: &mut Loaded) {
    for chunk in split_documents(text) {
        let first = chunk.first.unwrap_or(1);
        let parsed =
            serde_norway::from_str::<serde_norway::Value>(&chunk.text).and_then(|mut v| {
                v.apply_merge()?;
                Ok(v)
            });
        let value = match parsed {
            Ok(v) => v,
            Err(e) => {
                let (line, message) = yaml_error(&e);
                loaded
                    .errors
                    .push(SpecError::new(path, line.or(Some(first)), message));
                continue;
            }
        };
        let index = LineIndex::build(&chunk.text);
        let root = index.line(&[]).unwrap_or(first);
        match value {
            serde_norway::Value::Null => {}
            serde_norway::Value::Sequence(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    read_item(path, &index, Some(i), root, item, loaded);
                }
            }
            v @ serde_norway::Value::Mapping(_) => read_item(path, &index, None, root, v, loaded),
            other => loaded.errors.push(SpecError::at(
                path,
                root,
                format!(
                    "a deployment spec must be a mapping of its fields (name, flow_location, …), not {}",
                    yaml_kind(&other)
                ),
            )),
        }
    }
}

fn yaml_kind(value: &serde_norway::Value) -> &'static str {
    match value {
        serde_norway::Value::Bool(_) => "a boolean",
        serde_norway::Value::Number(_) => "a number",
        serde_norway::Value::String(_) => "a string",
        serde_norway::Value::Tagged(_) => "a tagged value",
        _ => "that",
    }
}

fn json_documents(path: &Path, text: &str, loaded: &mut Loaded) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let (line, message) = json_error(&e);
            loaded.errors.push(SpecError::new(path, line, message));
            return;
        }
    };
    let index = LineIndex::build(text);
    let root = index.line(&[]).unwrap_or(1);
    match value {
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                read_item(path, &index, Some(i), root, item, loaded);
            }
        }
        v @ Value::Object(_) => read_item(path, &index, None, root, v, loaded),
        _ => loaded.errors.push(SpecError::at(
            path,
            root,
            "a JSON spec file holds one spec object or an array of them",
        )),
    }
}

/// Reads one spec of a spec file: the document itself, or item `item` of a list.
fn read_item<'de, D>(
    path: &Path,
    index: &LineIndex,
    item: Option<usize>,
    root: usize,
    de: D,
    loaded: &mut Loaded,
) where
    D: Deserializer<'de>,
    D::Error: Display,
{
    let base: Vec<Seg> = item.map(Seg::Index).into_iter().collect();
    let scope = Scope {
        index,
        line: index.line(&base).unwrap_or(root),
        base,
        show_base: false,
    };
    match read_unit(de, path, &scope, false) {
        Ok(doc) => loaded.specs.push(doc),
        Err(e) => loaded.errors.push(e),
    }
}

/// The top-level fields whose lines are kept in [`SpecDocument::lines`].
const FIELDS: [&str; 12] = [
    "name",
    "flow_location",
    "flow_name",
    "flow_runner",
    "flow_storage",
    "parameters",
    "schedule",
    "tags",
    "description",
    "is_schedule_active",
    "work_queue_name",
    "flow_data",
];

/// Reads and checks one spec. In a flow file (`in_flow_file`) `flow_location` defaults to that
/// file; elsewhere it is required.
pub(crate) fn read_unit<'de, D>(
    de: D,
    file: &Path,
    scope: &Scope,
    in_flow_file: bool,
) -> Result<SpecDocument, SpecError>
where
    D: Deserializer<'de>,
    D::Error: Display,
{
    let mut spec: DeploymentSpec = scope
        .deserialize(de)
        .map_err(|(line, message)| SpecError::at(file, line, message))?;
    spec.validate().map_err(|e| {
        let (line, message) = scope.field_error(&e);
        SpecError::at(file, line, message)
    })?;
    spec.flow_location = match spec.flow_location.take() {
        Some(loc) => Some(resolve_location(file, &loc)),
        None if in_flow_file => Some(file.to_path_buf()),
        None => {
            return Err(SpecError::at(
                file,
                scope.line,
                scope.label(&[], "flow_location is required"),
            ))
        }
    };
    let mut lines = BTreeMap::new();
    for field in FIELDS {
        if let Some(line) = scope.exact(&[key(field)]) {
            lines.insert(field.to_string(), line);
        }
    }
    for name in spec.parameters.keys() {
        if let Some(line) = scope.exact(&[key("parameters"), key(name)]) {
            lines.insert(format!("parameters.{name}"), line);
        }
    }
    Ok(SpecDocument {
        spec,
        file: file.to_path_buf(),
        line: scope.line,
        lines,
    })
}

/// `loc` against the folder of `file`, without `.` components.
fn resolve_location(file: &Path, loc: &Path) -> PathBuf {
    let joined = if loc.is_absolute() {
        loc.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new("")).join(loc)
    };
    normalize(&joined)
}

fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Drops (with an error) a spec for the same flow file, flow and name as an earlier one.
pub(crate) fn reject_duplicates(
    docs: Vec<SpecDocument>,
    errors: &mut Vec<SpecError>,
) -> Vec<SpecDocument> {
    let mut seen: HashMap<(Option<PathBuf>, Option<String>, String), usize> = HashMap::new();
    let mut kept = Vec::new();
    for doc in docs {
        let key = (
            doc.spec.flow_location.as_deref().map(|p| {
                p.components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect::<PathBuf>()
            }),
            doc.spec.flow_name.clone(),
            doc.spec.name.clone(),
        );
        if let Some(first) = seen.get(&key) {
            let what = match &doc.spec.flow_name {
                Some(flow) => format!("{flow}/{}", doc.spec.name),
                None => doc.spec.name.clone(),
            };
            errors.push(doc.error(
                doc.line_of("name"),
                format!("duplicate deployment '{what}' (also at line {first})"),
            ));
        } else {
            seen.insert(key, doc.line);
            kept.push(doc);
        }
    }
    kept
}

/// Checks a spec's parameters against its flow's declaration. With a schedule every required
/// parameter must be given (scheduled runs use only the deployment's parameters); without,
/// runs may still give them.
pub(crate) fn check_doc_parameters(doc: &SpecDocument, flow: &FlowDef) -> Result<(), SpecError> {
    let Some(schema) = flow.parameter_schema() else {
        return Ok(());
    };
    let params = &doc.spec.parameters;
    let checked = if doc.spec.schedule.is_some() {
        check_parameters(&schema, params)
    } else {
        check_parameter_values(&schema, params)
    };
    checked.map_err(|e| {
        let line = doc
            .lines
            .get(&e.field)
            .or_else(|| doc.lines.get("parameters"))
            .copied()
            .unwrap_or(doc.line);
        let hint = match e.field.strip_prefix("parameters.") {
            Some(name) if !params.contains_key(name) => {
                " (the deployment has a schedule, and scheduled runs get only its parameters)"
            }
            _ => "",
        };
        doc.error(line, format!("flow '{}': {e}{hint}", flow.name))
    })
}

/// A spec joined to its flow: everything needed to create the deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSpec {
    /// The spec, with `flow_name` set to the selected flow's name.
    pub spec: DeploymentSpec,
    pub flow: FlowDef,
    /// The flow file, with its bytes (`source`).
    pub flow_file: FlowFile,
    /// The flow's declared parameters, for the deployment's `parameter_schema`.
    pub parameter_schema: Option<Value>,
}

/// Reads the flow file a spec points at, selects its flow by `flow_name` and checks the spec's
/// parameters. Problems in the flow file are reported at their own lines; problems of the spec
/// (no such flow, bad parameters) at the spec's.
pub fn resolve(doc: &SpecDocument) -> Result<ResolvedSpec, Vec<SpecError>> {
    let Some(location) = &doc.spec.flow_location else {
        return Err(vec![doc.error(doc.line, "flow_location is required")]);
    };
    let bytes = std::fs::read(location).map_err(|e| {
        vec![doc.error(
            doc.line_of("flow_location"),
            format!("flow_location: cannot read {}: {e}", location.display()),
        )]
    })?;
    let flow_file = parse_flow_bytes(location, bytes)?;
    crate::flowfile::check_runnable(&flow_file, crate::flowfile::is_executable(location))
        .map_err(|e| vec![e])?;
    resolve_with(doc, flow_file)
}

/// [`resolve`] with the flow file already parsed (several specs of one flow file, or the flow
/// file a spec was read from).
pub fn resolve_with(
    doc: &SpecDocument,
    flow_file: FlowFile,
) -> Result<ResolvedSpec, Vec<SpecError>> {
    let flow = FlowDef::select(
        &flow_file.flows,
        doc.spec.flow_name.as_deref(),
        &flow_file.path,
    )
    .map_err(|e| vec![doc.error(doc.line_of("flow_name"), e.message)])?
    .clone();
    check_doc_parameters(doc, &flow).map_err(|e| vec![e])?;
    let mut spec = doc.spec.clone();
    spec.flow_name = Some(flow.name.clone());
    Ok(ResolvedSpec {
        parameter_schema: flow.parameter_schema(),
        spec,
        flow,
        flow_file,
    })
}

impl ResolvedSpec {
    /// The body that creates the deployment, once the flow code is stored as `flow_data`.
    pub fn to_create(&self, flow_data: FlowData) -> DeploymentCreate {
        let spec = &self.spec;
        DeploymentCreate {
            name: spec.name.clone(),
            flow_id: None,
            flow_name: Some(self.flow.name.clone()),
            flow_data,
            description: spec.description.clone(),
            schedule: spec.schedule.clone(),
            is_schedule_active: spec.is_schedule_active,
            parameters: spec.parameters.clone(),
            parameter_schema: self.parameter_schema.clone(),
            tags: spec.tags.clone(),
            flow_runner: spec.flow_runner.clone(),
            work_queue_name: spec.work_queue_name.clone(),
        }
    }

    /// The `flow_data` for the `text` and `file` modes, which need no storage block; `None` for
    /// `blockstorage`, where the caller uploads [`FlowFile::source`] first.
    pub fn local_flow_data(&self) -> Result<Option<FlowData>, SpecError> {
        let path = &self.flow_file.path;
        match self.spec.flow_data.unwrap_or_default() {
            FlowDataMode::Blockstorage => Ok(None),
            FlowDataMode::Text => {
                let text = String::from_utf8(self.flow_file.source.clone()).map_err(|_| {
                    SpecError::new(
                        path,
                        None,
                        "is not UTF-8 text, so it cannot be kept as `flow_data: text`",
                    )
                })?;
                Ok(Some(FlowData {
                    encoding: DataEncoding::Text,
                    blob: text,
                }))
            }
            FlowDataMode::File => {
                let absolute = std::path::absolute(path).map_err(|e| {
                    SpecError::new(path, None, format!("cannot make the path absolute: {e}"))
                })?;
                let blob = absolute
                    .to_str()
                    .ok_or_else(|| SpecError::new(path, None, "the path is not UTF-8"))?
                    .to_string();
                Ok(Some(FlowData {
                    encoding: DataEncoding::File,
                    blob,
                }))
            }
        }
    }
}
