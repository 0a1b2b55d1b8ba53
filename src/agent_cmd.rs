//! `rigel agent …` and the hidden `rigel engine run`.

use std::time::Duration;
use tracing::Instrument;

use clap::{Args, Subcommand};
use rigel_agent::agent::{self, AgentConfig, Engines};
use rigel_agent::engine::{self, EngineOptions, Outcome};
use rigel_agent::queue::NoQueueWithId;
use rigel_agent::runner::EngineLaunch;
use rigel_common::agent::AgentFilter;
use rigel_common::client::RigelClient;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Take runs from a work queue and run them (a queue named but missing is created; an id
    /// must be an existing queue's).
    Start(StartArgs),
    /// List agents with their status (online / stale / offline, from their heartbeats).
    Ls,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// The work queue to take runs from: its name or id.
    pub queue: String,
    /// A name for this agent (default: host-pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Most flow runs executing at once.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Claim runs due within this many seconds, so they start exactly on time.
    #[arg(long, default_value_t = 10.0)]
    pub prefetch_seconds: f64,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 10.0)]
    pub heartbeat_seconds: f64,
    /// On shutdown, seconds running flows may keep going before they are cancelled.
    #[arg(long, default_value_t = 30.0)]
    pub grace_seconds: f64,
    /// A folder that flow files stored as local paths (`--flow-data file`) may be read from;
    /// repeatable. Default: the folder the agent is started in.
    #[arg(long = "allow-local-root", value_name = "FOLDER")]
    pub allow_local_roots: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub engines: EngineArgs,
}

/// The folders local flow files may come from, canonical: those given, else the current one.
fn local_roots(given: &[std::path::PathBuf]) -> CliResult<Vec<std::path::PathBuf>> {
    let given = if given.is_empty() {
        vec![std::env::current_dir()
            .map_err(|e| CliError::failed(format!("cannot read the current folder: {e}")))?]
    } else {
        given.to_vec()
    };
    given
        .iter()
        .map(|dir| {
            std::fs::canonicalize(dir).map_err(|e| {
                CliError::invalid(format!("--allow-local-root {}: {e}", dir.display()))
            })
        })
        .collect()
}

/// Where an agent runs its engines (`agent start` and `up`).
#[derive(Args, Debug, Clone, Copy)]
pub struct EngineArgs {
    /// Where each run's engine runs.
    #[arg(long, value_enum, default_value_t = EngineMode::Process)]
    pub engine: EngineMode,
    /// Seconds between run heartbeats of engines inside the agent (engine processes take the
    /// same setting from the environment).
    #[arg(
        long,
        default_value_t = 5.0,
        env = "RIGEL_ENGINE_HEARTBEAT_SECONDS",
        hide = true
    )]
    pub engine_heartbeat_seconds: f64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineMode {
    /// Its own `rigel engine run` process, which survives a restart of the agent and reports
    /// for itself.
    Process,
    /// Inside the agent (each flow still its own process group): lighter and faster for many
    /// short runs, but runs in flight end with the agent (if it dies, its flow guard stops
    /// their flows and the server's reaper marks them Crashed).
    InAgent,
}

#[derive(Subcommand, Debug)]
pub enum EngineCommand {
    /// Execute one claimed flow run in this process (started by agents).
    Run {
        id: Uuid,
        /// Seconds between run heartbeats.
        #[arg(long, default_value_t = 5.0, env = "RIGEL_ENGINE_HEARTBEAT_SECONDS")]
        heartbeat_seconds: f64,
    },
    /// Stop the flows an agent running engines inside itself leaves behind when it dies
    /// (started by such agents; reads `+PGID` / `-PGID` lines on standard input).
    Guard,
}

