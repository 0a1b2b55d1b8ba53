//! YAML flow files: `flows:` (and optionally `deployments:`).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_norway::Value as Yaml;

use super::located::{key, parse_field, LineIndex, Scope, Seg};
use super::params::{self, validate_param_name, ParamDef};
use super::{yaml_error, FlowDef, FlowFile, FlowFileKind, SpecError, TaskDef};
use crate::document::{self as spec, SpecDocument};
use rigel_common::validation::{validate_name, FieldError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "params::ordered")]
    parameters: Option<Vec<(String, ParamDef)>>,
    #[serde(default)]
    tasks: Vec<TaskDef>,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<FlowFile, Vec<SpecError>> {
    let syntax = |e: serde_norway::Error| {
        let (line, message) = yaml_error(&e);
        vec![SpecError::new(path, line, message)]
    };
    let mut value: Yaml = serde_norway::from_str(text).map_err(syntax)?;
    value.apply_merge().map_err(syntax)?;
    let index = LineIndex::build(text);
    let not_a_flow_file = || {
        vec![SpecError::at(
            path,
            index.line(&[]).unwrap_or(1),
            "is not a flow file: a YAML flow file has a top-level `flows:` list",
        )]
    };
    let Yaml::Mapping(map) = value else {
        return Err(not_a_flow_file());
    };

    let mut errors = Vec::new();
    let mut flows_value = None;
    let mut deployments_value = None;
    for (k, v) in map {
        match k.as_str() {
            Some("flows") => flows_value = Some(v),
            Some("deployments") => deployments_value = Some(v),
            other => {
                let name = other.map_or_else(|| format!("{k:?}"), str::to_string);
                errors.push(SpecError::at(
                    path,
                    index.line(&[key(&name)]).unwrap_or(1),
                    format!("unknown key `{name}`; a flow file has `flows` and `deployments`"),
                ));
            }
        }
    }
    let Some(flows_value) = flows_value else {
        return Err(not_a_flow_file());
    };

    let flows = read_flows(path, &index, flows_value, &mut errors);
    let flows_ok = errors.is_empty();
    let mut deployments = Vec::new();
    if let Some(value) = deployments_value {
        deployments = read_deployments(path, &index, value, &mut errors);
        if flows_ok {
            for doc in &mut deployments {
                if let Err(e) = bind_to_flow(path, doc, &flows) {
                    errors.push(e);
                }
            }
        }
        deployments = spec::reject_duplicates(deployments, &mut errors);
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    Ok(FlowFile {
        path: path.to_path_buf(),
        kind: FlowFileKind::Yaml,
        flows,
        deployments,
        source: Vec::new(),
    })
}

fn sequence(
    path: &Path,
    index: &LineIndex,
    name: &str,
    value: Yaml,
    errors: &mut Vec<SpecError>,
) -> Vec<Yaml> {
    match value {
        Yaml::Sequence(items) => items,
        Yaml::Null => Vec::new(),
        _ => {
            errors.push(SpecError::at(
                path,
                index.line(&[key(name)]).unwrap_or(1),
                format!("`{name}` must be a list"),
            ));
            Vec::new()
        }
    }
}

fn read_flows(
    path: &Path,
    index: &LineIndex,
    value: Yaml,
    errors: &mut Vec<SpecError>,
) -> Vec<FlowDef> {
    let items = sequence(path, index, "flows", value, errors);
    if items.is_empty() && errors.is_empty() {
        errors.push(SpecError::at(
            path,
            index.line(&[key("flows")]).unwrap_or(1),
            "`flows` lists no flows",
        ));
    }
    let mut flows: Vec<FlowDef> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let base = vec![key("flows"), Seg::Index(i)];
        let scope = Scope {
            index,
            line: index.line(&base).unwrap_or(1),
            base,
            show_base: true,
        };
        let raw: RawFlow = match scope.deserialize(item) {
            Ok(raw) => raw,
            Err((line, message)) => {
                errors.push(SpecError::at(path, line, message));
                continue;
            }
        };
        let Some(flow) = check_flow(path, &scope, raw, errors) else {
            continue;
        };
        if let Some(first) = flows.iter().find(|f| f.name == flow.name) {
            errors.push(SpecError::at(
                path,
                scope.line_of(&[key("name")]),
                format!(
                    "duplicate flow name '{}' (first defined at line {})",
                    flow.name, first.line
                ),
            ));
            continue;
        }
        flows.push(flow);
    }
    flows
}

