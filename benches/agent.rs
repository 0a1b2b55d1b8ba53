//! Agent benchmark: flow runs through real `rigel` processes (release build) — a server, one or
//! two `rigel agent start` processes and an engine process per run, as a user runs them.
//!
//!     cargo bench --bench agent
//!     RIGEL_BENCH_ONLY=latency,scheduled cargo bench --bench agent   # some sections only
//!                     # (latency, scheduled, throughput, burst, memory)
//!     RIGEL_BENCH_RUNS=500 RIGEL_BENCH_BURST=5000 RIGEL_BENCH_BURST_LIMITS=64,256 cargo bench --bench agent
//!     RIGEL_BENCH_ENGINES=in-agent cargo bench --bench agent   # one engine mode only
//!                     # (process: an engine process per run; in-agent: engines in the agent)
//!
//! "Process started" is when the flow's own script begins: the script writes bash's
//! `$EPOCHREALTIME` to a file named after its run, and the benchmark compares it with the wall
//! clock at which it created the run (run now) or with the run's scheduled time (scheduled).
//! Figures are printed as Markdown; docs/BENCHMARKS.md records them.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use rigel_common::client::RigelClient;
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::{DeploymentRunCreate, FlowRunCount, FlowRunCriteria, StateCriteria};
use rigel_common::state::StateType;
use support::{ms, percentile, pss_kib, status_kib, AgentProcess, ServerProcess};
use uuid::Uuid;

/// Writes when it started, to `$RIGEL_BENCH_OUT/<run id>`, with no process of its own.
const STAMP_FLOW: &str =
    "#!/bin/bash\nprintf '%s' \"$EPOCHREALTIME\" > \"$RIGEL_BENCH_OUT/$RIGEL_FLOW_RUN_ID\"\n";
/// The burst's flow: creates an empty `$RIGEL_BENCH_OUT/<run id>`, whose modification time is
/// when it started. `sh` (dash) starts in half the CPU of bash here (0.75 against 1.33 ms), and
/// 5,000 of them share two cores with everything measured.
const TOUCH_FLOW: &str = "#!/bin/sh\n: > \"$RIGEL_BENCH_OUT/$RIGEL_FLOW_RUN_ID\"\n";
/// The trivial flow of the throughput figures.
const TRUE_FLOW: &str = "#!/bin/sh\ntrue\n";

/// A server in its own `RIGEL_HOME` and a folder the flows write their start times to; its
/// agents run engines as `engine` says (`process` or `in-agent`).
struct Bench {
    home: tempfile::TempDir,
    server: ServerProcess,
    client: RigelClient,
    /// Where the flows write; on tmpfs when there is one (creating thousands of files on ext4
    /// costs the flows more than their own start).
    out: tempfile::TempDir,
    engine: &'static str,
}

