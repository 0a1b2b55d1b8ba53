//! `rigel flow-run …`.

use std::collections::{HashMap, HashSet};

use clap::Subcommand;
use rigel_common::client::RigelClient;
use rigel_common::deployment::{DeploymentCriteria, DeploymentFilter};
use rigel_common::filter::AnyFilter;
use rigel_common::flow::{FlowCriteria, FlowFilter};
use rigel_common::flow_run::{FlowRun, FlowRunCriteria, FlowRunFilter, FlowRunSort, StateCriteria};
use rigel_common::state::{SetState, SetStateStatus, StateCreate, StateType};
use serde::Serialize;
use uuid::Uuid;

use crate::deployment::confirm;
use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{resolve, say};

#[derive(Subcommand, Debug)]
pub enum FlowRunCommand {
    /// List flow runs, most recent expected start first.
    Ls {
        /// Only runs of this deployment (`flow/name` or id).
        #[arg(long)]
        deployment: Option<String>,
        /// Only runs in this state type (e.g. running, failed); repeatable.
        #[arg(long, value_parser = parse_state)]
        state: Vec<StateType>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a flow run and its state history.
    Inspect { id: String },
    /// Cancel a run: Scheduled and Pending runs at once, Running ones when their process stops.
    Cancel { id: String },
    /// Print a flow run's logs.
    Logs {
        id: String,
        /// Keep printing new records as they arrive, until the run finishes.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Delete a flow run and its logs.
    Delete {
        id: String,
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

fn parse_state(s: &str) -> Result<StateType, String> {
    StateType::parse(s).ok_or_else(|| {
        let all: Vec<String> = StateType::ALL
            .iter()
            .map(|t| t.as_str().to_lowercase())
            .collect();
        format!("unknown state '{s}'; one of: {}", all.join(", "))
    })
}

pub async fn run(client: &RigelClient, cmd: FlowRunCommand, format: Format) -> CliResult {
    match cmd {
        FlowRunCommand::Ls {
            deployment,
            state,
            limit,
        } => ls(client, deployment, state, limit, format).await,
        FlowRunCommand::Inspect { id } => inspect(client, resolve::run_id(&id)?, format).await,
        FlowRunCommand::Cancel { id } => cancel(client, resolve::run_id(&id)?).await,
        FlowRunCommand::Logs { id, follow } => {
            let id = resolve::run_id(&id)?;
            if follow {
                client.read_flow_run(id).await?;
                crate::follow::logs(client, id, format).await
            } else {
                logs(client, id, format).await
            }
        }
        FlowRunCommand::Delete { id, yes } => {
            let run = client.read_flow_run(resolve::run_id(&id)?).await?;
            confirm(
                yes,
                &format!("Delete flow run '{}' ({})?", run.name, run.id),
            )?;
            client.delete_flow_run(run.id).await?;
            say!("Deleted flow run '{}'.", run.name);
            Ok(())
        }
    }
}

fn duration(run: &FlowRun) -> String {
    let secs = if run.state.kind == StateType::Running {
        run.total_run_time
            + (chrono::Utc::now() - run.state.timestamp).num_milliseconds() as f64 / 1000.0
    } else {
        run.total_run_time
    };
    if run.start_time.is_none() {
        return "-".into();
    }
    format!("{secs:.1}s")
}

async fn ls(
    client: &RigelClient,
    deployment: Option<String>,
    states: Vec<StateType>,
    limit: u32,
    format: Format,
) -> CliResult {
    if limit == 0 || limit > rigel_common::filter::MAX_LIMIT {
        return Err(CliError::invalid("--limit must be between 1 and 200"));
    }
    let mut criteria = FlowRunCriteria::default();
    if let Some(name) = &deployment {
        let d = resolve::deployment(client, name).await?;
        criteria.deployment_id = Some(AnyFilter::new([d.id]));
    }
    if !states.is_empty() {
        criteria.state = Some(StateCriteria {
            kind: Some(AnyFilter::new(states)),
            name: None,
        });
    }
    let filter = FlowRunFilter {
        flow_runs: criteria,
        sort: FlowRunSort::ExpectedStartTimeDesc,
        limit,
        ..Default::default()
    };
    let runs = client.filter_flow_runs(&filter).await?;
    if format != Format::Table {
        return output::data(format, &runs);
    }
    // the runs' deployments in one request; one that can't be read (deleted) shows as its id
    let ids: HashSet<Uuid> = runs.iter().filter_map(|r| r.deployment_id).collect();
    let names: HashMap<Uuid, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        let filter = DeploymentFilter {
            deployments: DeploymentCriteria {
                id: Some(AnyFilter::new(ids)),
                ..Default::default()
            },
            ..Default::default()
        };
        crate::deployment::list_all(client, filter)
            .await
            .unwrap_or_default()
            .iter()
            .map(|d| (d.id, d.full_name()))
            .collect()
    };
    let flows = flow_names(client, &runs).await;
    let mut t = Table::new(vec![
        "ID",
        "NAME",
        "DEPLOYMENT",
        "STATE",
        "EXPECTED START",
        "DURATION",
    ]);
    for r in &runs {
        t.row(vec![
            r.id.to_string(),
            r.name.clone(),
            match r.deployment_id {
                Some(d) => names.get(&d).cloned().unwrap_or_else(|| d.to_string()),
                None => flows
                    .get(&r.flow_id)
                    .map_or_else(|| "-".into(), |f| format!("{f} (no deployment)")),
            },
            output::state_word(r.state.kind, &r.state.name),
            output::time(r.expected_start_time),
            duration(r),
        ]);
    }
    t.print();
    Ok(())
}

/// The flow names of the runs that have no deployment (a flow called directly, outside an
/// agent), which the table shows instead of a deployment; empty if they can't be read.
async fn flow_names(client: &RigelClient, runs: &[FlowRun]) -> HashMap<Uuid, String> {
    let ids: HashSet<Uuid> = runs
        .iter()
        .filter(|r| r.deployment_id.is_none())
        .map(|r| r.flow_id)
        .collect();
    if ids.is_empty() {
        return HashMap::new();
    }
    let filter = FlowFilter {
        flows: FlowCriteria {
            id: Some(AnyFilter::new(ids)),
            ..Default::default()
        },
        limit: rigel_common::filter::MAX_LIMIT,
        ..Default::default()
    };
    client
        .filter_flows(&filter)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|f| (f.id, f.name))
        .collect()
}

#[derive(Serialize)]
struct RunWithHistory {
    #[serde(flatten)]
    run: FlowRun,
    state_history: Vec<rigel_common::state::State>,
}

async fn inspect(client: &RigelClient, id: Uuid, format: Format) -> CliResult {
    let run = client.read_flow_run(id).await?;
    let state_history = client.flow_run_states(id).await?;
    let out = RunWithHistory { run, state_history };
    match format {
        Format::Table => output::data(Format::Yaml, &out),
        other => output::data(other, &out),
    }
}

async fn cancel(client: &RigelClient, id: Uuid) -> CliResult {
    let run = client.read_flow_run(id).await?;
    let body = SetState {
        state: StateCreate::new(StateType::Cancelling).with_message("cancelled from the CLI"),
        force: false,
        claim_token: None,
        transition_id: Some(Uuid::now_v7()),
    };
    let r = client.set_flow_run_state(id, &body).await?;
    match r.status {
        SetStateStatus::Accept if r.state.kind == StateType::Cancelled => {
            say!("Cancelled flow run '{}'.", run.name);
            Ok(())
        }
        SetStateStatus::Accept => {
            say!(
                "Cancelling flow run '{}': its process is being stopped.",
                run.name
            );
            Ok(())
        }
        _ => Err(CliError::failed(format!(
            "cannot cancel flow run '{}' ({}): {}",
            run.name,
            r.state.name,
            r.details.reason.unwrap_or_default()
        ))),
    }
}

async fn logs(client: &RigelClient, id: Uuid, format: Format) -> CliResult {
    client.read_flow_run(id).await?;
    let mut all = Vec::new();
    crate::follow::read_logs(client, id, &mut None, |page| {
        if format == Format::Table {
            for l in &page {
                println!("{}", crate::follow::log_line(l));
            }
        } else {
            all.extend(page);
        }
        Ok(())
    })
    .await?;
    if format != Format::Table {
        output::data(format, &all)?;
    }
    Ok(())
}
