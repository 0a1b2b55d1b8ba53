//! Finding objects by what people type: `flow/deployment`, a queue or block name, or an id.

use rigel_common::block::{Block, BlockCriteria, BlockFilter};
use rigel_common::client::RigelClient;
use rigel_common::deployment::Deployment;
use rigel_common::filter::AnyFilter;
use rigel_common::work_queue::WorkQueue;
use uuid::Uuid;

use crate::exit::{CliError, CliResult};

/// A deployment by `flow/name` or by id.
pub async fn deployment(client: &RigelClient, name: &str) -> CliResult<Deployment> {
    if let Ok(id) = Uuid::parse_str(name) {
        return Ok(client.read_deployment(id).await?);
    }
    let Some((flow, dep)) = name.split_once('/') else {
        return Err(CliError::invalid(format!(
            "'{name}' is neither a deployment id nor a name of the form flow/deployment"
        )));
    };
    client
        .read_deployment_by_name(flow, dep)
        .await
        .map_err(|e| {
            if e.is_not_found() {
                CliError::not_found(format!(
                    "no deployment '{name}'; list them with `rigel deployment ls`"
                ))
            } else {
                e.into()
            }
        })
}

/// A work queue by name or id.
pub async fn work_queue(client: &RigelClient, name: &str) -> CliResult<WorkQueue> {
    let found = match Uuid::parse_str(name) {
        Ok(id) => client.read_work_queue(id).await,
        Err(_) => client.read_work_queue_by_name(name).await,
    };
    found.map_err(|e| {
        if e.is_not_found() {
            CliError::not_found(format!(
                "no work queue '{name}'; list them with `rigel work-queue ls`"
            ))
        } else {
            e.into()
        }
    })
}

/// A storage block by name or id.
pub async fn block(client: &RigelClient, name: &str) -> CliResult<Block> {
    if let Ok(id) = Uuid::parse_str(name) {
        return client.read_block(id).await.map_err(|e| {
            if e.is_not_found() {
                CliError::not_found(format!("no storage block {id}"))
            } else {
                e.into()
            }
        });
    }
    let filter = BlockFilter {
        blocks: BlockCriteria {
            name: Some(AnyFilter::new([name.to_string()])),
            ..Default::default()
        },
        ..Default::default()
    };
    client
        .filter_blocks(&filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CliError::not_found(format!(
                "no storage block '{name}'; list them with `rigel storage ls`"
            ))
        })
}

/// A flow run id.
pub fn run_id(s: &str) -> CliResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| CliError::invalid(format!("'{s}' is not a flow run id")))
}