/// Checks one flow; `None` (with the problems pushed to `errors`) when it has any.
fn check_flow(
    path: &Path,
    scope: &Scope,
    raw: RawFlow,
    errors: &mut Vec<SpecError>,
) -> Option<FlowDef> {
    let before = errors.len();
    let field_error = |errors: &mut Vec<SpecError>, e: FieldError| {
        let (line, message) = scope.field_error(&e);
        errors.push(SpecError::at(path, line, message));
    };
    if let Err(e) = validate_name("name", &raw.name) {
        field_error(errors, e);
    }
    for (name, def) in raw.parameters.iter().flatten() {
        if let Err(e) = validate_param_name(name) {
            field_error(errors, e);
        } else if let Err(e) = def.validate() {
            field_error(errors, e.under(&format!("parameters.{name}")));
        }
    }
    if raw.tasks.is_empty() {
        field_error(
            errors,
            FieldError::new("tasks", "a YAML flow needs at least one task"),
        );
    }
    let mut first_line: HashMap<&str, usize> = HashMap::new();
    for (j, task) in raw.tasks.iter().enumerate() {
        let under = format!("tasks[{j}]");
        if let Err(e) = check_task(task) {
            field_error(errors, e.under(&under));
            continue;
        }
        let line = scope.line_of(&parse_field(&format!("{under}.name")));
        if let Some(first) = first_line.get(task.name.as_str()) {
            errors.push(SpecError::at(
                path,
                line,
                format!(
                    "flow '{}': duplicate task name '{}' (first at line {first})",
                    raw.name, task.name
                ),
            ));
        } else {
            first_line.insert(&task.name, line);
        }
    }
    if errors.len() == before {
        let names: Vec<&str> = raw.tasks.iter().map(|t| t.name.as_str()).collect();
        for (j, task) in raw.tasks.iter().enumerate() {
            for (k, need) in task.needs.iter().enumerate() {
                if !names.contains(&need.as_str()) {
                    errors.push(SpecError::at(
                        path,
                        scope.line_of(&parse_field(&format!("tasks[{j}].needs[{k}]"))),
                        format!(
                            "flow '{}': task '{}' needs '{need}', which is not a task of this flow (its tasks: {})",
                            raw.name,
                            task.name,
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    if errors.len() == before {
        if let Some(cycle) = find_cycle(&raw.tasks) {
            let names: Vec<&str> = cycle.iter().map(|&i| raw.tasks[i].name.as_str()).collect();
            errors.push(SpecError::at(
                path,
                scope.line_of(&[key("tasks"), Seg::Index(cycle[0])]),
                format!(
                    "flow '{}': the tasks' `needs` form a cycle: {}",
                    raw.name,
                    names.join(" -> ")
                ),
            ));
        }
    }
    if errors.len() != before {
        return None;
    }
    let tasks = raw
        .tasks
        .into_iter()
        .map(|mut t| {
            let mut seen = Vec::new();
            t.needs.retain(|n| {
                let new = !seen.contains(n);
                seen.push(n.clone());
                new
            });
            t
        })
        .collect();
    Some(FlowDef {
        name: raw.name,
        description: raw.description,
        parameters: raw.parameters,
        tasks,
        line: scope.line,
    })
}

fn check_task(task: &TaskDef) -> Result<(), FieldError> {
    validate_name("name", &task.name)?;
    if task.run.trim().is_empty() {
        return Err(FieldError::new("run", "must not be empty"));
    }
    if !task.retry_delay_seconds.is_finite() || task.retry_delay_seconds < 0.0 {
        return Err(FieldError::new(
            "retry_delay_seconds",
            "must be a number of seconds, at least 0",
        ));
    }
    if let Some(t) = task.timeout_seconds {
        if !t.is_finite() || t <= 0.0 {
            return Err(FieldError::new(
                "timeout_seconds",
                "must be a number of seconds above 0",
            ));
        }
    }
    for name in task.env.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(FieldError::new(
                format!("env.{name}"),
                "is not a valid environment variable name",
            ));
        }
    }
    if task.working_dir.as_deref().is_some_and(str::is_empty) {
        return Err(FieldError::new("working_dir", "must not be empty"));
    }
    Ok(())
}

/// A cycle in the tasks' `needs` as task indexes, the first repeated at the end
/// (`a -> b -> a`: a needs b, which needs a). Tasks are visited in file order.
fn find_cycle(tasks: &[TaskDef]) -> Option<Vec<usize>> {
    let position: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = tasks
        .iter()
        .map(|t| {
            t.needs
                .iter()
                .filter_map(|n| position.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    // 0: not visited, 1: on the current path, 2: done.
    let mut state = vec![0u8; tasks.len()];
    for start in 0..tasks.len() {
        if state[start] != 0 {
            continue;
        }
        state[start] = 1;
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some((node, next_edge)) = stack.last_mut() {
            let node = *node;
            if let Some(&next) = edges[node].get(*next_edge) {
                *next_edge += 1;
                match state[next] {
                    0 => {
                        state[next] = 1;
                        stack.push((next, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == next)?;
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(next);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

fn read_deployments(
    path: &Path,
    index: &LineIndex,
    value: Yaml,
    errors: &mut Vec<SpecError>,
) -> Vec<SpecDocument> {
    let mut docs = Vec::new();
    for (i, item) in sequence(path, index, "deployments", value, errors)
        .into_iter()
        .enumerate()
    {
        let base = vec![key("deployments"), Seg::Index(i)];
        let scope = Scope {
            index,
            line: index.line(&base).unwrap_or(1),
            base,
            show_base: true,
        };
        match spec::read_unit(item, path, &scope, true) {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    docs
}

/// A deployment written in this file for one of its flows: fills in `flow_name` when the file
/// has one flow and checks the parameters against the flow's.
fn bind_to_flow(path: &Path, doc: &mut SpecDocument, flows: &[FlowDef]) -> Result<(), SpecError> {
    if doc.spec.flow_location.as_deref() != Some(path) {
        return Ok(());
    }
    let flow = FlowDef::select(flows, doc.spec.flow_name.as_deref(), path)
        .map_err(|e| SpecError::at(path, doc.line, e.message))?;
    doc.spec.flow_name = Some(flow.name.clone());
    spec::check_doc_parameters(doc, flow)
}
