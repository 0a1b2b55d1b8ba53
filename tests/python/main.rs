//! End to end: Python `@flow` files and Python deployment files (the seed's examples, in
//! `examples/python/`) are created with `rigel deployment create` and run through a real agent,
//! with only `python3` installed.

#[path = "../support/mod.rs"]
mod support;

mod direct;
mod examples;
mod files;
mod interpreter;
mod tasks;

use std::path::{Path, PathBuf};
use std::process::Output;

use rigel_common::client::RigelClient;
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::{DeploymentRunCreate, FlowRun, FlowRunFilter};
use rigel_common::log::{level, Log, LogCriteria, LogFilter};
use rigel_common::state::StateType;
use rigel_common::task_run::{TaskRun, TaskRunFilter};
use support::{eventually, AgentProcess, ServerProcess};
use uuid::Uuid;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("python")
        .join(name)
}

/// `rigel deployment create FILE… [extra]` with `TMPDIR` private to the test.
fn create(api_url: &str, tmp: &Path, files: &[&Path], extra: &[&str]) -> Output {
    std::process::Command::new(support::rigel_bin())
        .args(["deployment", "create"])
        .args(files)
        .args(extra)
        .env("RIGEL_API_URL", api_url)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn run(client: &RigelClient, flow: &str, name: &str, params: serde_json::Value) -> FlowRun {
    let d = client.read_deployment_by_name(flow, name).await.unwrap();
    let body = DeploymentRunCreate {
        parameters: serde_json::from_value(params).unwrap(),
        ..Default::default()
    };
    client.create_deployment_run(d.id, &body).await.unwrap().0
}

async fn finished(client: &RigelClient, id: Uuid) -> FlowRun {
    eventually(60, "the run to finish", || async {
        let r = client.read_flow_run(id).await.ok()?;
        r.state.kind.is_terminal().then_some(r)
    })
    .await
}

async fn logs(client: &RigelClient, id: Uuid) -> Vec<Log> {
    let filter = LogFilter {
        logs: LogCriteria {
            flow_run_id: Some(AnyFilter::new([id])),
            ..Default::default()
        },
        ..Default::default()
    };
    client.filter_logs(&filter).await.unwrap()
}

fn has(logs: &[Log], lvl: u8, text: &str) -> bool {
    logs.iter().any(|l| l.level == lvl && l.message == text)
}

/// The run went Scheduled → Pending → Running → Completed, each once.
async fn assert_ran_once(client: &RigelClient, id: Uuid) {
    let states: Vec<StateType> = client
        .flow_run_states(id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        states,
        [
            StateType::Scheduled,
            StateType::Pending,
            StateType::Running,
            StateType::Completed
        ]
    );
}

async fn task_runs(client: &RigelClient, id: Uuid) -> Vec<TaskRun> {
    client
        .filter_task_runs(&TaskRunFilter {
            flow_run_id: id,
            limit: 200,
            offset: 0,
        })
        .await
        .unwrap()
}
