//! Flow files: where flows are defined. They are parsed, never executed.
//!
//! Three kinds ([`FlowFileKind`]):
//!
//! * **YAML flow files** (`*.yaml`, `*.yml`): a top-level `flows:` list, each flow with `name`,
//!   `description`, `parameters` and `tasks`, and optionally `deployments:` — deployment specs
//!   for those flows (a "single-file deployment"; see [`crate::spec`]).
//!
//!   ```yaml
//!   flows:
//!     - name: etl
//!       parameters:
//!         day: {type: string, required: true}
//!         limit: 100                      # a bare default: type integer
//!       tasks:
//!         - name: extract
//!           run: ./extract.sh
//!         - name: load
//!           run: ./load.sh
//!           needs: [extract]
//!           retries: 2
//!   deployments:
//!     - name: etl-daily
//!       schedule: {interval: 86400}
//!   ```
//!
//! * **Script flows**: any other file (`.sh`, a `.py` without `@flow`, an executable). One flow,
//!   no tasks (the engine runs the file). Its name, description and parameters may be given in a
//!   TOML block of comment lines; without one the name is the file stem with `_` → `-`:
//!
//!   ```text
//!   # /// rigel
//!   # name = "hello-world"
//!   # [parameters.name]
//!   # type = "string"
//!   # default = "world"
//!   # ///
//!   ```
//!
//!   `//` works as the comment prefix too.
//!
//! * **Python `@flow` files** (`*.py` with a line starting with `@flow`): every top-level
//!   function decorated with `@flow` / `@flow(name=…, description=…)` is a flow. The source is
//!   read with Python's `ast` module in a `python3` subprocess (`RIGEL_PYTHON` names another
//!   interpreter), never run: names, descriptions, parameters (literal defaults, simple
//!   annotations) come from the decorators and signatures.
//!
//! Every problem is a [`SpecError`] naming the file and, whenever it can, the line.

mod located;
mod params;
mod python;
mod runnable;
mod script;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

pub use params::{parameter_schema, validate_param_name, ParamDef};
pub use python::{python_interpreter, python_interpreter_from};
use rigel_common::params::check_parameters;
pub use runnable::{check_runnable, is_executable};

pub(crate) use located::{json_error, key, yaml_error, LineIndex, Scope, Seg};

use crate::document::SpecDocument;
use rigel_common::deployment::Parameters;
use rigel_common::validation::FieldError;

/// A problem in a flow file or a deployment spec: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem is not at a particular line (an unreadable file).
    pub line: Option<usize>,
    pub message: String,
}

impl SpecError {
    pub fn new(file: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn at(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::new(file, Some(line), message)
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// What kind of flow file a file is; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowFileKind {
    Yaml,
    Script,
    Python,
}

impl FlowFileKind {
    /// `.yaml`/`.yml` → YAML; `.py` with a line starting with `@flow` → Python; anything else
    /// → script.
    pub fn detect(path: &Path, text: &str) -> FlowFileKind {
        match extension(path).as_deref() {
            Some("yaml" | "yml") => FlowFileKind::Yaml,
            Some("py") if python_flow_line(text).is_some() => FlowFileKind::Python,
            _ => FlowFileKind::Script,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowFileKind::Yaml => "yaml",
            FlowFileKind::Script => "script",
            FlowFileKind::Python => "python",
        }
    }
}

/// A parsed flow file.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowFile {
    /// The path as given to the parser.
    pub path: PathBuf,
    pub kind: FlowFileKind,
    /// In file order; a script has exactly one.
    pub flows: Vec<FlowDef>,
    /// Deployment specs written in a YAML flow file; their `flow_location` is this file (unless
    /// they name another) and their `flow_name` is filled in when the file has one flow.
    pub deployments: Vec<SpecDocument>,
    /// The file's bytes, as read: what gets stored for a deployment.
    pub source: Vec<u8>,
}

/// One flow of a flow file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowDef {
    pub name: String,
    pub description: Option<String>,
    /// The declared parameters in declaration order. `None` when the flow does not declare any
    /// (a script without a `parameters` table, a YAML flow without `parameters:`): any
    /// parameters are then accepted. `Some(empty)` declares that the flow takes none.
    pub parameters: Option<Vec<(String, ParamDef)>>,
    /// Empty for a script flow.
    pub tasks: Vec<TaskDef>,
    /// Where the flow is defined (a script: its rigel block, or 1).
    pub line: usize,
}

/// One task of a YAML flow: a command, run after the tasks it `needs` have succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDef {
    pub name: String,
    /// The command line, run by the shell. Parameters arrive as environment variables, never
    /// spliced into this text.
    pub run: String,
    /// Names of tasks of the same flow that must succeed first (a list, or one name).
    #[serde(default, deserialize_with = "one_or_many")]
    pub needs: Vec<String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub retry_delay_seconds: f64,
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// Extra environment variables; numbers and booleans are taken as their text.
    #[serde(default, deserialize_with = "string_map")]
    pub env: BTreeMap<String, String>,
    /// Where the command runs; a relative path is taken from the flow file's folder.
    #[serde(default)]
    pub working_dir: Option<String>,
}

impl FlowDef {
    /// The declared parameter `name`.
    pub fn parameter(&self, name: &str) -> Option<&ParamDef> {
        self.parameters
            .as_ref()?
            .iter()
            .find_map(|(n, d)| (n == name).then_some(d))
    }