fn seconds(name: &str, v: f64) -> CliResult<Duration> {
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(CliError::invalid(format!(
            "--{name} must be between 0 and 86400"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A heartbeat period given in seconds: [`seconds`], and at least 0.1 s.
fn heartbeat(name: &str, v: f64) -> CliResult<Duration> {
    Ok(seconds(name, v)?.max(Duration::from_millis(100)))
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn signal_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        crate::server::shutdown_signal().await;
        t.cancel();
    });
    token
}

pub fn launch(client: &RigelClient) -> CliResult<EngineLaunch> {
    let program = std::env::current_exe()
        .map_err(|e| CliError::failed(format!("cannot find the rigel binary: {e}")))?;
    Ok(EngineLaunch {
        program,
        api_url: client.base_url().to_string(),
        api_key: std::env::var(rigel_common::env::API_KEY)
            .ok()
            .filter(|k| !k.is_empty()),
        local_roots: None,
    })
}

pub fn default_name() -> String {
    format!(
        "{}-{}",
        agent::hostname().unwrap_or_else(|| "agent".into()),
        std::process::id()
    )
}

pub async fn start(client: RigelClient, args: StartArgs, shutdown: CancellationToken) -> CliResult {
    let most = rigel_common::agent::MAX_RUNS_IN_FLIGHT;
    if args.limit == 0 || args.limit > most {
        return Err(CliError::invalid(format!(
            "--limit must be between 1 and {most}"
        )));
    }
    rigel_common::validation::validate_name("queue", &args.queue)
        .map_err(|e| CliError::invalid(e.to_string()))?;
    let roots = local_roots(&args.allow_local_roots)?;
    let mut launch = launch(&client)?;
    launch.local_roots = Some(
        std::env::join_paths(&roots)
            .map_err(|e| CliError::invalid(format!("--allow-local-root: {e}")))?,
    );
    let config = AgentConfig {
        queue: args.queue,
        name: args.name.unwrap_or_else(default_name),
        limit: args.limit,
        prefetch_seconds: seconds("prefetch-seconds", args.prefetch_seconds)?.as_secs_f64(),
        heartbeat: heartbeat("heartbeat-seconds", args.heartbeat_seconds)?,
        grace: seconds("grace-seconds", args.grace_seconds)?,
        claim_wait_seconds: 10.0,
        launch,
        engines: match args.engines.engine {
            EngineMode::Process => Engines::Process,
            EngineMode::InAgent => Engines::InAgent(Box::new(EngineOptions {
                heartbeat: heartbeat(
                    "engine-heartbeat-seconds",
                    args.engines.engine_heartbeat_seconds,
                )?,
                code_cache: crate::config::code_cache(),
                local_roots: Some(roots),
                ..Default::default()
            })),
        },
    };
    agent::run(client, config, shutdown).await.map_err(|e| {
        if e.downcast_ref::<NoQueueWithId>().is_some() {
            CliError::not_found(format!("{e:#}"))
        } else {
            e.into()
        }
    })
}

pub async fn run(client: &RigelClient, cmd: AgentCommand, format: Format) -> CliResult {
    match cmd {
        AgentCommand::Start(args) => start(client.clone(), args, signal_token()).await,
        AgentCommand::Ls => {
            let agents = client.filter_agents(&AgentFilter::default()).await?;
            if format != Format::Table {
                return output::data(format, &agents);
            }
            let mut t = Table::new(vec![
                "NAME",
                "QUEUE",
                "HOST",
                "STATUS",
                "LAST HEARTBEAT",
                "RUNS",
                "ID",
            ]);
            for a in &agents {
                t.row(vec![
                    a.name.clone(),
                    a.work_queue_name.clone(),
                    a.hostname.clone().unwrap_or_else(|| "-".into()),
                    a.status.as_str().to_string(),
                    format!("{:.0}s ago", a.heartbeat_age_seconds),
                    a.runs_in_flight.len().to_string(),
                    a.id.to_string(),
                ]);
            }
            t.print();
            if agents.is_empty() {
                crate::say!("No agents; start one with `rigel agent start QUEUE`.");
            }
            Ok(())
        }
    }
}

pub async fn engine(client: &RigelClient, cmd: EngineCommand) -> CliResult {
    let (id, heartbeat_seconds) = match cmd {
        EngineCommand::Run {
            id,
            heartbeat_seconds,
        } => (id, heartbeat_seconds),
        EngineCommand::Guard => {
            // its own process group: a Ctrl-C meant for the agent's terminal does not reach it
            rigel_agent::guard::serve(std::io::stdin().lock(), rigel_agent::guard::GRACE);
            return Ok(());
        }
    };
    let token = match std::env::var(rigel_common::env::CLAIM_TOKEN) {
        Ok(t) if !t.is_empty() => Some(
            Uuid::parse_str(&t)
                .map_err(|_| CliError::invalid("RIGEL_CLAIM_TOKEN is not a UUID"))?,
        ),
        _ => None,
    };
    // set by the agent that started this engine; an engine started by hand reads any path
    let local_roots = std::env::var_os(rigel_common::env::LOCAL_ROOTS)
        .filter(|v| !v.is_empty())
        .map(|v| std::env::split_paths(&v).collect());
    let opts = EngineOptions {
        heartbeat: heartbeat("heartbeat-seconds", heartbeat_seconds)?,
        echo: std::env::var_os(rigel_common::env::ENGINE_ECHO).is_some(),
        code_cache: crate::config::code_cache(),
        local_roots,
        ..Default::default()
    };
    // the run's id on every message of this engine process, as in the agent's own
    let span = tracing::info_span!("run", run = %id);
    let outcome = match rigel_agent::runner::claim_from_stdin(id) {
        Some(claim) => {
            engine::execute_run(
                client,
                claim.flow_run,
                claim.deployment,
                token,
                &opts,
                signal_token(),
            )
            .instrument(span)
            .await?
        }
        None => {
            engine::execute(client, id, token, &opts, signal_token())
                .instrument(span)
                .await?
        }
    };
    outcome_result(&outcome)
}

/// Exit 0 only for a completed run.
pub fn outcome_result(outcome: &Outcome) -> CliResult {
    match outcome {
        Outcome::Completed => Ok(()),
        Outcome::Failed(m) => Err(CliError::failed(format!("the flow run failed: {m}"))),
        Outcome::Cancelled(m) => Err(CliError::failed(format!("the flow run was cancelled {m}"))),
        Outcome::Aborted(m) => Err(CliError::failed(format!(
            "the flow run was not executed here: {m}"
        ))),
    }
}
