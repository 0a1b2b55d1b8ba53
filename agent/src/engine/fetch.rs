//! Fetching a deployment's flow code (its `flow_data`) into the engine's private folder, or
//! from the agent machine's code cache.
//!
//! Code in a server storage block under a content key (the SHA-256 of its bytes, as
//! `rigel deployment create` stores it) can't change without its key changing, so after one
//! download it is kept in the cache folder and later runs read it from there: no request (not
//! even for the block), no copy. Only bytes whose hash matches their key are cached.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use rigel_common::block::BlockType;
use rigel_common::client::RigelClient;
use rigel_common::flow_data::{content_key_hash, is_content_key_of, DataEncoding, FlowData};
use rigel_common::settings::StorageConfig;
use rigel_spec::flowfile::FlowFileKind;

use crate::process::FlowProcess;

/// Flow code, ready to run.
pub struct FlowCode {
    /// A file named so its extension says what kind of flow file it is.
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Fetches the flow code: from `cache` when it holds it, else from its storage (then into
/// `cache` when it is content-addressed, else into the folder `private_dir` makes).
///
/// Relative paths (a `file` flow_data, a `local` block's folder) are taken from the runner's
/// `working_dir` when the flow's processes get one (`flow`), as for an engine process running
/// there.
///
/// A `file` flow_data must resolve (symlinks followed) inside one of `local_roots` when they are
/// given: a deployment must not be able to make an agent read any file of its machine.
pub async fn fetch(
    client: &RigelClient,
    flow_data: &FlowData,
    flow: &FlowProcess,
    cache: Option<&Path>,
    local_roots: Option<&[PathBuf]>,
    mut private_dir: impl FnMut() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<FlowCode> {
    let code = fetch_stored(
        client,
        flow_data,
        flow,
        cache,
        local_roots,
        &mut private_dir,
    )
    .await?;
    let deployed_name = flow_data
        .validate()
        .ok()
        .flatten()
        .and_then(|r| r.file_name);
    match deployed_name {
        Some(name) if code.path.file_name() != Some(std::ffi::OsStr::new(&name)) => {
            under_name(code, &name, private_dir)
        }
        _ => Ok(code),
    }
}

/// The code under the name of the file it was deployed from, in the run's private folder
/// (a link to the cached copy where links work): what the flow's process is given, so that
/// `$0`, shell errors and Python tracebacks name `hello_flow.py`, not its content hash.
fn under_name(
    code: FlowCode,
    name: &str,
    private_dir: impl FnOnce() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<FlowCode> {
    // a folder of its own: the name can't meet the files Rigel puts beside it (its Python module)
    let folder = private_dir()?.join("code");
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let target = folder.join(name);
    #[cfg(unix)]
    let linked = code.path.is_absolute() && std::os::unix::fs::symlink(&code.path, &target).is_ok();
    #[cfg(not(unix))]
    let linked = false;
    if !linked {
        std::fs::write(&target, &code.bytes)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(FlowCode {
        path: target,
        bytes: code.bytes,
    })
}

/// The code as its storage keeps it: from the cache, or fetched into the cache or the private
/// folder.
async fn fetch_stored(
    client: &RigelClient,
    flow_data: &FlowData,
    flow: &FlowProcess,
    cache: Option<&Path>,
    local_roots: Option<&[PathBuf]>,
    private_dir: impl FnOnce() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<FlowCode> {
    let (name, bytes) = match flow_data.encoding {
        DataEncoding::Blockstorage => {
            let r = flow_data
                .validate()
                .map_err(|e| anyhow!("flow_data: {e}"))?
                .ok_or_else(|| anyhow!("flow_data: not a blockstorage document"))?;
            // bytes that hash to their content key are the code, whichever block holds them
            let cached = cache.filter(|_| content_key_hash(&r.data).is_some());
            if let Some(code) = cached.and_then(|c| read_cached(c, &r.data)) {
                return Ok(code);
            }
            let block = client
                .read_block(r.block_id)
                .await
                .with_context(|| format!("storage block {}", r.block_id))?;
            let bytes = match block.kind {
                BlockType::Server => {
                    let bytes = client
                        .get_block_data(block.id, &r.data)
                        .await
                        .with_context(|| format!("flow code '{}' in storage block '{}'", r.data, block.name))?;
                    if let Some(cache) = cached {
                        if let Some(path) = store_cached(cache, &r.data, &bytes) {
                            return Ok(FlowCode { path, bytes });
                        }
                    }
                    bytes
                }
                BlockType::Local => {
                    let root = match StorageConfig::read(block.kind, &block.config) {
                        Ok(StorageConfig::Local { path }) => path,
                        _ => bail!("local storage block '{}' has no path", block.name),
                    };
                    let path = inside(&flow.folder(Path::new(&root)), &r.data)
                        .with_context(|| format!("local storage block '{}'", block.name))?;
                    std::fs::read(&path)
                        .with_context(|| format!("cannot read {} (local storage block '{}')", path.display(), block.name))?
                }
                BlockType::S3 => bail!(
                    "storage block '{}' is an S3 block; reading flow code from S3 is not available yet",
                    block.name
                ),
            };
            (r.data.clone(), bytes)
        }
        DataEncoding::Text => {
            let text = flow_data.blob.clone();
            let name = if rigel_spec::flowfile::has_top_level_flows(&text) {
                "flow.yaml"
            } else if FlowFileKind::detect(Path::new("flow.py"), &text) == FlowFileKind::Python {
                "flow.py"
            } else {
                "flow"
            };
            (name.to_string(), text.into_bytes())
        }
        DataEncoding::File => {
            let path = flow.folder(Path::new(&flow_data.blob));
            if let Some(roots) = local_roots {
                allowed_local_file(&path, roots)?;
            }
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read the flow file {}", path.display()))?;
            let name = path
                .file_name()
                .map_or_else(|| "flow".to_string(), |n| n.to_string_lossy().into_owned());
            (name, bytes)
        }
        DataEncoding::Json => {
            bail!("flow_data with encoding 'json' holds no flow code this engine can run")
        }
    };
    let target = private_dir()?.join(sanitize(&name));
    // Flow files are small: plain blocking I/O (tens of µs) costs less than a hand-off to a
    // blocking thread, also for engines inside an agent, whose other runs wait that long.
    std::fs::write(&target, &bytes)
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(FlowCode {
        path: target,
        bytes,
    })
}

/// The cached copy of the code under content key `key`, if it is there and intact.
fn read_cached(cache: &Path, key: &str) -> Option<FlowCode> {
    let path = cache.join(key);
    let bytes = std::fs::read(&path).ok()?;
    // a damaged or truncated copy is fetched again (and replaced)
    is_content_key_of(key, &bytes).then_some(FlowCode { path, bytes })
}

/// Keeps `bytes` in the cache when they are what `key` names; returns the cached file. Written
/// to a temporary name and renamed, so concurrent engines never see half a file.
fn store_cached(cache: &Path, key: &str, bytes: &[u8]) -> Option<PathBuf> {
    if !is_content_key_of(key, bytes) {
        return None;
    }
    let write = || -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(cache)?;
        let mut tmp = tempfile::NamedTempFile::new_in(cache)?;
        std::io::Write::write_all(&mut tmp, bytes)?;
        let target = cache.join(key);
        tmp.persist(&target).map_err(|e| e.error)?;
        Ok(target)
    };
    match write() {
        Ok(path) => Some(path),
        Err(e) => {
            tracing::warn!(
                cache = %cache.display(),
                error = %e,
                "cannot keep flow code in the cache"
            );
            None
        }
    }
}

/// The file `key` names in the block folder `root`, which must stay inside it once links are
/// resolved (keys are checked at creation; this holds for data written before that check, and
/// for links placed in the folder).
fn inside(root: &Path, key: &str) -> anyhow::Result<PathBuf> {
    rigel_common::block::validate_storage_key(key)
        .map_err(|e| anyhow!("the storage key '{key}' {}", e.message))?;
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot open the folder {}", root.display()))?;
    let path = root.join(key);
    let real = path
        .canonicalize()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !real.starts_with(&root) {
        bail!(
            "{} leads outside the block's folder (to {})",
            path.display(),
            real.display()
        );
    }
    Ok(real)
}

/// Keeps a storage key usable as a file name.
fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.starts_with('.') {
        format!("flow{clean}")
    } else {
        clean
    }
}

/// Refuses a local flow file that does not resolve inside one of `roots` (canonical folders).
fn allowed_local_file(path: &Path, roots: &[PathBuf]) -> anyhow::Result<()> {
    let real = std::fs::canonicalize(path)
        .with_context(|| format!("cannot read the flow file {}", path.display()))?;
    if roots.iter().any(|root| real.starts_with(root)) {
        return Ok(());
    }
    let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    bail!(
        "the flow file {} is outside the folders this agent reads flow files from ({}); start \
         the agent with --allow-local-root FOLDER to allow its folder",
        real.display(),
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_flow_files_must_resolve_inside_an_allowed_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("flows");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("ok.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        let roots = vec![std::fs::canonicalize(&root).unwrap()];
        allowed_local_file(&root.join("ok.sh"), &roots).unwrap();
        let outside = allowed_local_file(&root.join("../secret"), &roots).unwrap_err();
        assert!(
            outside.to_string().contains("--allow-local-root"),
            "{outside}"
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
            assert!(
                allowed_local_file(&root.join("link"), &roots).is_err(),
                "links are followed"
            );
        }
    }

    #[test]
    fn local_block_files_stay_inside_the_block_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("block");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("flow.sh"), "echo hi").unwrap();
        std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
        assert!(inside(&root, "flow.sh").unwrap().ends_with("block/flow.sh"));
        for key in ["../secret", "/etc/passwd", "..", "missing.sh"] {
            assert!(inside(&root, key).is_err(), "{key}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
            let err = inside(&root, "link").unwrap_err().to_string();
            assert!(err.contains("outside the block's folder"), "{err}");
        }
    }
}
