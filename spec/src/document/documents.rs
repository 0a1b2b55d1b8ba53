//! Reading a spec file's documents: YAML split at `---` lines with the file's line numbers kept,
//! JSON objects or arrays, each spec read and checked on its own.

use super::*;

/// A YAML document of a multi-document file, padded with empty lines so that the parser's line
/// numbers are the file's.
pub(super) struct Chunk {
    text: String,
    /// Line of its first content (not blank, not a comment), if any.
    first: Option<usize>,
}

/// Splits YAML text at `---` (and after `...`) lines; `%` directive lines are dropped.
pub(super) fn split_documents(text: &str) -> Vec<Chunk> {
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

pub(super) fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

pub(super) fn yaml_documents(path: &Path, text: &str, loaded: &mut Loaded) {
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

pub(super) fn yaml_kind(value: &serde_norway::Value) -> &'static str {
    match value {
        serde_norway::Value::Bool(_) => "a boolean",
        serde_norway::Value::Number(_) => "a number",
        serde_norway::Value::String(_) => "a string",
        serde_norway::Value::Tagged(_) => "a tagged value",
        _ => "that",
    }
}

pub(super) fn json_documents(path: &Path, text: &str, loaded: &mut Loaded) {
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
pub(super) fn read_item<'de, D>(
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
pub(super) const FIELDS: [&str; 12] = [
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
pub(super) fn resolve_location(file: &Path, loc: &Path) -> PathBuf {
    let joined = if loc.is_absolute() {
        loc.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new("")).join(loc)
    };
    normalize(&joined)
}

pub(super) fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}
