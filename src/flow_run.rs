//! `rigel flow-run …`.

use std::collections::{HashMap, HashSet};

use clap::{Args, Subcommand};
use rigel_common::client::{Cancellation, RigelClient};
use rigel_common::deployment::{DeploymentCriteria, DeploymentFilter};
use rigel_common::filter::AnyFilter;
use rigel_common::flow::{FlowCriteria, FlowFilter};
use rigel_common::flow_run::{
    FlowRun, FlowRunCount, FlowRunCriteria, FlowRunFilter, FlowRunSort, StateCriteria,
};
use rigel_common::state::StateType;
use serde::Serialize;
use uuid::Uuid;

use crate::deployment::confirm;
use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{resolve, say};

#[derive(Subcommand, Debug)]
pub enum FlowRunCommand {
    /// List flow runs, most recent expected start first (50 unless --limit or --all).
    Ls(LsArgs),
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

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only runs of this deployment (`flow/name` or id).
    #[arg(long)]
    deployment: Option<String>,
    /// Only runs of this flow (name or id).
    #[arg(long)]
    flow: Option<String>,
    /// Only runs in this state: a type (scheduled, pending, running, completed, failed,
    /// cancelling, cancelled, crashed) or a name (late, awaiting-retry, retrying); repeatable.
    #[arg(long, value_parser = parse_state)]
    state: Vec<StateSelector>,
    /// Show at most this many runs [default: 50].
    #[arg(long, conflicts_with = "all")]
    limit: Option<u32>,
    /// Show every matching run.
    #[arg(long)]
    all: bool,
}

/// How many runs `flow-run ls` shows without --limit or --all.
const DEFAULT_LS_LIMIT: u32 = 50;

/// What `--state` selects: every state of a type, or the states of one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateSelector {
    Type(StateType),
    Name(&'static str),
}

/// State names that aren't their type's default name, with their type: Late and AwaitingRetry
/// are Scheduled runs, Retrying is a Running one.
const STATE_NAMES: [(&str, StateType); 3] = [
    ("Late", StateType::Scheduled),
    ("AwaitingRetry", StateType::Scheduled),
    ("Retrying", StateType::Running),
];

fn parse_state(s: &str) -> Result<StateSelector, String> {
    if let Some(kind) = StateType::parse(s) {
        return Ok(StateSelector::Type(kind));
    }
    // `awaiting-retry`, `awaiting_retry` and `AwaitingRetry` are one name
    let squashed: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect();
    if let Some((name, _)) = STATE_NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&squashed))
    {
        return Ok(StateSelector::Name(name));
    }
    let types: Vec<String> = StateType::ALL
        .iter()
        .map(|t| t.as_str().to_lowercase())
        .collect();
    Err(format!(
        "unknown state '{s}'; a state type ({}) or a state name (late, awaiting-retry, retrying)",
        types.join(", ")
    ))
}

/// The filter for the selected states. The server ANDs a type filter with a name filter, so
/// types and names given together are all turned into names (each type with the names its
/// states get) to keep `--state late --state failed` an "either".
fn state_criteria(selected: &[StateSelector]) -> Option<StateCriteria> {
    let types: Vec<StateType> = selected
        .iter()
        .filter_map(|s| match s {
            StateSelector::Type(t) => Some(*t),
            StateSelector::Name(_) => None,
        })
        .collect();
    let mut names: Vec<String> = selected
        .iter()
        .filter_map(|s| match s {
            StateSelector::Name(n) => Some(n.to_string()),
            StateSelector::Type(_) => None,
        })
        .collect();
    if names.is_empty() {
        return (!types.is_empty()).then(|| StateCriteria {
            kind: Some(AnyFilter::new(types)),
            name: None,
        });
    }
    for t in types {
        names.push(t.default_name().to_string());
        let others = STATE_NAMES.iter().filter(|(_, of)| *of == t);
        names.extend(others.map(|(name, _)| name.to_string()));
    }
    Some(StateCriteria {
        kind: None,
        name: Some(AnyFilter::new(names)),
    })
}

