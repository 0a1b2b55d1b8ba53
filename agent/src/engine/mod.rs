//! The engine: executes one flow run in this process (`rigel engine run ID`). It fetches the
//! flow code, checks the parameters, moves the run to RUNNING (honouring WAIT), runs the flow,
//! ships its output as logs, heartbeats, and reports how it ended.

mod fetch;
mod python;
mod script;
mod tasks;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rigel_common::backoff::Backoff;
use rigel_common::client::RigelClient;
use rigel_common::deployment::{Deployment, Parameters};
use rigel_common::flow_run::FlowRun;
use rigel_common::state::{SetState, SetStateStatus, StateCreate, StateType};
use rigel_spec::flowfile::{parse_flow_bytes, FlowDef, FlowFileKind};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::logs::{LogShipper, RunLogger};
use crate::process::{describe, plain_lines, run_streamed, Ended, FlowProcess};
use crate::states::StateShipper;

/// How the engine behaves.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How often to tell the server the run is alive (and learn about cancellation).
    pub heartbeat: Duration,
    /// Also print the flow's output to this process's stdout.
    pub echo: bool,
    /// Where content-addressed flow code is kept between runs (see `fetch`); None: fetch
    /// every time.
    pub code_cache: Option<std::path::PathBuf>,
    /// What the flow runner adds to the flow's processes (empty for an engine process: it
    /// inherited them).
    pub flow: FlowProcess,
    /// Where the run's log lines go when several engines share one shipper (an agent running
    /// them inside itself); None: the run ships its own.
    pub logs: Option<LogShipper>,
    /// Where the run's state proposals go when several engines share one sender (an agent
    /// running them inside itself); None: a call each.
    pub states: Option<StateShipper>,
    /// Folders (canonical) a `file` flow_data must be in; `None`: anywhere (an engine started
    /// by hand).
    pub local_roots: Option<Vec<std::path::PathBuf>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(5),
            echo: false,
            code_cache: None,
            flow: FlowProcess::default(),
            logs: None,
            states: None,
            local_roots: None,
        }
    }
}

/// How a run's execution ended, as reported to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed,
    Failed(String),
    Cancelled(String),
    /// The server told us to stop (another process holds the run, or it is finished): nothing
    /// was reported.
    Aborted(String),
}

impl Outcome {
    pub fn state(&self) -> Option<StateType> {
        match self {
            Outcome::Completed => Some(StateType::Completed),
            Outcome::Failed(_) => Some(StateType::Failed),
            Outcome::Cancelled(_) => Some(StateType::Cancelled),
            Outcome::Aborted(_) => None,
        }
    }
}

/// What a flow needs to run: its parameters as environment variables.
pub(crate) fn parameter_env(params: &Parameters) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (name, value) in params {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let key: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        env.insert(format!("{}{key}", rigel_common::env::PARAM_PREFIX), text);
    }
    env.insert(
        rigel_common::env::PARAMETERS.into(),
        serde_json::to_string(params).unwrap_or_else(|_| "{}".into()),
    );
    env
}

/// How long the final report waits for the run's log lines to be stored. Inside an agent this
/// (with stopping the flow) stays below the agent's own limit on a cancelled engine.
const LOG_FLUSH_LIMIT: Duration = Duration::from_secs(15);

