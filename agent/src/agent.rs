//! `rigel agent start QUEUE`: registers, heartbeats, claims runs through the long-polling claim
//! call and starts each through its flow runner, at most `limit` at a time. It never exits on a
//! server outage: it backs off and resumes. On shutdown it stops claiming, lets running flows
//! finish for a grace period, then cancels them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigel_common::agent::AgentCreate;
use rigel_common::client::RigelClient;
use rigel_common::deployment::Deployment;
use rigel_common::flow_run::FlowRun;
use rigel_common::state::StateType;
use rigel_common::work_queue::{ClaimRequest, ClaimedRun};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::closing::{close_if_open, fail_to_start};
use crate::engine::{self, EngineOptions, Outcome};
use crate::guard::Guard;
use crate::logs::LogShipper;
use crate::process::{describe, stop_group};
use crate::queue::{self, ClaimRefusal};
use crate::runner::{self, EngineLaunch};
use crate::states::StateShipper;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The work queue's name or id (see [`queue::resolve`]); its name once the agent runs.
    pub queue: String,
    pub name: String,
    /// Most runs executing at once.
    pub limit: usize,
    /// Claim runs due within this many seconds (they wait for their time in the engine).
    pub prefetch_seconds: f64,
    pub heartbeat: Duration,
    /// How long running flows may keep going after a shutdown request.
    pub grace: Duration,
    /// How long one claim call waits for work.
    pub claim_wait_seconds: f64,
    pub launch: EngineLaunch,
    pub engines: Engines,
}

/// Where the engines of the agent's runs run.
#[derive(Debug, Clone)]
pub enum Engines {
    /// Each run's engine is its own `rigel engine run` process (in its own process group): it
    /// survives a restart of the agent and reports for itself.
    Process,
    /// Engines run inside the agent, with these options; each flow is still its own process
    /// group. Lighter (no engine process, one connection to the server), but runs in flight
    /// end with the agent: if it dies, the reaper marks them Crashed.
    InAgent(Box<EngineOptions>),
}

/// How long a nearly full agent waits for more free slots before claiming (see `run`).
const CLAIM_GATHER: Duration = Duration::from_millis(10);

/// The runs whose engines this agent is running (reported with each heartbeat).
type InFlight = Arc<Mutex<HashSet<Uuid>>>;