impl Bench {
    fn start(engine: &'static str) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        let server = ServerProcess::start(home.path());
        let client = RigelClient::new(&server.api_url);
        let shm = Path::new("/dev/shm");
        let out = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir_in(home.path())
        }
        .expect("out folder");
        Self {
            home,
            server,
            client,
            out,
            engine,
        }
    }

    /// `rigel deployment create` of a script flow; returns the deployment's id.
    async fn deploy(&self, name: &str, script: &str) -> Uuid {
        let dir = self.home.path();
        std::fs::write(dir.join(format!("{name}.sh")), script).expect("flow file");
        let spec = format!("name: {name}\nflow_location: ./{name}.sh\nflow_name: {name}\n");
        let spec_path = dir.join(format!("{name}.yaml"));
        std::fs::write(&spec_path, spec).expect("spec");
        let status = std::process::Command::new(support::rigel_bin())
            .args(["deployment", "create"])
            .arg(&spec_path)
            .env("RIGEL_API_URL", &self.server.api_url)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("rigel deployment create");
        assert!(status.success(), "deployment create failed");
        self.client
            .read_deployment_by_name(name, name)
            .await
            .expect("deployment")
            .id
    }

    fn agent(&self, name: &str, args: &[&str]) -> AgentProcess {
        let mut all = vec!["--name", name, "--engine", self.engine];
        all.extend_from_slice(args);
        AgentProcess::start_with(
            &self.server,
            "bench",
            &all,
            &[(
                "RIGEL_BENCH_OUT",
                self.out.path().to_str().expect("utf-8 path"),
            )],
        )
    }

    /// Waits until the agent has registered (and so is ready to claim).
    async fn wait_for_agents(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let agents = self
                .client
                .filter_agents(&Default::default())
                .await
                .unwrap_or_default();
            if agents.len() >= n {
                // its first claim call is on its way
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            assert!(Instant::now() < deadline, "agents did not register");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// When the flow of `run` started (waits for it up to `within`).
    async fn started_at(&self, run: Uuid, stamp: Stamp, within: Duration) -> Option<f64> {
        let path = self.out.path().join(run.to_string());
        let deadline = Instant::now() + within;
        loop {
            if let Some(t) = read_stamp(&path, stamp) {
                return Some(t);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }

    async fn count(&self, states: &[StateType]) -> u64 {
        let filter = FlowRunCount {
            flow_runs: FlowRunCriteria {
                state: Some(StateCriteria {
                    kind: Some(AnyFilter::new(states.iter().copied())),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        self.client.count_flow_runs(&filter).await.unwrap_or(0)
    }

    /// Creates `n` runs of `deployment` at `at` (now when None), 16 requests at a time.
    async fn create_runs(
        &self,
        deployment: Uuid,
        n: usize,
        at: Option<DateTime<Utc>>,
    ) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(n);
        let mut pending = tokio::task::JoinSet::new();
        for _ in 0..n {
            if pending.len() >= 16 {
                ids.push(pending.join_next().await.expect("task").expect("join"));
            }
            let client = self.client.clone();
            pending.spawn(async move {
                let body = DeploymentRunCreate {
                    scheduled_start_time: at,
                    ..Default::default()
                };
                client
                    .create_deployment_run(deployment, &body)
                    .await
                    .expect("create run")
                    .0
                    .id
            });
        }
        while let Some(id) = pending.join_next().await {
            ids.push(id.expect("join"));
        }
        ids
    }

    /// Per-run state counts straight from the database: every run must have its Scheduled,
    /// Pending, Running and Completed states recorded.
    async fn transitions_persisted(&self, runs: &[Uuid]) -> (usize, usize) {
        let mut conn = self.database().await;
        let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT flow_run_id, count(DISTINCT type) FROM flow_run_state GROUP BY flow_run_id",
        )
        .fetch_all(&mut conn)
        .await
        .expect("count states");
        let complete: std::collections::HashSet<Vec<u8>> = rows
            .into_iter()
            .filter(|(_, n)| *n >= 4)
            .map(|(id, _)| id)
            .collect();
        let ok = runs
            .iter()
            .filter(|r| complete.contains(r.as_bytes().as_slice()))
            .count();
        (ok, runs.len())
    }

    /// The server's database, read-only (it is in WAL mode: reading doesn't disturb it).
    async fn database(&self) -> sqlx::SqliteConnection {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.home.path().join("rigel.db"))
            .read_only(true)
            .connect()
            .await
            .expect("open the database")
    }

    /// How many runs were ever marked Late (they keep that state in their history).
    async fn ever_late(&self) -> i64 {
        let mut conn = self.database().await;
        sqlx::query_scalar(
            "SELECT count(DISTINCT flow_run_id) FROM flow_run_state WHERE name = 'Late'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("count Late states")
    }
}

/// The time a flow wrote in its file or, for [`Stamp::Touched`], the file's modification time
/// (a new file's time may come from the coarse clock: at worst one clock tick early).
fn read_stamp(path: &Path, stamp: Stamp) -> Option<f64> {
    match stamp {
        Stamp::Written => std::fs::read_to_string(path).ok()?.trim().parse().ok(),
        Stamp::Touched => {
            let modified = std::fs::metadata(path).ok()?.modified().ok()?;
            Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
        }
    }
}

/// How a flow records when it started: [`STAMP_FLOW`] or [`TOUCH_FLOW`].
#[derive(Clone, Copy)]
enum Stamp {
    Written,
    Touched,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn secs(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0))
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(what: &str, figure: String, target: &str) {
    println!("| {what} | {figure} | {target} |");
}

/// Run now: create one run at a time and wait for its flow to start.
async fn latency(engine: &'static str, n: usize) {
    let b = Bench::start(engine);
    let deployment = b.deploy("stamp", STAMP_FLOW).await;
    let _agent = b.agent("a", &[]);
    b.wait_for_agents(1).await;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let t0 = now_secs();
        let run = b
            .client
            .create_deployment_run(deployment, &DeploymentRunCreate::default())
            .await
            .expect("create run")
            .0;
        let started = b
            .started_at(run.id, Stamp::Written, Duration::from_secs(30))
            .await
            .expect("the flow did not start within 30 s");
        // the first few warm the page cache
        if i >= 5 {
            samples.push(secs(started - t0));
        }
        // let it finish, so runs don't overlap
        while b.count(&[StateType::Completed]).await < (i + 1) as u64 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    samples.sort();
    row(
        &format!("[{engine}] run now → flow process started ({n} runs, one at a time), p50"),
        ms(percentile(&samples, 0.5)),
        "≤ 10 ms",
    );
    row("… p99", ms(percentile(&samples, 0.99)), "≤ 50 ms");
    row("… max", ms(*samples.last().unwrap_or(&Duration::ZERO)), "");
}

/// Scheduled runs, claimed ahead (prefetch): how late each flow starts after its time.
async fn scheduled(engine: &'static str, n: usize) {
    let b = Bench::start(engine);
    let deployment = b.deploy("stamp", STAMP_FLOW).await;
    let _agent = b.agent("a", &["--prefetch-seconds", "10"]);
    b.wait_for_agents(1).await;
    // one every 20 ms, the first 2 s from now
    let first = Utc::now() + chrono::TimeDelta::seconds(2);
    let mut runs = Vec::with_capacity(n);
    for i in 0..n {
        let at = first + chrono::TimeDelta::milliseconds(20 * i as i64);
        let id = b.create_runs(deployment, 1, Some(at)).await[0];
        runs.push((id, at));
    }
    let mut late = Vec::with_capacity(n);
    let mut early = 0;
    for (id, at) in &runs {
        let started = b
            .started_at(*id, Stamp::Written, Duration::from_secs(60))
            .await
            .expect("a scheduled flow did not start");
        let due = at.timestamp_micros() as f64 / 1e6;
        if started < due {
            early += 1;
        }
        late.push(secs(started - due));
    }
    late.sort();
    row(
        &format!("[{engine}] scheduled time → flow process started ({n} prefetched runs, 20 ms apart), p50"),
        ms(percentile(&late, 0.5)),
        "≤ 10 ms",
    );
    row("… p99", ms(percentile(&late, 0.99)), "≤ 50 ms");
    row("… started before their time", early.to_string(), "0");
}

/// Trivial runs end to end through one agent.
async fn throughput(engine: &'static str, n: usize, limit: usize) {
    let b = Bench::start(engine);
    let deployment = b.deploy("trivial", TRUE_FLOW).await;
    let limit = limit.to_string();
    let agent = b.agent("a", &["--limit", &limit]);
    b.wait_for_agents(1).await;
    let t0 = Instant::now();
    let runs = b.create_runs(deployment, n, None).await;
    let created = t0.elapsed();
    loop {
        let done = b
            .count(&[StateType::Completed, StateType::Failed, StateType::Crashed])
            .await;
        if done >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t0.elapsed();
    let completed = b.count(&[StateType::Completed]).await;
    let (persisted, total) = b.transitions_persisted(&runs).await;
    let agent_cpu = support::cpu_time(agent.child.id());
    let flows_cpu = support::children_cpu_time(agent.child.id());
    let server_cpu = support::cpu_time(b.server.child.id());
    row(
        &format!(
            "[{engine}] `true` runs through one agent (--limit {limit}): {n} runs, created in {:.2} s",
            created.as_secs_f64()
        ),
        format!(
            "{:.0} runs/s ({:.2} s)",
            n as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        ),
        "≥ 500 runs/s (stretch 1,000)",
    );
    row("… completed", format!("{completed} of {n}"), "all");
    row(
        "… runs with Scheduled, Pending, Running and Completed all stored",
        format!("{persisted} of {total}"),
        "all",
    );
    row(
        "… CPU used by server / agent / its engines and flows",
        format!(
            "{:.2} s / {:.2} s / {:.2} s",
            server_cpu.as_secs_f64(),
            agent_cpu.as_secs_f64(),
            flows_cpu.as_secs_f64()
        ),
        "",
    );
}

/// A burst of runs due in the same second, two agents that prefetch them.
async fn burst(engine: &'static str, n: usize, limit: usize) {
    let b = Bench::start(engine);
    let deployment = b.deploy("touch", TOUCH_FLOW).await;
    let limit = limit.to_string();
    let agents = [
        b.agent("a", &["--limit", &limit, "--prefetch-seconds", "30"]),
        b.agent("b", &["--limit", &limit, "--prefetch-seconds", "30"]),
    ];
    b.wait_for_agents(2).await;
    let due = Utc::now() + chrono::TimeDelta::seconds(10);
    let t0 = Instant::now();
    let runs = b.create_runs(deployment, n, Some(due)).await;
    let created = t0.elapsed();
    let due_secs = due.timestamp_micros() as f64 / 1e6;
    // CPU from the due time on: what the burst itself cost
    tokio::time::sleep(secs(due_secs - now_secs())).await;
    let cpu = || {
        let agents = agents.iter().map(|a| a.child.id());
        [
            support::cpu_time(b.server.child.id()),
            agents.clone().map(support::cpu_time).sum(),
            agents.map(support::children_cpu_time).sum(),
        ]
    };
    let cpu_at_due = cpu();
    let mut late = Vec::with_capacity(n);
    let mut missing = 0;
    for id in &runs {
        match b
            .started_at(*id, Stamp::Touched, Duration::from_secs(120))
            .await
        {
            Some(t) => late.push(secs(t - due_secs)),
            None => missing += 1,
        }
    }
    let cpu_used: Vec<String> = cpu()
        .iter()
        .zip(cpu_at_due)
        .map(|(after, before)| format!("{:.2} s", (*after - before).as_secs_f64()))
        .collect();
    late.sort();
    if std::env::var_os("RIGEL_BENCH_HISTOGRAM").is_some() {
        let mut per: std::collections::BTreeMap<u64, usize> = Default::default();
        for l in &late {
            *per.entry(l.as_millis() as u64 / 500).or_default() += 1;
        }
        eprintln!("starts per 0.5 s after due: {per:?}");
    }
    let marked_late = b.ever_late().await;
    row(
        &format!("[{engine}] burst: {n} runs due in the same second, two agents (--limit {limit}; created in {:.2} s): last started after", created.as_secs_f64()),
        ms(*late.last().unwrap_or(&Duration::ZERO)),
        "≤ 5 s",
    );
    row("… p50 start after due", ms(percentile(&late, 0.5)), "");
    row(
        "… runs ever marked Late / never started",
        format!("{marked_late} / {missing}"),
        "0 / 0",
    );
    row(
        "… CPU from due to last start: server / agents / their engines and flows",
        cpu_used.join(" / "),
        "",
    );
}

/// Resident memory of an idle agent and of one engine process.
async fn memory(engine: &'static str) {
    let b = Bench::start(engine);
    let deployment = b.deploy("sleepy", "#!/bin/sh\nsleep 2\n").await;
    let agent = b.agent("a", &[]);
    b.wait_for_agents(1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = status_kib(agent.child.id(), "VmRSS:");
    let idle_pss = pss_kib(agent.child.id());
    // an in-agent agent's flow guard (`rigel engine guard`), a process of its own
    let guard = children(agent.child.id()).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"guard"))
    });
    let guard_mem = guard.map(|pid| (status_kib(pid, "VmRSS:"), pss_kib(pid)));
    b.create_runs(deployment, 1, None).await;
    // the engine (or, inside the agent, the flow) is the agent's child; measure while it sleeps
    let mut child = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.is_none() && Instant::now() < deadline {
        child = children(agent.child.id())
            .into_iter()
            .find(|pid| Some(*pid) != guard);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let child = child.expect("no engine or flow process appeared");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let engine_rss = status_kib(child, "VmRSS:");
    let engine_hwm = status_kib(child, "VmHWM:");
    let engine_pss = pss_kib(child);
    let busy = status_kib(agent.child.id(), "VmRSS:");
    while b.count(&[StateType::Completed]).await < 1 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = status_kib(agent.child.id(), "VmRSS:");
    let mib = |k: u64| format!("{:.1} MB", k as f64 / 1024.0);
    row(
        &format!("[{engine}] agent resident memory, idle (RSS / PSS)"),
        format!("{} / {}", mib(idle), mib(idle_pss)),
        "≤ 10 MB",
    );
    row("… while a run's flow runs (RSS)", mib(busy), "");
    row("… idle again after a run (RSS)", mib(after), "≤ 10 MB");
    if let Some((rss, pss)) = guard_mem {
        row(
            "… its flow guard process (RSS / PSS)",
            format!("{} / {}", mib(rss), mib(pss)),
            "",
        );
    }
    if engine == "process" {
        row(
            "engine process while its flow runs (RSS / peak RSS / PSS)",
            format!(
                "{} / {} / {}",
                mib(engine_rss),
                mib(engine_hwm),
                mib(engine_pss)
            ),
            "≤ 10 MB",
        );
    }
}

/// Child processes of `pid` (from every thread's `children` list).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

#[tokio::main]
async fn main() {
    // the servers started below log only warnings
    std::env::set_var("RIGEL_LOG", "warn");
    let only = std::env::var("RIGEL_BENCH_ONLY").unwrap_or_default();
    let wanted = |s: &str| only.is_empty() || only.split(',').any(|o| o.trim() == s);
    let runs = env_usize("RIGEL_BENCH_RUNS", 200);
    println!("| measure | figure | target |");
    println!("|---------|-------:|--------|");
    let engines = std::env::var("RIGEL_BENCH_ENGINES").unwrap_or_default();
    for engine in ["process", "in-agent"] {
        if !engines.is_empty() && !engines.split(',').any(|e| e.trim() == engine) {
            continue;
        }
        if wanted("latency") {
            latency(engine, runs).await;
        }
        if wanted("scheduled") {
            scheduled(engine, runs).await;
        }
        if wanted("throughput") {
            let n = env_usize("RIGEL_BENCH_THROUGHPUT_RUNS", 3000);
            let limit = env_usize("RIGEL_BENCH_LIMIT", 32);
            throughput(engine, n, limit).await;
        }
        if wanted("burst") {
            let limits = std::env::var("RIGEL_BENCH_BURST_LIMITS").unwrap_or_default();
            let limits: Vec<usize> = limits
                .split(',')
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            // each agent's --limit: the CLI's default is 10; a queue expecting bursts wants more
            for limit in if limits.is_empty() {
                vec![64, 256]
            } else {
                limits
            } {
                burst(engine, env_usize("RIGEL_BENCH_BURST", 5000), limit).await;
            }
        }
        if wanted("memory") {
            memory(engine).await;
        }
    }
}
