//! Specs joined to their flows: duplicates dropped, parameters checked against the flow's
//! declaration, and what a [`DeploymentCreate`] is built from.

use super::*;

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
