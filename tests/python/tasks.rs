//! `@task`s in a Python flow: task runs, retries, and a failure's traceback.

use super::*;

const TASKS: &str = r#"
import time
from prefect import flow, task, get_run_logger

calls = {"flaky": 0}

@task(retries=2, retry_delay_seconds=0.1)
def flaky():
    calls["flaky"] += 1
    get_run_logger().info("flaky attempt %d", calls["flaky"])
    if calls["flaky"] < 2:
        raise ConnectionError("not yet")
    return 21

@task(retries=1, retry_delay_seconds=0)
def boom(x):
    raise ValueError("boom %d" % x)

@task
def sleepy():
    time.sleep(60)

@flow(name="tasks")
def with_tasks(explode: bool = False, count: int = 1):
    logger = get_run_logger()
    value = flaky() * 2
    logger.error("value is %d", value)
    if explode:
        boom(value)

@flow(name="sleeper")
def sleeper():
    print("sleeping")
    sleepy()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_task_runs_with_retries_and_failures_keep_their_traceback() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let flows = tmp.path().join("tasks_flow.py");
    std::fs::write(&flows, TASKS).unwrap();
    let spec = tmp.path().join("deploy.py");
    std::fs::write(
        &spec,
        "from prefect.deployments import DeploymentSpec\n\
         DeploymentSpec(name='t', flow_location='tasks_flow.py', flow_name='tasks')\n\
         DeploymentSpec(name='s', flow_location='tasks_flow.py', flow_name='sleeper')\n",
    )
    .unwrap();
    let out = create(&server.api_url, tmp.path(), &[&spec], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _agent = AgentProcess::start(&server, "default", &[]);
    a_flaky_task_is_one_task_run_with_two_attempts(&client).await;
    a_failing_task_fails_the_flow_with_its_traceback(&client).await;
    parameters_are_checked_against_the_signature(&client).await;
    cancelling_stops_the_flows_process(&client, &server).await;
}

/// A task that fails once, then succeeds: one task run, two attempts, each log line tagged.
async fn a_flaky_task_is_one_task_run_with_two_attempts(client: &RigelClient) {
    let r = run(client, "tasks", "t", serde_json::json!({})).await;
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let tasks = task_runs(client, r.id).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(
        (
            tasks[0].name.as_str(),
            tasks[0].state.kind,
            tasks[0].run_count
        ),
        ("flaky", StateType::Completed, 2)
    );
    let lines = logs(client, r.id).await;
    assert!(has(&lines, level::ERROR, "value is 42"), "{lines:#?}");
    let retry = lines
        .iter()
        .find(|l| {
            l.message
                .starts_with("Task run 'flaky' failed (ConnectionError: not yet)")
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(
        (retry.level, retry.task_run_id),
        (level::WARNING, Some(tasks[0].id))
    );
    let attempt = lines
        .iter()
        .find(|l| l.message == "flaky attempt 2")
        .unwrap();
    assert_eq!(
        attempt.task_run_id,
        Some(tasks[0].id),
        "tagged with its task run"
    );
}

/// A task that keeps failing fails the flow, with the traceback (without Rigel's frames) in
/// the logs; the flow's calls under the engine make no runs of their own.
async fn a_failing_task_fails_the_flow_with_its_traceback(client: &RigelClient) {
    let r = run(client, "tasks", "t", serde_json::json!({"explode": true})).await;
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Failed, "{:?}", done.state);
    assert_eq!(
        done.state.message.as_deref(),
        Some("the flow raised ValueError: boom 42")
    );
    let tasks = task_runs(client, r.id).await;
    let boom = tasks.iter().find(|t| t.name == "boom").unwrap();
    assert_eq!((boom.state.kind, boom.run_count), (StateType::Failed, 2));
    assert_eq!(
        boom.state.message.as_deref(),
        Some("task 'boom' failed: ValueError: boom 42 (after 2 attempts)")
    );
    let lines = logs(client, r.id).await;
    let traceback = lines
        .iter()
        .find(|l| l.message.starts_with("Flow 'tasks' failed:"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(traceback.level, level::ERROR);
    assert!(
        traceback
            .message
            .contains("Traceback (most recent call last)")
            && traceback
                .message
                .contains("tasks_flow.py\", line 17, in boom")
            && traceback.message.ends_with("ValueError: boom 42"),
        "{}",
        traceback.message
    );
    assert!(
        !traceback.message.contains("rigel-python"),
        "Rigel's own frames are left out: {}",
        traceback.message
    );
    // the engine tracks its runs: the flow's calls under it make no runs of their own
    let all = client
        .filter_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap();
    assert!(all.iter().all(|r| r.deployment_id.is_some()), "{all:#?}");
}

/// Parameters are checked against the signature's types (by the server, before a run exists;
/// the engine and the bootstrap check again).
async fn parameters_are_checked_against_the_signature(client: &RigelClient) {
    let d = client.read_deployment_by_name("tasks", "t").await.unwrap();
    let body = DeploymentRunCreate {
        parameters: serde_json::from_value(serde_json::json!({"count": "many"})).unwrap(),
        ..Default::default()
    };
    let err = client.create_deployment_run(d.id, &body).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("parameters.count: must be an integer"),
        "{err}"
    );
}

/// Cancelling a running Python flow stops its process.
async fn cancelling_stops_the_flows_process(client: &RigelClient, server: &ServerProcess) {
    let r = run(client, "sleeper", "s", serde_json::json!({})).await;
    eventually(30, "the flow to start", || async {
        let lines = logs(client, r.id).await;
        lines.iter().any(|l| l.message == "sleeping").then_some(())
    })
    .await;
    server.cli_ok(&["flow-run", "cancel", &r.id.to_string()]);
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Cancelled, "{:?}", done.state);
}