/// Proposes a state with the claim token (through `via` when given); retries transport errors
/// with the same transition id.
pub(crate) async fn propose(
    client: &RigelClient,
    via: Option<&StateShipper>,
    run_id: Uuid,
    token: Option<Uuid>,
    state: StateCreate,
) -> anyhow::Result<rigel_common::state::SetStateResult> {
    let body = SetState {
        state,
        force: false,
        claim_token: token,
        transition_id: Some(Uuid::now_v7()),
    };
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut attempts = 0;
    loop {
        let answer = match via {
            Some(shipper) => shipper.set_state(run_id, &body).await,
            None => client.set_flow_run_state(run_id, &body).await,
        };
        match answer {
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() && attempts < 30 => {
                attempts += 1;
                tracing::warn!(error = %e, retry_in = %backoff, "cannot reach the server to report the run's state; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Executes the run and reports its final state. `cancel` stops it from outside (SIGTERM).
pub async fn execute(
    client: &RigelClient,
    run_id: Uuid,
    token: Option<Uuid>,
    opts: &EngineOptions,
    cancel: CancellationToken,
) -> anyhow::Result<Outcome> {
    let run = client
        .read_flow_run(run_id)
        .await
        .context("reading the flow run")?;
    execute_run(client, run, None, token, opts, cancel).await
}

/// [`execute`] for a run already read, and maybe its deployment too (an agent running engines
/// inside itself has both from its claim); a deployment not given is read.
pub async fn execute_run(
    client: &RigelClient,
    run: FlowRun,
    deployment: Option<Deployment>,
    token: Option<Uuid>,
    opts: &EngineOptions,
    cancel: CancellationToken,
) -> anyhow::Result<Outcome> {
    let run_id = run.id;
    let logger = match &opts.logs {
        Some(shared) => shared.logger(run_id, opts.echo),
        None => LogShipper::start(client.clone()).logger(run_id, opts.echo),
    };
    let outcome = execute_logged(client, &run, deployment, token, opts, cancel, &logger).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => Outcome::Failed(format!("{e:#}")),
    };
    match &outcome {
        Outcome::Failed(m) => {
            logger
                .log(
                    rigel_common::log::level::ERROR,
                    None,
                    &format!("Flow run failed: {m}"),
                )
                .await
        }
        Outcome::Cancelled(m) => logger.info(&format!("Flow run cancelled: {m}")).await,
        Outcome::Completed => logger.info("Flow run completed.").await,
        Outcome::Aborted(_) => {}
    }
    // output a lingering background process writes later still ships, but is not waited for
    logger.flush(LOG_FLUSH_LIMIT).await;
    drop(logger);
    if let Some(kind) = outcome.state() {
        let message = match &outcome {
            Outcome::Failed(m) | Outcome::Cancelled(m) => Some(m.clone()),
            _ => None,
        };
        let mut state = StateCreate::new(kind);
        state.message = message;
        let r = propose(client, opts.states.as_ref(), run_id, token, state).await?;
        if r.status != SetStateStatus::Accept {
            tracing::warn!(
                reason = r.details.reason.unwrap_or_default(),
                "the server did not accept the final state"
            );
        }
    }
    Ok(outcome)
}

async fn execute_logged(
    client: &RigelClient,
    run: &FlowRun,
    deployment: Option<Deployment>,
    token: Option<Uuid>,
    opts: &EngineOptions,
    cancel: CancellationToken,
    logger: &RunLogger,
) -> anyhow::Result<Outcome> {
    let deployment_id = run
        .deployment_id
        .context("the run has no deployment, so there is no flow code to run")?;
    let deployment = match deployment.filter(|d| d.id == deployment_id) {
        Some(d) => d,
        None => client
            .read_deployment(deployment_id)
            .await
            .context("reading the run's deployment")?,
    };
    // made only when needed: code outside the cache, the Python module
    let mut dir: Option<tempfile::TempDir> = None;
    let mut private_dir = || -> anyhow::Result<std::path::PathBuf> {
        let made = match &mut dir {
            Some(made) => made,
            None => dir.insert(
                tempfile::Builder::new()
                    .prefix("rigel-run-")
                    .tempdir_in(run_dir_root())
                    .context("creating a private folder for the flow's code")?,
            ),
        };
        Ok(made.path().to_path_buf())
    };
    let fetch::FlowCode { path, bytes } = fetch::fetch(
        client,
        &deployment.flow_data,
        &opts.flow,
        opts.code_cache.as_deref(),
        opts.local_roots.as_deref(),
        &mut private_dir,
    )
    .await
    .context("fetching the flow's code")?;
    let is_python = std::str::from_utf8(&bytes)
        .is_ok_and(|text| FlowFileKind::detect(&path, text) == FlowFileKind::Python);
    let (flow, bytes): (FlowDef, Vec<u8>) = if is_python {
        // The bootstrap finds the flow by name and checks the parameters against its
        // signature: no separate reading of the file (one Python start less per run).
        let flow = FlowDef {
            name: deployment.flow_name.clone(),
            description: None,
            parameters: None,
            tasks: Vec::new(),
            line: 1,
        };
        (flow, bytes)
    } else {
        let file = parse_flow_bytes(&path, bytes).map_err(|errors| {
            let msgs: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            anyhow::anyhow!("the flow file is invalid: {}", msgs.join("; "))
        })?;
        // A script's own name comes from its file name, which storage doesn't keep: a script
        // flow is the deployment's flow whatever its stored name. Files with named flows must
        // match.
        let flow = match (&file.kind, file.flows.as_slice()) {
            (FlowFileKind::Script, [only]) => FlowDef {
                name: deployment.flow_name.clone(),
                ..only.clone()
            },
            _ => FlowDef::select(&file.flows, Some(&deployment.flow_name), &path)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?
                .clone(),
        };
        (flow, file.source)
    };
    if let Some(schema) = &deployment.parameter_schema {
        rigel_common::params::check_parameters(schema, &run.parameters)
            .map_err(|e| anyhow::anyhow!("invalid parameters: {e}"))?;
    }

    // A prefetched run waits here for its time rather than asking first (the server still
    // decides: it answers WAIT to a proposal made early by a clock that runs ahead).
    if let Some(due) = run.next_scheduled_start_time {
        if let Ok(early) = (due - chrono::Utc::now()).to_std() {
            tokio::select! {
                () = tokio::time::sleep(early) => {}
                () = cancel.cancelled() => return Ok(Outcome::Cancelled("stopped before it started".into())),
            }
        }
    }
    // RUNNING, honouring WAIT
    loop {
        let running = StateCreate::new(StateType::Running);
        let r = propose(client, opts.states.as_ref(), run.id, token, running).await?;
        match r.status {
            SetStateStatus::Accept => break,
            SetStateStatus::Wait => {
                let secs = r.details.delay_seconds.unwrap_or(1.0).clamp(0.0, 3600.0);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs_f64(secs)) => {}
                    () = cancel.cancelled() => return Ok(Outcome::Cancelled("stopped before it started".into())),
                }
            }
            SetStateStatus::Abort | SetStateStatus::Reject => {
                return Ok(Outcome::Aborted(r.details.reason.unwrap_or_default()))
            }
        }
    }
    logger
        .info(&format!(
            "Running flow '{}' (run '{}')",
            flow.name, run.name
        ))
        .await;

    // why the heartbeat stopped the flow, as the outcome to report
    let stopped: StopReason = std::sync::Arc::default();
    let heartbeat = tokio::spawn(heartbeat_loop(
        client.clone(),
        run.id,
        token,
        opts.heartbeat,
        cancel.clone(),
        stopped.clone(),
    ));
    let mut env = parameter_env(&run.parameters);
    env.insert(rigel_common::env::FLOW_RUN_ID.into(), run.id.to_string());
    env.insert(rigel_common::env::FLOW_RUN_NAME.into(), run.name.clone());
    env.insert(
        rigel_common::env::DEPLOYMENT_NAME.into(),
        deployment.full_name(),
    );
    env.insert(
        rigel_common::env::API_URL.into(),
        client.base_url().to_string(),
    );
    let outcome = if is_python {
        match private_dir() {
            Ok(dir) => {
                python::run_flow(&path, &flow.name, &dir, &opts.flow, &env, logger, &cancel).await
            }
            Err(e) => Outcome::Failed(format!("{e:#}")),
        }
    } else if flow.tasks.is_empty() {
        let mut cmd = script::command_for(&opts.flow, &path, &bytes);
        cmd.envs(&env);
        match run_streamed(
            cmd,
            opts.flow.guard.as_ref(),
            logger,
            plain_lines(None),
            None,
            &cancel,
        )
        .await
        {
            Ok(Ended::Exited(s)) if s.success() => Outcome::Completed,
            Ok(Ended::Exited(s)) => {
                Outcome::Failed(format!("the flow script ended with {}", describe(&s)))
            }
            Ok(Ended::TimedOut) => Outcome::Failed("the flow timed out".into()),
            Ok(Ended::Cancelled) => Outcome::Cancelled(String::new()),
            Err(e) => Outcome::Failed(format!("cannot start the flow script: {e}")),
        }
    } else {
        tasks::run_tasks(client, run.id, &flow, &opts.flow, &env, logger, &cancel).await
    };
    heartbeat.abort();
    let outcome = match outcome {
        Outcome::Cancelled(_) => stopped
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or_else(|| Outcome::Cancelled("the engine was asked to stop".into())),
        other => other,
    };
    Ok(outcome)
}

/// Where runs' private folders go: the user's runtime folder (`XDG_RUNTIME_DIR`, a memory file
/// system private to the user) when there is one, else the system's temporary folder.
fn run_dir_root() -> std::path::PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// Set by the heartbeat when it stops the flow: Cancelled (asked to) or Aborted (the run is no
/// longer ours, so nothing is reported).
type StopReason = std::sync::Arc<std::sync::Mutex<Option<Outcome>>>;

/// Heartbeats the run; cancels execution when the run is being cancelled or was taken away.
/// The first beat is one period after RUNNING was accepted (which said the run was ours).
async fn heartbeat_loop(
    client: RigelClient,
    run_id: Uuid,
    token: Option<Uuid>,
    every: Duration,
    cancel: CancellationToken,
    stopped: StopReason,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        match client.flow_run_heartbeat(run_id, token).await {
            Ok(answer) => {
                let stop = if !answer.claim_valid {
                    Some(Outcome::Aborted(
                        "lost the claim: the run is held by another process".into(),
                    ))
                } else if answer.state.kind == StateType::Cancelling {
                    Some(Outcome::Cancelled(
                        answer
                            .state
                            .message
                            .unwrap_or_else(|| "cancelled by request".to_string()),
                    ))
                } else if answer.state.kind.is_terminal() {
                    Some(Outcome::Aborted(format!(
                        "lost the run: it is already {}",
                        answer.state.name
                    )))
                } else {
                    None
                };
                if let Some(stop) = stop {
                    if let Ok(mut s) = stopped.lock() {
                        *s = Some(stop);
                    }
                    cancel.cancel();
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_environment_variables() {
        let mut p = Parameters::new();
        p.insert("name".into(), serde_json::json!("Marvin; rm -rf /"));
        p.insert("count".into(), serde_json::json!(3));
        p.insert("dash-ed".into(), serde_json::json!([1, 2]));
        let env = parameter_env(&p);
        assert_eq!(env["RIGEL_PARAM_NAME"], "Marvin; rm -rf /");
        assert_eq!(env["RIGEL_PARAM_COUNT"], "3");
        assert_eq!(env["RIGEL_PARAM_DASH_ED"], "[1,2]");
        let all: serde_json::Value = serde_json::from_str(&env["RIGEL_PARAMETERS"]).unwrap();
        assert_eq!(all["count"], 3);
    }
}