    /// The deployment's `parameter_schema` (see [`parameter_schema`]); `None` when the flow
    /// declares no parameters.
    pub fn parameter_schema(&self) -> Option<serde_json::Value> {
        self.parameters.as_deref().map(parameter_schema)
    }

    /// [`check_parameters`] against this flow's declaration; always `Ok` when it has none.
    pub fn check_parameters(&self, params: &Parameters) -> Result<(), FieldError> {
        match self.parameter_schema() {
            Some(schema) => check_parameters(&schema, params),
            None => Ok(()),
        }
    }

    /// Picks the flow a deployment is for. With a name, the flow of that name (the error lists
    /// the file's flows). Without, the file's only flow; a file with several flows needs a name.
    pub fn select<'a>(
        flows: &'a [FlowDef],
        flow_name: Option<&str>,
        file: &Path,
    ) -> Result<&'a FlowDef, SpecError> {
        let names = || {
            flows
                .iter()
                .map(|f| format!("'{}'", f.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (flow_name, flows) {
            (Some(name), _) => flows.iter().find(|f| f.name == name).ok_or_else(|| {
                let available = if flows.is_empty() {
                    "it defines no flows".to_string()
                } else {
                    format!("its flows: {}", names())
                };
                SpecError::new(
                    file,
                    None,
                    format!("no flow named '{name}' in {}; {available}", file.display()),
                )
            }),
            (None, [only]) => Ok(only),
            (None, []) => Err(SpecError::new(
                file,
                None,
                format!("{} defines no flows", file.display()),
            )),
            (None, _) => Err(SpecError::new(
                file,
                None,
                format!(
                    "flow_name is required: {} defines several flows: {}",
                    file.display(),
                    names()
                ),
            )),
        }
    }
}

/// Reads and parses a flow file.
pub fn parse_flow_file(path: &Path) -> Result<FlowFile, Vec<SpecError>> {
    let bytes = std::fs::read(path)
        .map_err(|e| vec![SpecError::new(path, None, format!("cannot read: {e}"))])?;
    parse_flow_bytes(path, bytes)
}

/// Parses a flow file already read. A file that is not UTF-8 text can only be a script (an
/// executable): its flow is named after the file.
pub fn parse_flow_bytes(path: &Path, bytes: Vec<u8>) -> Result<FlowFile, Vec<SpecError>> {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let mut file = parse_text(path, &text)?;
            file.source = text.into_bytes();
            Ok(file)
        }
        Err(e) => {
            let bytes = e.into_bytes();
            if matches!(extension(path).as_deref(), Some("yaml" | "yml" | "py")) {
                return Err(vec![SpecError::new(path, None, "is not UTF-8 text")]);
            }
            let flow = script::flow_from_stem(path)?;
            Ok(FlowFile {
                path: path.to_path_buf(),
                kind: FlowFileKind::Script,
                flows: vec![flow],
                deployments: Vec::new(),
                source: bytes,
            })
        }
    }
}

/// Parses a flow file's text; `path` names the file in errors, decides its kind and anchors the
/// relative paths of its deployments.
pub fn parse_flow_source(path: &Path, text: &str) -> Result<FlowFile, Vec<SpecError>> {
    let mut file = parse_text(path, text)?;
    file.source = text.as_bytes().to_vec();
    Ok(file)
}

/// The flows of `text`, by its kind; `source` is left for the caller to fill.
fn parse_text(path: &Path, text: &str) -> Result<FlowFile, Vec<SpecError>> {
    match FlowFileKind::detect(path, text) {
        FlowFileKind::Yaml => yaml::parse(path, text),
        FlowFileKind::Script => {
            if extension(path).as_deref() == Some("py") {
                runnable::refuse_undecorated_python(path, text)?;
            }
            script::parse(path, text)
        }
        FlowFileKind::Python => python::parse(path, text),
    }
}

/// The first line that decorates a function with `@flow` (also `@prefect.flow`, `@rigel.flow`).
fn python_flow_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            ["@flow", "@prefect.flow", "@rigel.flow"].iter().any(|d| {
                line.strip_prefix(d)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['(', ' ', '\t', '#']))
            })
        })
        .map(|i| i + 1)
}

/// Whether `text` (YAML) has a top-level `flows` key, which makes it a flow file rather than a
/// deployment spec.
pub fn has_top_level_flows(text: &str) -> bool {
    text.lines().any(|line| {
        ["flows", "\"flows\"", "'flows'"].iter().any(|k| {
            line.strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
    })
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// `needs: a` or `needs: [a, b]`.
fn one_or_many<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    use serde_json::Value;
    match Value::deserialize(de)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "needs lists task names, not {}",
                    rigel_common::validation::json_kind(&other)
                ))),
            })
            .collect(),
        other => Err(D::Error::custom(format!(
            "needs must be a task name or a list of task names, not {}",
            rigel_common::validation::json_kind(&other)
        ))),
    }
}

/// A mapping of strings, taking numbers and booleans as their text (`PORT: 8080`).
fn string_map<'de, D: Deserializer<'de>>(de: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, serde_json::Value>>::deserialize(de)?.unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(D::Error::custom(format!(
                "the value of {k} must be a string, not {}",
                rigel_common::validation::json_kind(&other)
            ))),
        })
        .collect()
}
