//! `rigel storage …`: where deployments keep their flow code.

use clap::{Args, Subcommand};
use rigel_common::block::{BlockCreate, BlockFilter, BlockType};
use rigel_common::client::{RigelClient, Upserted};

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{resolve, say};

#[derive(Subcommand, Debug)]
pub enum StorageCommand {
    /// Register a storage block (an identical one is reused).
    Create(CreateArgs),
    /// List storage blocks.
    Ls,
    /// Make a block the default for new deployments.
    SetDefault { name: String },
    /// Go back to the server's own storage as the default.
    ResetDefault,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// server (bytes in the server's database), local (a folder) or s3.
    #[arg(value_parser = parse_type)]
    pub kind: BlockType,
    #[arg(long)]
    pub name: Option<String>,
    /// local: the folder flow files are written to (agents must see the same folder).
    #[arg(long)]
    pub path: Option<String>,
    /// s3: the bucket.
    #[arg(long)]
    pub bucket: Option<String>,
    /// s3: a key prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// s3: the region.
    #[arg(long)]
    pub region: Option<String>,
    /// s3: an S3-compatible endpoint.
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

fn parse_type(s: &str) -> Result<BlockType, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| "expected server, local or s3".to_string())
}

pub async fn run(client: &RigelClient, cmd: StorageCommand, format: Format) -> CliResult {
    match cmd {
        StorageCommand::Create(args) => {
            let mut config = serde_json::Map::new();
            let mut put = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    config.insert(k.to_string(), serde_json::Value::String(v));
                }
            };
            let path = args.path.map(|p| {
                std::path::absolute(&p).map_or(p.clone(), |a| a.to_string_lossy().into_owned())
            });
            put("path", path);
            put("bucket", args.bucket);
            put("prefix", args.prefix);
            put("region", args.region);
            put("endpoint_url", args.endpoint_url);
            let body = BlockCreate {
                name: args.name,
                kind: args.kind,
                config: serde_json::Value::Object(config),
            };
            rigel_common::block::validate_block_config(body.kind, &body.config).map_err(|e| {
                CliError::invalid(format!("--{}", e.to_string().replace("config.", "")))
            })?;
            let (b, how) = client.create_block(&body).await?;
            if how == Upserted::Created {
                say!("Created storage block '{}' ({}).", b.name, b.id);
            } else {
                say!(
                    "An identical storage block exists already: '{}' ({}).",
                    b.name,
                    b.id
                );
            }
            if format != Format::Table {
                output::data(format, &b)?;
            }
            Ok(())
        }
        StorageCommand::Ls => {
            let blocks = client.filter_blocks(&BlockFilter::default()).await?;
            if format != Format::Table {
                return output::data(format, &blocks);
            }
            let mut t = Table::new(vec!["NAME", "TYPE", "DEFAULT", "CONFIG", "ID"]);
            for b in &blocks {
                t.row(vec![
                    b.name.clone(),
                    b.kind.as_str().into(),
                    if b.is_default {
                        "yes".into()
                    } else {
                        "".into()
                    },
                    b.config.to_string(),
                    b.id.to_string(),
                ]);
            }
            t.print();
            Ok(())
        }
        StorageCommand::SetDefault { name } => {
            let b = resolve::block(client, &name).await?;
            client.set_default_block(b.id).await?;
            say!("New deployments now store their flow code in '{}'.", b.name);
            Ok(())
        }
        StorageCommand::ResetDefault => {
            client.clear_default_block().await?;
            say!("No default storage block: new deployments use the server's own storage.");
            Ok(())
        }
    }
}
