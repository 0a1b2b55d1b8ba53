//! Script flows: one flow per file, described by an optional `# /// rigel` TOML comment block.

use std::path::Path;

use serde::Deserialize;

use super::located::line_at;
use super::params::{self, validate_param_name, ParamDef};
use super::{FlowDef, FlowFile, FlowFileKind, SpecError};
use rigel_common::validation::validate_name;

/// The comment prefixes a rigel block may use.
const PREFIXES: [&str; 2] = ["#", "//"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    #[serde(default)]
    name: Option<toml::Spanned<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "params::ordered")]
    parameters: Option<Vec<(String, toml::Spanned<ParamDef>)>>,
}

/// The TOML text of a rigel block and where it is.
struct Block {
    /// Line of the opening `# /// rigel`; the TOML's line `n` is the file's line `opening + n`.
    opening: usize,
    toml: String,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<FlowFile, Vec<SpecError>> {
    let flow = match find_block(path, text)? {
        None => flow_from_stem(path)?,
        Some(block) => flow_from_block(path, &block)?,
    };
    Ok(FlowFile {
        path: path.to_path_buf(),
        kind: FlowFileKind::Script,
        flows: vec![flow],
        deployments: Vec::new(),
        source: Vec::new(),
    })
}

/// The flow of a script without a rigel block: named after the file (`hello_flow.sh` →
/// `hello-flow`), parameters not declared.
pub(super) fn flow_from_stem(path: &Path) -> Result<FlowDef, Vec<SpecError>> {
    let name = stem_name(path);
    validate_name("name", &name).map_err(|e| {
        vec![SpecError::new(
            path,
            None,
            format!(
                "the flow would be named '{name}' after the file, but a flow name {}; give a name in a `# /// rigel` block",
                e.message
            ),
        )]
    })?;
    Ok(FlowDef {
        name,
        description: None,
        parameters: None,
        tasks: Vec::new(),
        line: 1,
    })
}

/// The file stem with `_` → `-`.
pub(super) fn stem_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_default()
}

fn find_block(path: &Path, text: &str) -> Result<Option<Block>, Vec<SpecError>> {
    let mut found: Option<Block> = None;
    // The open block: its prefix and its block.
    let mut open: Option<(&str, Block)> = None;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = line.trim_end();
        match &mut open {
            None => {
                let Some(prefix) = PREFIXES
                    .into_iter()
                    .find(|p| trimmed == format!("{p} /// rigel"))
                else {
                    continue;
                };
                if let Some(first) = &found {
                    return Err(vec![SpecError::at(
                        path,
                        number,
                        format!(
                            "a second `{prefix} /// rigel` block (the first is at line {})",
                            first.opening
                        ),
                    )]);
                }
                open = Some((
                    prefix,
                    Block {
                        opening: number,
                        toml: String::new(),
                    },
                ));
            }
            Some((prefix, block)) => {
                if trimmed == format!("{prefix} ///") {
                    found = open.take().map(|(_, b)| b);
                    continue;
                }
                let content = if trimmed == *prefix {
                    ""
                } else if let Some(rest) = line.strip_prefix(&format!("{prefix} ")) {
                    rest
                } else if let Some(rest) = line.strip_prefix(*prefix) {
                    rest
                } else {
                    return Err(vec![SpecError::at(
                        path,
                        number,
                        format!(
                            "every line of the rigel block must start with `{prefix}`; close the block with `{prefix} ///`"
                        ),
                    )]);
                };
                block.toml.push_str(content);
                block.toml.push('\n');
            }
        }
    }
    if let Some((prefix, block)) = open {
        return Err(vec![SpecError::at(
            path,
            block.opening,
            format!("the `{prefix} /// rigel` block is not closed by a `{prefix} ///` line"),
        )]);
    }
    Ok(found)
}

fn flow_from_block(path: &Path, block: &Block) -> Result<FlowDef, Vec<SpecError>> {
    let file_line = |pos: usize| block.opening + line_at(&block.toml, pos);
    let meta: Meta = toml::from_str(&block.toml).map_err(|e| {
        let line = e.span().map_or(block.opening, |s| file_line(s.start));
        vec![SpecError::at(
            path,
            line,
            format!("rigel block: {}", e.message().trim()),
        )]
    })?;
    let mut errors = Vec::new();
    let name = match meta.name {
        Some(name) => {
            let line = file_line(name.span().start);
            let name = name.into_inner();
            if let Err(e) = validate_name("name", &name) {
                errors.push(SpecError::at(path, line, e.to_string()));
            }
            name
        }
        None => {
            let name = stem_name(path);
            if let Err(e) = validate_name("name", &name) {
                errors.push(SpecError::at(
                    path,
                    block.opening,
                    format!(
                        "the flow would be named '{name}' after the file, but a flow name {}; set `name` in the rigel block",
                        e.message
                    ),
                ));
            }
            name
        }
    };
    let parameters = meta.parameters.map(|params| {
        params
            .into_iter()
            .map(|(pname, def)| {
                let line = file_line(def.span().start);
                let def = def.into_inner();
                let checked = validate_param_name(&pname).and_then(|()| {
                    def.validate()
                        .map_err(|e| e.under(&format!("parameters.{pname}")))
                });
                if let Err(e) = checked {
                    errors.push(SpecError::at(path, line, e.to_string()));
                }
                (pname, def)
            })
            .collect()
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(FlowDef {
        name,
        description: meta.description,
        parameters,
        tasks: Vec::new(),
        line: block.opening,
    })
}