pub async fn run(client: &RigelClient, cmd: FlowRunCommand, format: Format) -> CliResult {
    match cmd {
        FlowRunCommand::Ls(args) => ls(client, args, format).await,
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

/// The runs `--limit` (or `--all`) asks for, page by page.
async fn read_runs(
    client: &RigelClient,
    filter: FlowRunFilter,
    limit: Option<u32>,
) -> CliResult<Vec<FlowRun>> {
    let Some(limit) = limit else {
        return Ok(rigel_common::client::all_pages(|page, offset| {
            let filter = FlowRunFilter {
                limit: page,
                offset,
                ..filter.clone()
            };
            async move { client.filter_flow_runs(&filter).await }
        })
        .await?);
    };
    let mut runs: Vec<FlowRun> = Vec::new();
    while (runs.len() as u64) < u64::from(limit) {
        let offset = u32::try_from(runs.len()).unwrap_or(u32::MAX);
        let page = (limit - offset).min(rigel_common::filter::MAX_LIMIT);
        let filter = FlowRunFilter {
            limit: page,
            offset,
            ..filter.clone()
        };
        let items = client.filter_flow_runs(&filter).await?;
        let short = items.len() < page as usize;
        runs.extend(items);
        if short {
            break;
        }
    }
    Ok(runs)
}

async fn ls(client: &RigelClient, args: LsArgs, format: Format) -> CliResult {
    let limit = match (args.all, args.limit) {
        (true, _) => None,
        (false, Some(0)) => return Err(CliError::invalid("--limit must be at least 1")),
        (false, limit) => Some(limit.unwrap_or(DEFAULT_LS_LIMIT)),
    };
    let mut criteria = FlowRunCriteria::default();
    if let Some(name) = &args.deployment {
        let d = resolve::deployment(client, name).await?;
        criteria.deployment_id = Some(AnyFilter::new([d.id]));
    }
    if let Some(name) = &args.flow {
        let flow = crate::flow::resolve(client, name).await?;
        criteria.flow_id = Some(AnyFilter::new([flow.id]));
    }
    criteria.state = state_criteria(&args.state);
    let filter = FlowRunFilter {
        flow_runs: criteria,
        sort: FlowRunSort::ExpectedStartTimeDesc,
        ..Default::default()
    };
    let runs = read_runs(client, filter.clone(), limit).await?;
    // a full page may hide more: count them, so a list never looks complete when it isn't
    let mut more = 0;
    if limit.is_some_and(|l| runs.len() as u64 >= u64::from(l)) {
        let count = FlowRunCount {
            flow_runs: filter.flow_runs,
            deployments: filter.deployments,
            flows: filter.flows,
            limit: None,
        };
        more = client
            .count_flow_runs(&count)
            .await?
            .saturating_sub(runs.len() as u64);
    }
    if format == Format::Table {
        print_runs(client, &runs).await;
    } else {
        output::data(format, &runs)?;
    }
    if more > 0 {
        say!("… {} more; use --limit N or --all", output::thousands(more));
    }
    Ok(())
}

/// The runs as a table, with their deployments' names.
async fn print_runs(client: &RigelClient, runs: &[FlowRun]) {
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
    let flows = flow_names(client, runs).await;
    let mut t = Table::new(vec![
        "ID",
        "NAME",
        "DEPLOYMENT",
        "STATE",
        "EXPECTED START",
        "DURATION",
    ]);
    for r in runs {
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
    let outcome = client.cancel_flow_run(id, "cancelled from the CLI").await?;
    match outcome {
        Cancellation::Refused { .. } => Err(CliError::failed(
            outcome.describe(&run.name).replacen("Cannot", "cannot", 1),
        )),
        _ => {
            say!("{}", outcome.describe(&run.name));
            Ok(())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words_are_types_or_names_in_any_case() {
        assert_eq!(
            parse_state("FAILED"),
            Ok(StateSelector::Type(StateType::Failed))
        );
        assert_eq!(parse_state("late"), Ok(StateSelector::Name("Late")));
        for word in ["awaiting-retry", "Awaiting_Retry", "AWAITINGRETRY"] {
            assert_eq!(parse_state(word), Ok(StateSelector::Name("AwaitingRetry")));
        }
        assert!(parse_state("lat").unwrap_err().contains("late"));
    }

    #[test]
    fn types_alone_stay_types_and_a_mix_becomes_names() {
        let types = state_criteria(&[StateSelector::Type(StateType::Running)]).unwrap();
        assert_eq!(types.kind, Some(AnyFilter::new([StateType::Running])));
        assert_eq!(types.name, None);
        let mix = state_criteria(&[
            StateSelector::Name("Late"),
            StateSelector::Type(StateType::Running),
        ])
        .unwrap();
        assert_eq!(mix.kind, None);
        assert_eq!(
            mix.name,
            Some(AnyFilter::new(
                ["Late", "Running", "Retrying"].map(String::from)
            ))
        );
        assert_eq!(state_criteria(&[]), None);
    }
}
