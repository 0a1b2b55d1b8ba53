//! Python deployment files: the seed's `DeploymentSpec(...)` calls, as code. Such a file is run
//! once (by `rigel deployment create`, with Rigel's bundled Python module) and its collector
//! writes every spec it made as JSON; [`load_collected`] reads that output into the same
//! [`SpecDocument`]s a YAML file gives, with the same checks and the lines of the calls.
//!
//! The collector's output: `{"error": null | {"line", "message"}, "specs": [...]}`, each spec
//! `{"line", "lines": {field: line}, "fields": {...}}` or `{"line", "error"}`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{read_unit, reject_duplicates, Loaded};
use crate::flowfile::{LineIndex, Scope, SpecError};

#[derive(Deserialize)]
struct Collected {
    #[serde(default)]
    error: Option<Problem>,
    #[serde(default)]
    specs: Vec<Entry>,
}

#[derive(Deserialize)]
struct Problem {
    line: Option<usize>,
    message: String,
}

#[derive(Deserialize)]
struct Entry {
    line: Option<usize>,
    #[serde(default)]
    lines: BTreeMap<String, usize>,
    #[serde(default)]
    fields: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

/// Reads the collector's output for the deployment file `path`. A file that raised gives one
/// error and no specs; a spec that can't be read gives an error at its call, the others are
/// still read. Relative `flow_location`s are taken from the file's folder.
pub fn load_collected(path: &Path, output: &str) -> Loaded {
    let mut loaded = Loaded::default();
    let collected: Collected = match serde_json::from_str(output) {
        Ok(c) => c,
        Err(e) => {
            loaded.errors.push(SpecError::new(
                path,
                None,
                format!("the deployment file's specs could not be read: {e}"),
            ));
            return loaded;
        }
    };
    if let Some(e) = collected.error {
        loaded.errors.push(SpecError::new(path, e.line, e.message));
        return loaded;
    }
    for entry in collected.specs {
        let line = entry.line.unwrap_or(0);
        if let Some(message) = entry.error {
            let field = message.split(':').next().unwrap_or_default();
            let at = entry.lines.get(field).copied().or(entry.line);
            loaded.errors.push(SpecError::new(path, at, message));
            continue;
        }
        let index = LineIndex::from_fields(line, &entry.lines);
        let scope = Scope {
            index: &index,
            base: Vec::new(),
            show_base: false,
            line,
        };
        let fields = entry.fields.unwrap_or(Value::Null);
        match read_unit(fields, path, &scope, false) {
            Ok(doc) => loaded.specs.push(doc),
            Err(e) => loaded.errors.push(e),
        }
    }
    let specs = std::mem::take(&mut loaded.specs);
    loaded.specs = reject_duplicates(specs, &mut loaded.errors);
    loaded.errors.sort_by_key(|e| e.line);
    loaded
}
