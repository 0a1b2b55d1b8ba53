//! `rigel deployment create FILE…`: read specs, store each flow's code, create the deployments.
//! A bad spec is reported with its file and line and does not stop the others. A Python
//! deployment file (`*.py`) is run once, with Rigel's bundled Python module, to collect its
//! `DeploymentSpec(...)` calls; its specs are then handled exactly like YAML ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rigel_common::block::{Block, BlockCreate, BlockType};
use rigel_common::client::{RigelClient, Upserted};
use rigel_common::flow_data::FlowData;
use rigel_common::flowfile::{FlowFile, SpecError};
use rigel_common::spec::{self, FlowDataMode, FlowStorage, ResolvedSpec, SpecDocument};

use crate::exit::{CliError, CliResult, FAILED, INVALID};
use crate::resolve;
use crate::say;

pub struct CreateOptions {
    pub dry_run: bool,
    /// Overrides every spec's `flow_data`.
    pub flow_data: Option<FlowDataMode>,
}

/// Creates the deployments of every file; the error says how many failed.
pub async fn create_all(
    client: &RigelClient,
    files: &[PathBuf],
    opts: &CreateOptions,
) -> CliResult {
    let mut failed = 0usize;
    let mut invalid = false;
    let mut done = 0usize;
    // flow files already read, by path: several specs of one flow file read it once
    let mut flow_files: HashMap<PathBuf, FlowFile> = HashMap::new();
    for file in files {
        say!(
            "Loading deployment specifications from '{}'...",
            file.display()
        );
        let loaded = if is_python(file) {
            load_python(file).await
        } else {
            spec::load(file)
        };
        for e in &loaded.errors {
            say!("error: {e}");
            failed += 1;
            invalid = true;
        }
        if loaded.specs.is_empty() && loaded.errors.is_empty() {
            if loaded.flow_file.is_some() {
                say!(
                    "error: {}: a flow file without `deployments:`; add a `deployments:` list, or \
                     write a deployment spec whose flow_location points at it",
                    file.display()
                );
            } else {
                say!(
                    "error: {}: holds no deployment specifications",
                    file.display()
                );
            }
            failed += 1;
            invalid = true;
        }
        for doc in &loaded.specs {
            let known = match &loaded.flow_file {
                Some(ff) if doc.spec.flow_location.as_deref() == Some(ff.path.as_path()) => {
                    Some(ff)
                }
                _ => doc
                    .spec
                    .flow_location
                    .as_ref()
                    .and_then(|l| flow_files.get(l)),
            };
            let resolved = match known {
                Some(ff) => spec::resolve_with(doc, ff.clone()),
                None => spec::resolve(doc),
            };
            if let Ok(r) = &resolved {
                flow_files
                    .entry(r.flow_file.path.clone())
                    .or_insert_with(|| r.flow_file.clone());
            }
            let resolved = match resolved {
                Ok(r) => r,
                Err(errors) => {
                    for e in errors {
                        say!("error: {e}");
                    }
                    failed += 1;
                    invalid = true;
                    continue;
                }
            };
            match create_one(client, doc, &resolved, opts).await {
                Ok(()) => done += 1,
                Err(e) => {
                    say!("error: {}:{}: {}", doc.file.display(), doc.line, e.message);
                    failed += 1;
                    if e.code == INVALID {
                        invalid = true;
                    }
                    if e.code == crate::exit::UNREACHABLE {
                        return Err(e);
                    }
                }
            }
        }
    }
    if failed > 0 {
        let code = if invalid { INVALID } else { FAILED };
        return Err(CliError::new(
            code,
            format!("{failed} deployment(s) failed, {done} succeeded"),
        ));
    }
    Ok(())
}

fn is_python(file: &Path) -> bool {
    file.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("py"))
}

/// Runs a Python deployment file to collect its specs (what it prints goes to stderr).
async fn load_python(file: &Path) -> spec::Loaded {
    match rigel_agent::python::collect_deployments(file).await {
        Ok(output) => spec::load_collected(file, &output),
        Err(message) => spec::Loaded {
            errors: vec![SpecError::new(file, None, message)],
            ..spec::Loaded::default()
        },
    }
}

