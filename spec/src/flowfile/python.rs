//! Python flow files: `@flow` functions, found by reading the source with Python's own `ast`
//! module in a `python3` subprocess. The file is never run: the subprocess gets the source on
//! stdin and only parses it (`read_flows.py`, embedded here).
//!
//! A flow's name is the decorator's `name=`, else the function name with `_` → `-`; its
//! description the decorator's `description=`, else the docstring; its parameters come from the
//! signature: literal defaults, and types from simple annotations (`str`, `int`, `float`,
//! `bool`, `list`, `dict`, `Optional[…]`, `Literal[…]`). Unannotated parameters take any value,
//! as in Python. A function taking `**kwargs` declares no parameters (anything is accepted).

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::params::{validate_param_name, ParamDef};
use super::{FlowDef, FlowFile, FlowFileKind, SpecError};
use rigel_common::validation::validate_name;

/// The reader script, run with `python3 -I -S -c`.
const READER: &str = include_str!("read_flows.py");

/// The Python interpreter Rigel uses when nothing more specific is configured: `RIGEL_PYTHON`,
/// else `python3` (looked up on `PATH`).
pub fn python_interpreter() -> OsString {
    python_interpreter_from(std::env::var_os(rigel_common::env::PYTHON))
}

/// The interpreter a `RIGEL_PYTHON` setting names: an unset or empty one means `python3`.
pub fn python_interpreter_from(setting: Option<OsString>) -> OsString {
    setting
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("python3"))
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    flows: Vec<RawFlow>,
    #[serde(default)]
    error: Option<RawProblem>,
}

#[derive(Deserialize)]
struct RawProblem {
    line: Option<usize>,
    message: String,
}

#[derive(Deserialize)]
struct RawFlow {
    name: String,
    name_line: usize,
    description: Option<String>,
    line: usize,
    parameters: Option<Vec<RawParam>>,
    #[serde(default)]
    problems: Vec<RawProblem>,
}

#[derive(Deserialize)]
struct RawParam {
    name: String,
    line: usize,
    def: ParamDef,
}

/// Reads the flows of a Python flow file.
pub(super) fn parse(path: &Path, text: &str) -> Result<FlowFile, Vec<SpecError>> {
    let output = run_reader(text).map_err(|m| vec![SpecError::new(path, None, m)])?;
    flows_from_output(path, &output)
}

/// Runs the reader on `text` and returns what it printed.
fn run_reader(text: &str) -> Result<String, String> {
    let python = python_interpreter();
    let shown = python.to_string_lossy().into_owned();
    let mut child = Command::new(&python)
        .args(["-I", "-S", "-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "reading a Python flow file needs Python 3, but `{shown}` was not found; \
                     install python3 or set RIGEL_PYTHON to an interpreter"
                )
            } else {
                format!("cannot start `{shown}` to read the Python flow file: {e}")
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A reader that dies early closes its end: its stderr then says why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading the Python flow file with `{shown}` failed: {e}"))?;
    if !out.status.success() || out.stdout.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "reading the Python flow file with `{shown}` failed ({}){}",
            out.status,
            last.map(|l| format!(": {}", l.trim())).unwrap_or_default()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "the Python flow reader wrote invalid text".into())
}

/// Turns the reader's output into flows, checking names and parameter declarations.
fn flows_from_output(path: &Path, output: &str) -> Result<FlowFile, Vec<SpecError>> {
    let out: Output = serde_json::from_str(output).map_err(|e| {
        vec![SpecError::new(
            path,
            None,
            format!("the Python flow reader gave an unexpected answer: {e}"),
        )]
    })?;
    if let Some(e) = out.error {
        return Err(vec![SpecError::new(path, e.line, e.message)]);
    }
    let mut errors = Vec::new();
    let mut flows: Vec<FlowDef> = Vec::new();
    for raw in out.flows {
        for p in &raw.problems {
            errors.push(SpecError::new(path, p.line, p.message.clone()));
        }
        if let Err(e) = validate_name("name", &raw.name) {
            errors.push(SpecError::at(
                path,
                raw.name_line,
                format!("flow '{}': {e}", raw.name),
            ));
        }
        if let Some(first) = flows.iter().find(|f| f.name == raw.name) {
            errors.push(SpecError::at(
                path,
                raw.name_line,
                format!(
                    "two flows are named '{}' (the other at line {}); give one a different name=",
                    raw.name, first.line
                ),
            ));
        }
        let parameters = raw.parameters.map(|params| {
            params
                .into_iter()
                .map(|p| {
                    let checked = validate_param_name(&p.name).and_then(|()| {
                        p.def
                            .validate()
                            .map_err(|e| e.under(&format!("parameters.{}", p.name)))
                    });
                    if let Err(e) = checked {
                        errors.push(SpecError::at(
                            path,
                            p.line,
                            format!("flow '{}': {e}", raw.name),
                        ));
                    }
                    (p.name, p.def)
                })
                .collect()
        });
        flows.push(FlowDef {
            name: raw.name,
            description: raw.description,
            parameters,
            tasks: Vec::new(),
            line: raw.line,
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    Ok(FlowFile {
        path: path.to_path_buf(),
        kind: FlowFileKind::Python,
        flows,
        deployments: Vec::new(),
        source: Vec::new(),
    })
}
