//! Python flow benchmark: a trivial `@flow` run end to end through a real agent — claimed,
//! engine and Python started, Completed — against a script flow as the baseline. It starts the
//! real `rigel` binary (release build) as server and agent.
//!
//!     cargo bench --bench python_flow
//!     RIGEL_BENCH_PYTHONS=/usr/bin/python3:python3 RIGEL_BENCH_RUNS=50 cargo bench --bench python_flow
//!
//! `claim → Completed` is measured on the server's own state timestamps (PENDING, when the
//! agent claimed the run, to COMPLETED); `create → Completed` is the wall time a client sees.

mod support;

use std::time::{Duration, Instant};

use rigel_common::client::RigelClient;
use rigel_common::deployment::DeploymentCreate;
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::state::StateType;
use support::{ms, percentile, AgentProcess, ServerProcess};
use uuid::Uuid;

fn start_agent(server: &ServerProcess, python: &str) -> AgentProcess {
    AgentProcess::start_with(
        server,
        "bench",
        &["--limit", "1"],
        &[("RIGEL_PYTHON", python)],
    )
}

async fn deploy(client: &RigelClient, name: &str, code: &str) -> Uuid {
    let body: DeploymentCreate = serde_json::from_value(serde_json::json!({
        "name": name,
        "flow_name": name,
        "flow_data": {"encoding": "text", "blob": code},
    }))
    .expect("deployment");
    client.create_deployment(&body).await.expect("create").0.id
}

/// (claim → Completed, create → Completed) of `n` runs, one after another.
async fn measure(
    client: &RigelClient,
    deployment: Uuid,
    n: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut claimed = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        let run = client
            .create_deployment_run(deployment, &DeploymentRunCreate::default())
            .await
            .expect("run")
            .0;
        loop {
            let r = client.read_flow_run(run.id).await.expect("read");
            if r.state.kind.is_terminal() {
                assert_eq!(r.state.kind, StateType::Completed, "{:?}", r.state);
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        wall.push(t0.elapsed());
        let states = client.flow_run_states(run.id).await.expect("states");
        let at = |k: StateType| states.iter().find(|s| s.kind == k).map(|s| s.timestamp);
        if let (Some(p), Some(c)) = (at(StateType::Pending), at(StateType::Completed)) {
            claimed.push((c - p).to_std().unwrap_or_default());
        }
    }
    claimed.sort();
    wall.sort();
    (claimed, wall)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("RIGEL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let pythons = std::env::var("RIGEL_BENCH_PYTHONS").unwrap_or_else(|_| "python3".into());
    let home = tempfile::tempdir().expect("tempdir");
    std::env::set_var("RIGEL_LOG", "warn");
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let python = deploy(
        &client,
        "trivial-python",
        "from rigel import flow\n\n@flow(name=\"trivial-python\")\ndef trivial():\n    pass\n",
    )
    .await;
    let script = deploy(&client, "trivial-script", "#!/bin/sh\ntrue\n").await;

    println!("| flow | interpreter | runs | claim → Completed p50 | p95 | min | create → Completed p50 |");
    println!("|------|-------------|-----:|------:|----:|----:|------:|");
    let mut cases: Vec<(&str, String, Uuid)> = vec![("script (sh)", "-".into(), script)];
    for p in pythons.split(':').filter(|p| !p.is_empty()) {
        cases.push(("Python @flow", p.to_string(), python));
    }
    for (what, interpreter, deployment) in cases {
        let agent = start_agent(
            &server,
            if interpreter == "-" {
                "python3"
            } else {
                &interpreter
            },
        );
        // one warm-up run (page cache, first start of the interpreter)
        measure(&client, deployment, 1).await;
        let (claimed, wall) = measure(&client, deployment, runs).await;
        drop(agent);
        println!(
            "| {what} | {interpreter} | {runs} | {} | {} | {} | {} |",
            ms(percentile(&claimed, 0.5)),
            ms(percentile(&claimed, 0.95)),
            ms(claimed[0]),
            ms(percentile(&wall, 0.5)),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
