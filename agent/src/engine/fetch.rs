//! Fetching a deployment's flow code (its `flow_data`) into the engine's private folder.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use rigel_common::block::BlockType;
use rigel_common::client::RigelClient;
use rigel_common::flow_data::{DataEncoding, FlowData};
use rigel_common::flowfile::FlowFileKind;

/// Writes the flow code into `dir` and returns the file's path (named so its extension says what
/// kind of flow file it is) and its bytes.
pub async fn fetch(
    client: &RigelClient,
    flow_data: &FlowData,
    dir: &Path,
) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let (name, bytes) = match flow_data.encoding {
        DataEncoding::Blockstorage => {
            let r = flow_data
                .validate()
                .map_err(|e| anyhow!("flow_data: {e}"))?
                .ok_or_else(|| anyhow!("flow_data: not a blockstorage document"))?;
            let block = client
                .read_block(r.block_id)
                .await
                .with_context(|| format!("storage block {}", r.block_id))?;
            let bytes = match block.kind {
                BlockType::Server => client
                    .get_block_data(block.id, &r.data)
                    .await
                    .with_context(|| format!("flow code '{}' in storage block '{}'", r.data, block.name))?,
                BlockType::Local => {
                    let root = block
                        .config
                        .get("path")
                        .and_then(|p| p.as_str())
                        .ok_or_else(|| anyhow!("local storage block '{}' has no path", block.name))?;
                    let path = Path::new(root).join(&r.data);
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
            let name = if rigel_common::flowfile::has_top_level_flows(&text) {
                "flow.yaml"
            } else if FlowFileKind::detect(Path::new("flow.py"), &text) == FlowFileKind::Python {
                "flow.py"
            } else {
                "flow"
            };
            (name.to_string(), text.into_bytes())
        }
        DataEncoding::File => {
            let path = PathBuf::from(&flow_data.blob);
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
    let target = dir.join(sanitize(&name));
    // small files, and the engine runs one flow: plain blocking I/O costs less than a thread
    std::fs::write(&target, &bytes)
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok((target, bytes))
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