/// Runs the agent until `shutdown` is cancelled. A queue id that no queue has stops it with
/// [`queue::NoQueueWithId`].
pub async fn run(
    client: RigelClient,
    mut config: AgentConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let queue = queue::resolve(&client, &config.queue, &shutdown).await?;
    let Some(mut queue) = queue else {
        return Ok(());
    };
    // registered, logged and found again (should it be deleted) by its name, also when given
    // by id
    config.queue.clone_from(&queue.name);
    let Some(agent_id) = register(&client, &config, &shutdown).await? else {
        return Ok(());
    };
    tracing::info!(
        agent = %config.name,
        id = %agent_id,
        queue = %queue.name,
        limit = config.limit,
        "taking runs from the work queue"
    );
    // engines inside the agent: a guard stops their flows should the agent die
    let (guard, guard_process) = match &config.engines {
        Engines::InAgent(_) => Guard::start(&config.launch.program)
            .inspect_err(|e| {
                tracing::warn!(error = %e, "cannot start the flow guard; if this agent dies, its flows will keep running");
            })
            .ok(),
        Engines::Process => None,
    }
    .unzip();
    // ... and their runs' log lines and state proposals share requests
    if let Engines::InAgent(options) = &mut config.engines {
        options
            .logs
            .get_or_insert_with(|| LogShipper::start(client.clone()));
        options
            .states
            .get_or_insert_with(|| StateShipper::start(client.clone()));
    }
    let in_flight: InFlight = Arc::default();
    let identity = Arc::new(Identity::new(agent_id));
    let heartbeat = tokio::spawn(heartbeat_loop(
        client.clone(),
        config.clone(),
        identity.clone(),
        in_flight.clone(),
        shutdown.clone(),
    ));
    let mut runs: JoinSet<()> = JoinSet::new();
    let mut backoff = Backoff::new();
    while !shutdown.is_cancelled() {
        let agent_id = identity.current().await;
        while runs.try_join_next().is_some() {}
        let free = config.limit.saturating_sub(runs.len());
        if free == 0 {
            tokio::select! {
                _ = runs.join_next() => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        // Nearly full: let a few more slots free up (briefly) so one claim takes several runs
        // instead of one call per finished run. An idle or half-busy agent claims at once.
        let enough = (config.limit / 4).max(1);
        let mut free = free;
        if free < enough {
            let until = tokio::time::Instant::now() + CLAIM_GATHER;
            while free < enough {
                tokio::select! {
                    _ = runs.join_next() => {}
                    () = tokio::time::sleep_until(until) => break,
                    () = shutdown.cancelled() => break,
                }
                free = config.limit.saturating_sub(runs.len());
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        let req = ClaimRequest {
            agent_id,
            limit: u32::try_from(free.min(200)).unwrap_or(200),
            prefetch_seconds: config.prefetch_seconds,
            wait_seconds: config.claim_wait_seconds,
        };
        let claimed = tokio::select! {
            r = client.claim_runs(queue.id, &req) => r,
            () = shutdown.cancelled() => break,
        };
        match claimed {
            Ok(claimed) => {
                backoff.reset();
                for c in claimed {
                    start_run(
                        &client,
                        &config,
                        guard.as_ref(),
                        c,
                        &in_flight,
                        &mut runs,
                        &shutdown,
                    );
                }
            }
            Err(e) => {
                match ClaimRefusal::of(&e) {
                    ClaimRefusal::UnknownAgent => {
                        // the server forgot us (e.g. its database was reset): register again
                        identity
                            .replace(agent_id, &client, &config, &shutdown)
                            .await;
                        continue;
                    }
                    ClaimRefusal::QueueNotFound if queue::is_deleted(&client, queue.id).await => {
                        let Some(back) = queue::wait_for_return(&client, &queue, &shutdown).await
                        else {
                            break;
                        };
                        queue = back;
                        backoff.reset();
                        continue;
                    }
                    ClaimRefusal::QueueNotFound | ClaimRefusal::Other => {}
                }
                tracing::warn!(error = %e, retry_in = %backoff, "claiming runs failed; retrying");
                if !backoff.wait(&shutdown).await {
                    break;
                }
            }
        }
    }
    drain(&config, &in_flight, &mut runs).await;
    // every flow has ended: closing its pipe lets the guard go
    drop(guard);
    if let Some(mut child) = guard_process {
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
    heartbeat.abort();
    let _ = client.delete_agent(identity.current().await).await;
    tracing::info!(agent = %config.name, "agent stopped");
    Ok(())
}

/// The agent's id, shared by the claim and heartbeat loops: when the server has forgotten it,
/// whichever loop notices first registers again and the other picks up the new id.
struct Identity {
    id: tokio::sync::Mutex<Uuid>,
}

impl Identity {
    fn new(id: Uuid) -> Self {
        Self {
            id: tokio::sync::Mutex::new(id),
        }
    }

    async fn current(&self) -> Uuid {
        *self.id.lock().await
    }

    /// Registers again, unless the other loop already replaced `stale`.
    async fn replace(
        &self,
        stale: Uuid,
        client: &RigelClient,
        config: &AgentConfig,
        shutdown: &CancellationToken,
    ) {
        let mut id = self.id.lock().await;
        if *id == stale {
            match register(client, config, shutdown).await {
                Ok(Some(fresh)) => *id = fresh,
                Ok(None) => {}
                // the loop that noticed will notice again, and try again
                Err(e) => tracing::error!(error = %e, "cannot register the agent again"),
            }
        }
    }
}

/// Registers the agent; waits out outages. `Ok(None)`: shut down while waiting.
async fn register(
    client: &RigelClient,
    config: &AgentConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Uuid>> {
    let body = AgentCreate {
        name: config.name.clone(),
        work_queue_name: config.queue.clone(),
        hostname: hostname(),
        pid: Some(std::process::id()),
        version: Some(rigel_common::VERSION.to_string()),
    };
    let mut backoff = Backoff::new();
    loop {
        match client.register_agent(&body).await {
            Ok(a) => return Ok(Some(a.id)),
            Err(e) if !e.is_transient() => {
                return Err(anyhow::anyhow!(
                    "the server refused to register the agent: {e}"
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = %backoff, "cannot register the agent; retrying")
            }
        }
        if !backoff.wait(shutdown).await {
            return Ok(None);
        }
    }
}

pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

async fn heartbeat_loop(
    client: RigelClient,
    config: AgentConfig,
    identity: Arc<Identity>,
    in_flight: InFlight,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(config.heartbeat) => {}
            () = shutdown.cancelled() => return,
        }
        let runs: Vec<Uuid> = in_flight
            .lock()
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        let agent_id = identity.current().await;
        match client.agent_heartbeat(agent_id, &runs).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                identity
                    .replace(agent_id, &client, &config, &shutdown)
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

fn start_run(
    client: &RigelClient,
    config: &AgentConfig,
    guard: Option<&Guard>,
    claimed: ClaimedRun,
    in_flight: &InFlight,
    runs: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    // every message about this run, from here or its engine inside the agent, carries its id
    let span = tracing::info_span!(
        "run",
        run = %claimed.flow_run.id,
        name = %claimed.flow_run.name,
        deployment = %claimed.deployment.as_ref().map_or("", |d| d.name.as_str()),
    );
    let _in_span = span.enter();
    tracing::info!("claimed flow run");
    // what an engine process reads first instead of asking the server
    let claim_json = match &config.engines {
        Engines::Process => serde_json::to_vec(&claimed).ok(),
        Engines::InAgent(_) => None,
    };
    let ClaimedRun {
        flow_run: run,
        claim_token: token,
        deployment,
        run_token,
    } = claimed;
    let prepared = runner::prepare(
        &config.launch,
        &run.flow_runner.clone().unwrap_or_default(),
        run_token.as_deref(),
    );
    let client = client.clone();
    let in_flight = InFlightRun::new(in_flight, run.id);
    // the moment running flows are cancelled: the grace period after a shutdown request
    let grace = config.grace;
    let shutdown = shutdown.clone();
    let cancel_at = async move {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            runs.spawn(
                async move { fail_to_start(&client, &run, token, &e).await }
                    .instrument(span.clone()),
            );
            return;
        }
    };
    match &config.engines {
        Engines::Process => {
            let child = runner::start(&config.launch, &prepared, run.id, token);
            runs.spawn(
                async move {
                    let mut child = match child {
                        Ok(c) => c,
                        Err(e) => return fail_to_start(&client, &run, token, &e).await,
                    };
                    in_flight.add();
                    if let Some(mut stdin) = child.stdin.take() {
                        // on the side, so an engine that never reads it cannot hold up its watch
                        // (it then asks the server instead)
                        tokio::spawn(async move {
                            use tokio::io::AsyncWriteExt;
                            let bytes = claim_json.unwrap_or_default();
                            let _ = tokio::time::timeout(
                                Duration::from_secs(30),
                                stdin.write_all(&bytes),
                            )
                            .await;
                        });
                    }
                    watch_engine_process(&client, &run, token, child, cancel_at).await;
                }
                .instrument(span.clone()),
            );
        }
        Engines::InAgent(options) => {
            let mut opts = EngineOptions::clone(options);
            opts.echo = prepared.stream_output;
            opts.flow = prepared.flow;
            opts.flow.guard = guard.cloned();
            runs.spawn(
                async move {
                    in_flight.add();
                    run_engine_here(client, run, deployment, token, opts, cancel_at).await;
                }
                .instrument(span.clone()),
            );
        }
    }
}

/// A run of `in_flight` (reported with each heartbeat) from `add` until dropped.
struct InFlightRun {
    set: InFlight,
    id: Uuid,
}

impl InFlightRun {
    fn new(set: &InFlight, id: Uuid) -> Self {
        Self {
            set: set.clone(),
            id,
        }
    }

    fn add(&self) {
        if let Ok(mut m) = self.set.lock() {
            m.insert(self.id);
        }
    }
}

impl Drop for InFlightRun {
    fn drop(&mut self) {
        if let Ok(mut m) = self.set.lock() {
            m.remove(&self.id);
        }
    }
}

/// Waits for a run's engine process; after `cancel_at`, stops it. An engine that ended without
/// reporting a final state leaves the run open: it becomes Crashed (Cancelled when the agent
/// is shutting down).
async fn watch_engine_process(
    client: &RigelClient,
    run: &FlowRun,
    token: Uuid,
    mut child: tokio::process::Child,
    cancel_at: impl std::future::Future<Output = ()>,
) {
    tracing::info!(pid = child.id().unwrap_or_default(), "started as a process");
    let mut shutting_down = false;
    let status = tokio::select! {
        s = child.wait() => s,
        () = cancel_at => {
            shutting_down = true;
            tracing::warn!("still running after the grace period; cancelling it");
            stop_group(&mut child, Duration::from_secs(15))
                .await
                .ok_or_else(|| std::io::Error::other("the engine process could not be waited for"))
        }
    };
    if status.as_ref().is_ok_and(std::process::ExitStatus::success) {
        // the engine exits 0 only after reporting Completed to the server
        tracing::info!(state = "Completed", "finished");
        return;
    }
    let how = status.as_ref().map_or_else(|e| e.to_string(), describe);
    let (kind, msg) = if shutting_down {
        (
            StateType::Cancelled,
            format!("the agent shut down; the engine ended with {how}"),
        )
    } else {
        (
            StateType::Crashed,
            format!("the engine process ended with {how} before reporting a final state"),
        )
    };
    close_if_open(client, run, token, kind, msg).await;
}

/// How long a cancelled engine inside the agent may take to stop its flow and report.
const ENGINE_STOP: Duration = Duration::from_secs(30);

/// Runs a run's engine inside the agent; after `cancel_at`, cancels it (the engine stops the
/// flow and reports Cancelled). An engine that fails without reporting (a panic, or a server
/// unreachable for its whole retry budget) leaves the run open: it becomes Crashed.
async fn run_engine_here(
    client: RigelClient,
    run: FlowRun,
    deployment: Option<Deployment>,
    token: Uuid,
    opts: EngineOptions,
    cancel_at: impl std::future::Future<Output = ()>,
) {
    tracing::info!("started in the agent");
    let cancel = CancellationToken::new();
    let mut engine = tokio::spawn({
        let (client, run, cancel) = (client.clone(), run.clone(), cancel.clone());
        async move { engine::execute_run(&client, run, deployment, Some(token), &opts, cancel).await }
            .in_current_span()
    });
    let ended = tokio::select! {
        r = &mut engine => r,
        () = cancel_at => {
            tracing::warn!("still running after the grace period; cancelling it");
            cancel.cancel();
            // the engine stops its flow (SIGKILL 10 s after SIGTERM) and reports; an engine that
            // cannot report (the server is away) is not waited for forever
            match tokio::time::timeout(ENGINE_STOP, &mut engine).await {
                Ok(r) => r,
                Err(_) => {
                    engine.abort();
                    tracing::error!(
                        within_seconds = ENGINE_STOP.as_secs(),
                        "its engine did not finish after being cancelled; leaving the run to the \
                         server's reaper"
                    );
                    return;
                }
            }
        }
    };
    let why = match ended {
        Ok(Ok(Outcome::Aborted(why))) => {
            tracing::warn!(why = %why, "not executed here");
            return;
        }
        Ok(Ok(Outcome::Completed)) => {
            tracing::info!(state = "Completed", "finished");
            return;
        }
        // reported by the engine — unless the server refused that report: make sure it ended
        Ok(Ok(Outcome::Failed(m) | Outcome::Cancelled(m))) => {
            format!("its engine ended the flow ({m}) but the run is still open")
        }
        Ok(Err(e)) => format!("its engine failed: {e:#}"),
        Err(e) if e.is_panic() => "its engine panicked (a bug in Rigel)".to_string(),
        Err(e) => format!("its engine stopped: {e}"),
    };
    close_if_open(&client, &run, token, StateType::Crashed, why).await;
}

/// After a shutdown request: waits for every run (each enforces the grace period itself).
async fn drain(config: &AgentConfig, in_flight: &InFlight, runs: &mut JoinSet<()>) {
    let n = in_flight.lock().map(|m| m.len()).unwrap_or(0);
    if n > 0 {
        tracing::info!(
            flows = n,
            grace_seconds = config.grace.as_secs_f64(),
            "waiting for running flows to finish"
        );
    }
    while runs.join_next().await.is_some() {}
}
