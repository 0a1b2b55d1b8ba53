//! End to end: a real server, real agents and real engine processes execute runs. The helpers
//! the test modules share are here.

#[path = "../support/mod.rs"]
mod support;

mod engine;
mod failures;
mod in_agent;
mod keys;
mod logs;
mod queues;
mod resilience;
mod runs;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use rigel_common::client::RigelClient;
use rigel_common::deployment::DeploymentCreate;
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::{DeploymentRunCreate, FlowRun};
use rigel_common::state::StateType;
use rigel_common::task_run::TaskRunFilter;
use support::{eventually, AgentProcess, ServerProcess};
use uuid::Uuid;

/// A server on a free port in a fresh `RIGEL_HOME`, with `extra` arguments, and a client for it.
fn start_server(extra: &[&str]) -> (tempfile::TempDir, ServerProcess, RigelClient) {
    let home = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["--port", "0"].iter().chain(extra).copied().collect();
    let server = ServerProcess::start_with(home.path(), &args);
    let client = RigelClient::new(&server.api_url);
    (home, server, client)
}

async fn deploy(
    client: &RigelClient,
    name: &str,
    flow_text: &str,
    runner: Option<serde_json::Value>,
) -> Uuid {
    let mut body = serde_json::json!({
        "name": name,
        "flow_name": name,
        "flow_data": {"encoding": "text", "blob": flow_text},
    });
    if let Some(r) = runner {
        body["flow_runner"] = r;
    }
    let spec: DeploymentCreate = serde_json::from_value(body).unwrap();
    client.create_deployment(&spec).await.unwrap().0.id
}

async fn run(client: &RigelClient, deployment: Uuid, params: serde_json::Value) -> FlowRun {
    let body = DeploymentRunCreate {
        parameters: serde_json::from_value(params).unwrap(),
        ..Default::default()
    };
    client
        .create_deployment_run(deployment, &body)
        .await
        .unwrap()
        .0
}

async fn finished(client: &RigelClient, id: Uuid, secs: u64) -> FlowRun {
    eventually(secs, "the run to finish", || async {
        let r = client.read_flow_run(id).await.ok()?;
        r.state.kind.is_terminal().then_some(r)
    })
    .await
}

async fn in_state(client: &RigelClient, id: Uuid, kind: StateType, secs: u64) -> FlowRun {
    eventually(secs, "the run's state", || async {
        let r = client.read_flow_run(id).await.ok()?;
        (r.state.kind == kind).then_some(r)
    })
    .await
}

async fn logs(client: &RigelClient, id: Uuid) -> Vec<String> {
    client
        .log_page(id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect()
}

/// Every log line of a run, oldest first (read page by page).
async fn all_logs(client: &RigelClient, id: Uuid) -> Vec<String> {
    let mut lines = Vec::new();
    let mut after = None;
    loop {
        let page = client.log_page(id, after).await.unwrap();
        let Some(last) = page.last() else {
            return lines;
        };
        after = Some(last.id);
        lines.extend(page.into_iter().map(|l| l.message));
    }
}

/// `rigel flow-run cancel ID`, which must succeed.
fn cancel_with_cli(server: &ServerProcess, id: Uuid) {
    server.cli_ok(&["flow-run", "cancel", &id.to_string()]);
}

/// The run was ended by the server's reaper: nobody heartbeated it any more.
fn assert_crashed_by_the_reaper(done: &FlowRun) {
    assert_eq!(done.state.kind, StateType::Crashed, "{:?}", done.state);
    let message = done.state.message.as_deref().unwrap_or_default();
    assert!(message.contains("no heartbeat"), "{message}");
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}