async fn create_one(
    client: &RigelClient,
    doc: &SpecDocument,
    resolved: &ResolvedSpec,
    opts: &CreateOptions,
) -> CliResult {
    let full = format!("{}/{}", resolved.flow.name, resolved.spec.name);
    say!(
        "Creating deployment '{}' for flow '{}'...",
        resolved.spec.name,
        resolved.flow.name
    );
    let mut resolved = resolved.clone();
    if let Some(mode) = opts.flow_data {
        resolved.spec.flow_data = Some(mode);
    }
    let flow_path = resolved.flow_file.path.clone();
    let flow_data = match resolved
        .local_flow_data()
        .map_err(|e| CliError::invalid(e.to_string()))?
    {
        Some(fd) => {
            say!(
                "Keeping the flow from '{}' as {} in the deployment...",
                flow_path.display(),
                if fd.encoding == rigel_common::flow_data::DataEncoding::Text {
                    "text"
                } else {
                    "a file path"
                }
            );
            fd
        }
        None if opts.dry_run => FlowData::block_storage(uuid::Uuid::nil(), "dry-run"),
        None => store_flow(client, &resolved, &flow_path).await?,
    };
    let body = resolved.to_create(flow_data);
    body.validate()
        .map_err(|e| CliError::invalid(format!("{e} (line {})", doc.line_of(&e.field))))?;
    if opts.dry_run {
        say!("Validated deployment '{full}' (dry run: nothing was stored or created).");
        return Ok(());
    }
    let (d, how) = client.create_deployment(&body).await?;
    let verb = if how == Upserted::Created {
        "Created"
    } else {
        "Updated"
    };
    say!("{verb} deployment '{}'.", d.full_name());
    say!(
        "View your new deployment with:\n\n    rigel deployment inspect '{}'\n",
        d.full_name()
    );
    Ok(())
}

/// Uploads (or writes) the flow file's bytes to its storage block under their content hash and
/// returns the `blockstorage` document that points at them.
async fn store_flow(
    client: &RigelClient,
    resolved: &ResolvedSpec,
    path: &Path,
) -> CliResult<FlowData> {
    let block = storage_block(client, resolved.spec.flow_storage.as_ref()).await?;
    let bytes = &resolved.flow_file.source;
    let key = rigel_common::flow_data::content_key(bytes, path);
    let kind = match block.kind {
        BlockType::Server => "Server",
        BlockType::Local => "Local",
        BlockType::S3 => "S3",
    };
    say!(
        "Deploying flow script from '{}' using {kind} Storage ('{}')...",
        path.display(),
        block.name
    );
    match block.kind {
        BlockType::Server => {
            client.put_block_data(block.id, &key, bytes.clone()).await?;
        }
        BlockType::Local => {
            let dir = block
                .config
                .get("path")
                .and_then(|p| p.as_str())
                .ok_or_else(|| CliError::failed(format!("local block '{}' has no path", block.name)))?;
            let target = Path::new(dir).join(&key);
            if std::fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CliError::failed(format!("cannot create the storage folder {dir}: {e}"))
                })?;
                std::fs::write(&target, bytes).map_err(|e| {
                    CliError::failed(format!("cannot write {}: {e}", target.display()))
                })?;
            }
        }
        BlockType::S3 => {
            return Err(CliError::failed(format!(
                "storage block '{}' is an S3 block; uploading to S3 is not available yet — use a server or local block",
                block.name
            )))
        }
    }
    Ok(FlowData::block_storage(block.id, key))
}

/// The block a spec names, the one it describes (created or reused), else the server's default,
/// else the server's own `server` block.
async fn storage_block(client: &RigelClient, storage: Option<&FlowStorage>) -> CliResult<Block> {
    match storage {
        Some(FlowStorage::Block(name)) => resolve::block(client, name).await,
        Some(FlowStorage::New(create)) => Ok(client.create_block(create).await?.0),
        None => match client.default_block().await? {
            Some(b) => Ok(b),
            None => {
                let create = BlockCreate {
                    name: None,
                    kind: BlockType::Server,
                    config: serde_json::json!({}),
                };
                Ok(client.create_block(&create).await?.0)
            }
        },
    }
}
