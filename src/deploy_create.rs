//! `rigel deployment create FILE…`: read specs, store each flow's code, create the deployments.
//! A bad spec is reported with its file and line and does not stop the others. A Python
//! deployment file (`*.py`) is run once, with Rigel's bundled Python module, to collect its
//! `DeploymentSpec(...)` calls; its specs are then handled exactly like YAML ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rigel_common::block::{validate_block_config, Block, BlockCreate, BlockType};
use rigel_common::client::{RigelClient, Upserted};
use rigel_common::deployment::{Deployment, DeploymentCreate};
use rigel_common::flow_data::FlowData;
use rigel_common::settings::StorageConfig;
use rigel_spec::flowfile::{FlowFile, SpecError};
use rigel_spec::{self as spec, FlowDataMode, FlowStorage, ResolvedSpec, SpecDocument};

use rigel_common::validation::validate_name;
use serde::Serialize;
use uuid::Uuid;

use crate::exit::{CliError, CliResult, INVALID, NOT_FOUND, UNREACHABLE};
use crate::output::{self, Format};
use crate::resolve;
use crate::say;

pub struct CreateOptions {
    pub dry_run: bool,
    /// Overrides every spec's `flow_data`.
    pub flow_data: Option<FlowDataMode>,
    /// With `json`/`yaml`, the created deployments (or, in a dry run, the bodies that would be
    /// sent) are printed on stdout.
    pub format: Format,
}

/// Creates the deployments of every file; the error says how many failed.
pub async fn create_all(
    client: &RigelClient,
    files: &[PathBuf],
    opts: &CreateOptions,
) -> CliResult {
    let mut tally = Tally::default();
    let mut made: Vec<Made> = Vec::new();
    // flow files already read, by path: several specs of one flow file read it once
    let mut flow_files: HashMap<PathBuf, FlowFile> = HashMap::new();
    // where each `flow/deployment` of this command was first given
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
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
            tally.fail(INVALID);
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
            tally.fail(INVALID);
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
                    tally.fail(INVALID);
                    continue;
                }
            };
            // One command creating the same deployment twice would silently keep the last:
            // the first is created, the second refused, and each place is named.
            let full = format!("{}/{}", resolved.flow.name, resolved.spec.name);
            if let Some((first_file, first_line)) = seen.get(&full) {
                say!(
                    "error: {}:{}: duplicate deployment '{full}' (also at {}:{})",
                    doc.file.display(),
                    doc.line,
                    first_file.display(),
                    first_line
                );
                tally.fail(INVALID);
                continue;
            }
            seen.insert(full, (doc.file.clone(), doc.line));
            match create_one(client, doc, &resolved, opts).await {
                Ok(m) => {
                    tally.done += 1;
                    made.push(m);
                }
                Err(Failure { line, error }) => {
                    say!("error: {}:{}: {}", doc.file.display(), line, error.message);
                    if error.code == UNREACHABLE {
                        return Err(error);
                    }
                    tally.fail(error.code);
                }
            }
        }
    }
    if opts.format != Format::Table {
        output::data(opts.format, &made)?;
    }
    tally.result()
}

/// How a command's specs went. The exit code is the most telling of the failures: invalid
/// input (5) before a missing object (3) before any other failure (1).
#[derive(Default)]
struct Tally {
    done: usize,
    failed: usize,
    code: Option<u8>,
}

impl Tally {
    fn fail(&mut self, code: u8) {
        self.failed += 1;
        let rank = |c: u8| match c {
            INVALID => 3,
            NOT_FOUND => 2,
            _ => 1,
        };
        if self.code.is_none_or(|c| rank(code) > rank(c)) {
            self.code = Some(code);
        }
    }

    fn result(self) -> CliResult {
        match self.code {
            None => Ok(()),
            Some(code) => Err(CliError::new(
                code,
                format!(
                    "{} deployment(s) failed, {} succeeded",
                    self.failed, self.done
                ),
            )),
        }
    }
}

/// What one spec gave: the deployment, or in a dry run the body that would have been sent.
#[derive(Serialize)]
#[serde(untagged)]
enum Made {
    Created(Box<Deployment>),
    Checked(Box<DeploymentCreate>),
}

/// A spec's failure and the line it is reported at.
struct Failure {
    line: usize,
    error: CliError,
}

