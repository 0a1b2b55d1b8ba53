//! `rigel flow …`: the flows deployments point at (created implicitly by `deployment create`).

use clap::Subcommand;
use rigel_common::client::RigelClient;
use rigel_common::deployment::{DeploymentCount, DeploymentCriteria, DeploymentFilter};
use rigel_common::filter::AnyFilter;
use rigel_common::flow::{Flow, FlowCriteria, FlowFilter};
use serde::Serialize;
use uuid::Uuid;

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::say;

#[derive(Subcommand, Debug)]
pub enum FlowCommand {
    /// List flows, by name.
    Ls,
    /// Show a flow (by name or id) and the names of its deployments.
    Inspect { name: String },
}

pub async fn run(client: &RigelClient, cmd: FlowCommand, format: Format) -> CliResult {
    match cmd {
        FlowCommand::Ls => ls(client, format).await,
        FlowCommand::Inspect { name } => inspect(client, &name, format).await,
    }
}

/// A flow by name or id; a missing one is exit 3 with a hint.
pub async fn resolve(client: &RigelClient, name: &str) -> CliResult<Flow> {
    let found = match Uuid::parse_str(name) {
        Ok(id) => client.read_flow(id).await,
        Err(_) => client.read_flow_by_name(name).await,
    };
    found.map_err(|e| {
        if e.is_not_found() {
            CliError::not_found(format!("no flow '{name}'; list them with `rigel flow ls`"))
        } else {
            e.into()
        }
    })
}

async fn ls(client: &RigelClient, format: Format) -> CliResult {
    let flows = rigel_common::client::all_pages(|limit, offset| {
        let filter = FlowFilter {
            limit,
            offset,
            ..Default::default()
        };
        async move { client.filter_flows(&filter).await }
    })
    .await?;
    if format != Format::Table {
        return output::data(format, &flows);
    }
    let counts = deployment_counts(client, &flows).await?;
    let mut t = Table::new(vec!["NAME", "TAGS", "DEPLOYMENTS", "CREATED", "ID"]);
    for (flow, count) in flows.iter().zip(counts) {
        t.row(vec![
            flow.name.clone(),
            flow.tags.join(","),
            count.to_string(),
            output::time(Some(flow.created)),
            flow.id.to_string(),
        ]);
    }
    t.print();
    if flows.is_empty() {
        say!("No flows yet; `rigel deployment create FILE` creates a deployment and its flow.");
    }
    Ok(())
}

/// How many deployments each flow has, in the flows' order: one count request per flow, a few
/// at a time (a count reads no deployment, where listing them all would read every one).
async fn deployment_counts(client: &RigelClient, flows: &[Flow]) -> CliResult<Vec<u64>> {
    const AT_ONCE: usize = 8;
    let mut counts = Vec::with_capacity(flows.len());
    for chunk in flows.chunks(AT_ONCE) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, flow) in chunk.iter().enumerate() {
            let client = client.clone();
            let filter = DeploymentCount {
                flows: FlowCriteria {
                    id: Some(AnyFilter::new([flow.id])),
                    ..Default::default()
                },
                deployments: DeploymentCriteria::default(),
            };
            tasks.spawn(async move { (i, client.count_deployments(&filter).await) });
        }
        let mut chunk_counts = vec![0; chunk.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, count) =
                done.map_err(|e| CliError::failed(format!("counting deployments: {e}")))?;
            chunk_counts[i] = count?;
        }
        counts.extend(chunk_counts);
    }
    Ok(counts)
}

#[derive(Serialize)]
struct FlowWithDeployments {
    #[serde(flatten)]
    flow: Flow,
    /// The flow's deployments, by name.
    deployments: Vec<String>,
}

async fn inspect(client: &RigelClient, name: &str, format: Format) -> CliResult {
    let flow = resolve(client, name).await?;
    let filter = DeploymentFilter {
        flows: FlowCriteria {
            id: Some(AnyFilter::new([flow.id])),
            ..Default::default()
        },
        ..Default::default()
    };
    let deployments = crate::deployment::list_all(client, filter)
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    let out = FlowWithDeployments { flow, deployments };
    match format {
        Format::Table => output::data(Format::Yaml, &out),
        other => output::data(other, &out),
    }
}
