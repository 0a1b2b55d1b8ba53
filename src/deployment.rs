//! `rigel deployment …`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rigel_common::client::RigelClient;
use rigel_common::deployment::{
    Deployment, DeploymentCriteria, DeploymentFilter, DeploymentUpdate,
};
use rigel_common::filter::{AllFilter, AnyFilter};
use rigel_common::flow::FlowCriteria;
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::schedule::{CronSchedule, IntervalSchedule, RRuleSchedule, Schedule};
use rigel_common::state::StateType;
use rigel_spec::FlowDataMode;

use crate::deploy_create::{create_all, CreateOptions};
use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{params, resolve, say};

#[derive(Subcommand, Debug)]
pub enum DeploymentCommand {
    /// Create or update deployments from spec files (YAML, several `---` documents, or JSON).
    Create {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check everything, store and create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep the flow code as `text` or a `file` path instead of uploading it to storage.
        #[arg(long, value_parser = parse_mode)]
        flow_data: Option<FlowDataMode>,
    },
    /// List deployments (of one flow: `rigel deployment ls FLOW`).
    Ls {
        /// Only deployments of this flow.
        flow: Option<String>,
        /// Only deployments of this flow (repeat for several).
        #[arg(long)]
        flow_name: Vec<String>,
        /// Only deployments carrying this tag (repeat for several: all must match).
        #[arg(long)]
        tag: Vec<String>,
    },
    /// Show every property of a deployment (`flow/name` or id).
    Inspect { name: String },
    /// Create a flow run of the deployment.
    Run(RunArgs),
    /// Run the deployment's flow here, in the foreground, without an agent or flow runner; the
    /// run is still tracked by the server. Exits 0 only if it completes.
    Execute {
        name: String,
        /// A parameter as name=value (value read as JSON, else as a string). Repeatable.
        #[arg(short = 'p', long = "param")]
        params: Vec<String>,
        /// All parameters as a JSON object, or `-` to read it from stdin.
        #[arg(long)]
        params_json: Option<String>,
    },
    /// Delete a deployment.
    Delete {
        name: String,
        /// Don't ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Stop creating scheduled runs (the schedule is kept).
    PauseSchedule { name: String },
    /// Start creating scheduled runs again.
    ResumeSchedule { name: String },
    /// Replace the deployment's schedule.
    SetSchedule(SetScheduleArgs),
    /// Show the next run times of the deployment's schedule.
    Preview {
        name: String,
        #[arg(short = 'n', long, default_value_t = 10)]
        count: usize,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub name: String,
    /// A parameter as name=value (value read as JSON, else as a string). Repeatable.
    #[arg(short = 'p', long = "param")]
    pub params: Vec<String>,
    /// All parameters as a JSON object, or `-` to read it from stdin.
    #[arg(long)]
    pub params_json: Option<String>,
    /// Start after this long, e.g. 10m, 2h.
    #[arg(long, conflicts_with = "start_at")]
    pub start_in: Option<String>,
    /// Start at this time (RFC 3339, or 'YYYY-MM-DD HH:MM' in UTC).
    #[arg(long)]
    pub start_at: Option<String>,
    /// Extra tags for this run.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Print each state change as it happens until the run finishes; exit 0 only if it completes.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("kind").required(true).multiple(false))]
pub struct SetScheduleArgs {
    pub name: String,
    /// Every this long: seconds, or a duration such as 90m, 1h, 1d, PT1H.
    #[arg(long, group = "kind")]
    pub interval: Option<String>,
    /// A 5-field cron expression or a macro such as @daily.
    #[arg(long, group = "kind")]
    pub cron: Option<String>,
    /// An RFC 5545 recurrence rule.
    #[arg(long, group = "kind")]
    pub rrule: Option<String>,
    /// IANA time zone of the schedule (default UTC).
    #[arg(long)]
    pub timezone: Option<String>,
}

fn parse_mode(s: &str) -> Result<FlowDataMode, String> {
    match s {
        "text" => Ok(FlowDataMode::Text),
        "file" => Ok(FlowDataMode::File),
        "blockstorage" => Ok(FlowDataMode::Blockstorage),
        _ => Err("expected text, file or blockstorage".into()),
    }
}

pub async fn run(client: &RigelClient, cmd: DeploymentCommand, format: Format) -> CliResult {
    match cmd {
        DeploymentCommand::Create {
            files,
            dry_run,
            flow_data,
        } => {
            let opts = CreateOptions {
                dry_run,
                flow_data,
                format,
            };
            create_all(client, &files, &opts).await
        }
        DeploymentCommand::Ls {
            flow,
            mut flow_name,
            tag,
        } => {
            flow_name.extend(flow);
            ls(client, flow_name, tag, format).await
        }
        DeploymentCommand::Inspect { name } => {
            let d = resolve::deployment(client, &name).await?;
            match format {
                Format::Table => output::data(Format::Yaml, &d),
                other => output::data(other, &d),
            }
        }
        DeploymentCommand::Run(args) => run_deployment(client, args, format).await,
        DeploymentCommand::Execute {
            name,
            params,
            params_json,
        } => execute(client, &name, &params, params_json.as_deref()).await,
        DeploymentCommand::Delete { name, yes } => {
            let d = resolve::deployment(client, &name).await?;
            confirm(yes, &format!("Delete deployment '{}'?", d.full_name()))?;
            client.delete_deployment(d.id).await?;
            say!("Deleted deployment '{}'.", d.full_name());
            Ok(())
        }
        DeploymentCommand::PauseSchedule { name } => set_active(client, &name, false).await,
        DeploymentCommand::ResumeSchedule { name } => set_active(client, &name, true).await,
        DeploymentCommand::SetSchedule(args) => set_schedule(client, args).await,
        DeploymentCommand::Preview { name, count } => preview(client, &name, count, format).await,
    }
}

/// Asks before a destructive action; without a terminal, `-y` is required.
pub fn confirm(yes: bool, question: &str) -> CliResult {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::invalid(format!(
            "{question} Refusing without confirmation: pass -y"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::failed("cancelled"))
    }
}

/// Every deployment matching the filter (its `limit` and `offset` aside), page by page.
pub async fn list_all(
    client: &RigelClient,
    filter: DeploymentFilter,
) -> CliResult<Vec<Deployment>> {
    rigel_common::client::all_pages(|limit, offset| {
        let filter = DeploymentFilter {
            limit,
            offset,
            ..filter.clone()
        };
        async move { client.filter_deployments(&filter).await }
    })
    .await
    .map_err(Into::into)
}

async fn ls(
    client: &RigelClient,
    flows: Vec<String>,
    tags: Vec<String>,
    format: Format,
) -> CliResult {
    let filtered = !flows.is_empty() || !tags.is_empty();
    let filter = DeploymentFilter {
        flows: FlowCriteria {
            name: (!flows.is_empty()).then(|| AnyFilter::new(flows)),
            ..Default::default()
        },
        deployments: DeploymentCriteria {
            tags: (!tags.is_empty()).then_some(AllFilter { all_: tags }),
            ..Default::default()
        },
        ..Default::default()
    };
    let all = list_all(client, filter).await?;
    if format != Format::Table {
        return output::data(format, &all);
    }
    let mut t = Table::new(vec!["NAME", "SCHEDULE", "ACTIVE", "TAGS", "ID"]);
    for d in &all {
        t.row(vec![
            d.full_name(),
            d.schedule
                .as_ref()
                .map_or("-".to_string(), Schedule::describe),
            if d.schedule.is_none() {
                "-".into()
            } else if d.is_schedule_active {
                "active".into()
            } else {
                "paused".into()
            },
            d.tags.join(","),
            d.id.to_string(),
        ]);
    }
    t.print();
    if all.is_empty() && filtered {
        say!("No deployments match; list them all with `rigel deployment ls`.");
    } else if all.is_empty() {
        say!("No deployments yet; create one with `rigel deployment create FILE`.");
    }
    Ok(())
}

async fn run_deployment(client: &RigelClient, args: RunArgs, format: Format) -> CliResult {
    let d = resolve::deployment(client, &args.name).await?;
    let parameters = params::collect(args.params_json.as_deref(), &args.params)?;
    if let Some(schema) = &d.parameter_schema {
        rigel_common::params::check_parameter_values(schema, &parameters)
            .map_err(|e| CliError::invalid(e.to_string()))?;
    }
    let scheduled_start_time = match (&args.start_in, &args.start_at) {
        (Some(d), _) => Some(chrono::Utc::now() + params::parse_duration(d)?),
        (None, Some(t)) => Some(params::parse_time(t)?),
        (None, None) => None,
    };
    let body = DeploymentRunCreate {
        parameters,
        tags: args.tag,
        scheduled_start_time,
        ..Default::default()
    };
    let (run, _) = client.create_deployment_run(d.id, &body).await?;
    say!(
        "Created flow run '{}' for deployment '{}', scheduled for {}.",
        run.name,
        d.full_name(),
        output::time(run.state.scheduled_time)
    );
    match format {
        Format::Table => println!("{}", run.id),
        other => output::data(other, &run)?,
    }
    let offers = crate::pickup::offers(client, &run).await;
    if let Some(offers) = &offers {
        crate::pickup::warn(&run, offers);
    }
    if args.watch {
        let waiting = crate::pickup::waiting_for(&run, offers.as_deref());
        return crate::follow::watch(client, &run, &waiting).await;
    }
    Ok(())
}

async fn set_active(client: &RigelClient, name: &str, active: bool) -> CliResult {
    let d = resolve::deployment(client, name).await?;
    if d.schedule.is_none() {
        say!("note: deployment '{}' has no schedule", d.full_name());
    }
    let d = client.set_schedule_active(d.id, active).await?;
    let word = if active { "Resumed" } else { "Paused" };
    say!("{word} the schedule of deployment '{}'.", d.full_name());
    Ok(())
}

async fn set_schedule(client: &RigelClient, args: SetScheduleArgs) -> CliResult {
    let d = resolve::deployment(client, &args.name).await?;
    let tz = args.timezone.clone();
    let schedule = if let Some(interval) = args.interval {
        let interval = rigel_common::duration::parse_seconds(&interval)
            .map_err(|e| CliError::invalid(format!("--interval: {e}")))?;
        Schedule::Interval(IntervalSchedule {
            interval,
            anchor_date: None,
            timezone: tz,
        })
    } else if let Some(cron) = args.cron {
        Schedule::Cron(CronSchedule {
            cron,
            timezone: tz,
            day_or: true,
        })
    } else if let Some(rrule) = args.rrule {
        Schedule::RRule(RRuleSchedule {
            rrule,
            timezone: tz,
        })
    } else {
        return Err(CliError::invalid("give --interval, --cron or --rrule"));
    };
    schedule
        .validate()
        .map_err(|e| CliError::invalid(format!("--{e}")))?;
    let patch = DeploymentUpdate {
        schedule: Some(Some(schedule)),
        ..Default::default()
    };
    let d = client.update_deployment(d.id, &patch).await?;
    say!(
        "Set the schedule of deployment '{}' to {}.",
        d.full_name(),
        d.schedule.as_ref().map_or("-".into(), Schedule::describe)
    );
    Ok(())
}

async fn preview(client: &RigelClient, name: &str, count: usize, format: Format) -> CliResult {
    let d = resolve::deployment(client, name).await?;
    let Some(schedule) = &d.schedule else {
        return Err(CliError::invalid(format!(
            "deployment '{}' has no schedule",
            d.full_name()
        )));
    };
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::days(366 * 10);
    let times = schedule
        .next_runs(now, until, count)
        .map_err(|e| CliError::invalid(e.to_string()))?;
    if format != Format::Table {
        return output::data(format, &times);
    }
    if !d.is_schedule_active {
        say!("note: the schedule is paused; these runs will be created once it is resumed");
    }
    let tz: Option<chrono_tz::Tz> = schedule.timezone().and_then(|z| z.parse().ok());
    let mut t = Table::new(vec!["UTC", "LOCAL"]);
    for time in times {
        let local = tz.map_or("-".to_string(), |z| {
            time.with_timezone(&z)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        });
        t.row(vec![time.format("%Y-%m-%d %H:%M:%S").to_string(), local]);
    }
    t.print();
    Ok(())
}

async fn execute(
    client: &RigelClient,
    name: &str,
    pairs: &[String],
    json: Option<&str>,
) -> CliResult {
    let d = resolve::deployment(client, name).await?;
    let parameters = params::collect(json, pairs)?;
    if let Some(schema) = &d.parameter_schema {
        rigel_common::params::check_parameter_values(schema, &parameters)
            .map_err(|e| CliError::invalid(e.to_string()))?;
    }
    // created already PENDING, so no agent can claim it
    let body = rigel_common::flow_run::FlowRunCreate {
        deployment_id: Some(d.id),
        parameters,
        state: Some(rigel_common::state::StateCreate::new(StateType::Pending)),
        ..Default::default()
    };
    let (run, _) = client.create_flow_run(&body).await?;
    say!(
        "Executing flow run '{}' of deployment '{}' here...",
        run.name,
        d.full_name()
    );
    let opts = rigel_agent::engine::EngineOptions {
        echo: true,
        code_cache: crate::config::code_cache(),
        ..Default::default()
    };
    let outcome = rigel_agent::engine::execute_run(
        client,
        run.clone(),
        Some(d),
        None,
        &opts,
        crate::agent_cmd::signal_token(),
    )
    .await?;
    crate::agent_cmd::outcome_result(&outcome)?;
    say!("Flow run '{}' completed.", run.name);
    Ok(())
}