impl Failure {
    /// A failure reported at the line of `field` in the spec (its first line when not written).
    fn at(doc: &SpecDocument, field: &str) -> impl FnOnce(CliError) -> Failure {
        let line = doc.line_of(field);
        move |error| Failure { line, error }
    }
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

/// Creates one deployment, or in a dry run makes every check creating it would make (the
/// storage block exists and can take the code, the body is valid) and writes nothing.
async fn create_one(
    client: &RigelClient,
    doc: &SpecDocument,
    resolved: &ResolvedSpec,
    opts: &CreateOptions,
) -> Result<Made, Failure> {
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
    let local = resolved
        .local_flow_data()
        .map_err(|e| CliError::invalid(e.to_string()))
        .map_err(Failure::at(doc, "flow_data"))?;
    let flow_data = match local {
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
        None => {
            let at_storage = Failure::at(doc, "flow_storage");
            let target = storage_target(client, resolved.spec.flow_storage.as_ref(), opts.dry_run)
                .await
                .and_then(|t| t.check_writable().map(|()| t));
            let target = target.map_err(at_storage)?;
            let bytes = &resolved.flow_file.source;
            let key = rigel_common::flow_data::content_key(bytes, &flow_path);
            if !opts.dry_run {
                store_flow(client, &target, bytes, &key, &flow_path)
                    .await
                    .map_err(Failure::at(doc, "flow_storage"))?;
            }
            let file_name = flow_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            FlowData::block_storage_of_file(target.id, key, file_name)
        }
    };
    let body = resolved.to_create(flow_data);
    body.validate().map_err(|e| Failure {
        line: doc.line_of(&e.field),
        error: CliError::invalid(e.to_string()),
    })?;
    if opts.dry_run {
        say!("Validated deployment '{full}' (dry run: nothing was stored or created).");
        return Ok(Made::Checked(Box::new(body)));
    }
    let (d, how) = client.create_deployment(&body).await.map_err(|e| Failure {
        line: doc.line,
        error: e.into(),
    })?;
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
    Ok(Made::Created(Box::new(d)))
}

/// The storage block a flow's code goes to. In a dry run a block the spec describes is checked
/// but not created, and its id is nil.
struct StorageTarget {
    id: Uuid,
    name: String,
    kind: BlockType,
    /// A local block's folder.
    path: Option<String>,
}

impl StorageTarget {
    fn new(id: Uuid, name: String, kind: BlockType, config: &serde_json::Value) -> Self {
        let path = match StorageConfig::read(kind, config) {
            Ok(StorageConfig::Local { path }) => Some(path),
            _ => None,
        };
        Self {
            id,
            name,
            kind,
            path,
        }
    }

    fn of(block: &Block) -> Self {
        Self::new(block.id, block.name.clone(), block.kind, &block.config)
    }

    /// Refuses blocks `deployment create` cannot put code into.
    fn check_writable(&self) -> CliResult {
        match self.kind {
            BlockType::Server => Ok(()),
            BlockType::Local if self.path.is_some() => Ok(()),
            BlockType::Local => Err(CliError::invalid(format!(
                "local storage block '{}' has no path",
                self.name
            ))),
            BlockType::S3 => Err(CliError::invalid(format!(
                "storage block '{}' is an S3 block; uploading to S3 is not available yet — use a server or local block",
                self.name
            ))),
        }
    }
}

/// Uploads (or writes) the flow file's bytes to its storage block under `key`.
async fn store_flow(
    client: &RigelClient,
    target: &StorageTarget,
    bytes: &[u8],
    key: &str,
    path: &Path,
) -> CliResult {
    let kind = match target.kind {
        BlockType::Server => "Server",
        BlockType::Local => "Local",
        BlockType::S3 => "S3",
    };
    say!(
        "Deploying flow script from '{}' using {kind} Storage ('{}')...",
        path.display(),
        target.name
    );
    match (target.kind, &target.path) {
        (BlockType::Server, _) => {
            client
                .put_block_data(target.id, key, bytes.to_vec())
                .await?;
        }
        (BlockType::Local, Some(dir)) => {
            let file = Path::new(dir).join(key);
            if std::fs::read(&file).ok().as_deref() != Some(bytes) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CliError::failed(format!("cannot create the storage folder {dir}: {e}"))
                })?;
                std::fs::write(&file, bytes).map_err(|e| {
                    CliError::failed(format!("cannot write {}: {e}", file.display()))
                })?;
            }
        }
        _ => target.check_writable()?,
    }
    Ok(())
}

/// The block a spec names, the one it describes (created or reused), else the server's default,
/// else the server's own `server` block. A dry run reads blocks but creates none.
async fn storage_target(
    client: &RigelClient,
    storage: Option<&FlowStorage>,
    dry_run: bool,
) -> CliResult<StorageTarget> {
    let create = match storage {
        Some(FlowStorage::Block(name)) => {
            return Ok(StorageTarget::of(&resolve::block(client, name).await?))
        }
        Some(FlowStorage::New(create)) => create.clone(),
        None => match client.default_block().await? {
            Some(b) => return Ok(StorageTarget::of(&b)),
            None => BlockCreate {
                name: None,
                kind: BlockType::Server,
                config: serde_json::json!({}),
            },
        },
    };
    validate_block_config(create.kind, &create.config)
        .map_err(|e| CliError::invalid(format!("flow_storage.{e}")))?;
    if let Some(name) = &create.name {
        validate_name("flow_storage.name", name).map_err(|e| CliError::invalid(e.to_string()))?;
    }
    let name = create
        .name
        .clone()
        .unwrap_or_else(|| format!("a new {} block", create.kind.as_str()));
    let planned = StorageTarget::new(Uuid::nil(), name, create.kind, &create.config);
    // refused before the block is registered, so a refused spec leaves nothing behind
    planned.check_writable()?;
    if dry_run {
        return Ok(planned);
    }
    Ok(StorageTarget::of(&client.create_block(&create).await?.0))
}
