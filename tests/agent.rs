//! End to end: a real server, real agents and real engine processes execute runs.

mod support;

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
    let out = std::process::Command::new(support::rigel_bin())
        .args(["flow-run", "cancel", &id.to_string()])
        .env("RIGEL_API_URL", &server.api_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_hello_world_runs_through_an_agent() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let out = std::process::Command::new(support::rigel_bin())
        .args(["deployment", "create", &example("three-deployments.yaml")])
        .env("RIGEL_API_URL", &server.api_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _agent = AgentProcess::start(&server, "default", &[]);
    let d = client
        .read_deployment_by_name("hello-world", "hello-trillian")
        .await
        .unwrap();
    let r = run(&client, d.id, serde_json::json!({"name": "Marvin"})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    assert!(lines.iter().any(|l| l == "Hello Marvin!"), "{lines:?}");
    let states: Vec<StateType> = client
        .flow_run_states(r.id)
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
    assert!(done.agent_id.is_some() && done.start_time.is_some() && done.end_time.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_tasks_retry_then_fail_the_run_and_timeouts_stop_tasks() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let flaky = "flows:\n  - name: flaky\n    tasks:\n      - name: first\n        run: echo first\n      - name: boom\n        needs: [first]\n        run: echo trying; exit 3\n        retries: 2\n        retry_delay_seconds: 0.2\n      - name: never\n        needs: [boom]\n        run: echo never\n";
    let d = deploy(&client, "flaky", flaky, None).await;
    let slow = "flows:\n  - name: slow\n    tasks:\n      - name: sleepy\n        run: sleep 30\n        timeout_seconds: 1\n";
    let d2 = deploy(&client, "slow", slow, None).await;
    let _agent = AgentProcess::start(&server, "default", &[]);
    let r = run(&client, d, serde_json::json!({})).await;
    let r2 = run(&client, d2, serde_json::json!({})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Failed);
    let msg = done.state.message.clone().unwrap_or_default();
    assert!(
        msg.contains("boom") && msg.contains("exit code 3") && msg.contains("3 attempts"),
        "{msg}"
    );
    let lines = logs(&client, r.id).await;
    assert_eq!(
        lines.iter().filter(|l| *l == "trying").count(),
        3,
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l == "never"));
    let tasks = client
        .filter_task_runs(&TaskRunFilter {
            flow_run_id: r.id,
            limit: 200,
            offset: 0,
        })
        .await
        .unwrap();
    let boom = tasks.iter().find(|t| t.name == "boom").unwrap();
    assert_eq!((boom.state.kind, boom.run_count), (StateType::Failed, 3));
    assert_eq!(
        tasks.iter().find(|t| t.name == "first").unwrap().state.kind,
        StateType::Completed
    );
    assert!(tasks.iter().all(|t| t.name != "never"));
    let done2 = finished(&client, r2.id, 30).await;
    assert_eq!(done2.state.kind, StateType::Failed);
    assert!(
        done2
            .state
            .message
            .unwrap_or_default()
            .contains("timed out"),
        "timeout reported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_long_run_and_crash_when_the_engine_dies() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let d = deploy(&client, "long", "#!/bin/sh\necho started\nsleep 60\n", None).await;
    let _agent = AgentProcess::start(&server, "default", &[]);
    let r = run(&client, d, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    cancel_with_cli(&server, r.id);
    let done = finished(&client, r.id, 20).await;
    assert_eq!(done.state.kind, StateType::Cancelled, "{:?}", done.state);

    // the engine process is killed outright: the agent reports the run as crashed
    let r = run(&client, d, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    let pattern = format!("engine run {}", r.id);
    let killed = std::process::Command::new("pkill")
        .args(["-9", "-f", &pattern])
        .status()
        .unwrap();
    assert!(killed.success(), "found the engine process");
    let done = finished(&client, r.id, 20).await;
    assert_eq!(done.state.kind, StateType::Crashed, "{:?}", done.state);
    assert!(done.state.message.unwrap_or_default().contains("signal 9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_flow_runners_fail_at_submission() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let d = deploy(
        &client,
        "boxed",
        "echo hi",
        Some(serde_json::json!({"type": "docker", "config": {"image": "x"}})),
    )
    .await;
    let _agent = AgentProcess::start(&server, "default", &[]);
    let r = run(&client, d, serde_json::json!({})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Failed);
    assert!(done
        .state
        .message
        .unwrap_or_default()
        .contains("flow runner 'docker' is not available on this agent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_a_server_restart() {
    let home = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let mut server = ServerProcess::start_with(home.path(), &["--port", &port]);
    let client = RigelClient::new(&server.api_url);
    let d = deploy(
        &client,
        "steady",
        "#!/bin/sh\necho before\nsleep 3\necho after\n",
        None,
    )
    .await;
    let _agent = AgentProcess::start(&server, "default", &[]);
    let r = run(&client, d, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    assert!(server.terminate());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _server = ServerProcess::start_with(home.path(), &["--port", &port]);
    let done = finished(&client, r.id, 40).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    assert!(
        lines.contains(&"before".to_string()) && lines.contains(&"after".to_string()),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_execute_three_hundred_runs_exactly_once() {
    const RUNS: usize = 300;
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let out_dir = tempfile::tempdir().unwrap();
    let ledger = out_dir.path().join("ledger.txt");
    let script = format!(
        "#!/bin/sh\necho \"$RIGEL_FLOW_RUN_ID\" >> '{}'\n",
        ledger.display()
    );
    let d = deploy(&client, "append", &script, None).await;
    let mut ids = Vec::new();
    for _ in 0..RUNS {
        ids.push(run(&client, d, serde_json::json!({})).await.id);
    }
    let _a = AgentProcess::start(&server, "default", &["--limit", "8", "--name", "a"]);
    let _b = AgentProcess::start(&server, "default", &["--limit", "8", "--name", "b"]);
    for id in &ids {
        let done = finished(&client, *id, 180).await;
        assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    }
    let text = std::fs::read_to_string(&ledger).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let unique: HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), RUNS, "each run's side effect happened once");
    assert_eq!(unique.len(), RUNS);
    let agents: HashSet<Option<Uuid>> = {
        let mut s = HashSet::new();
        for id in &ids {
            s.insert(client.read_flow_run(*id).await.unwrap().agent_id);
        }
        s
    };
    assert_eq!(agents.len(), 2, "both agents took runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_crashes_a_run_whose_agent_and_engine_were_killed() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        home.path(),
        &["--port", "0", "--run-heartbeat-timeout", "2"],
    );
    let client = RigelClient::new(&server.api_url);
    let d = deploy(&client, "doomed", "#!/bin/sh\nsleep 60\n", None).await;
    let mut agent = AgentProcess::start(&server, "default", &[]);
    let r = run(&client, d, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    // the machine "dies": agent and engine killed without a chance to report
    agent.child.kill().unwrap();
    let _ = agent.child.wait();
    let pattern = format!("engine run {}", r.id);
    std::process::Command::new("pkill")
        .args(["-9", "-f", &pattern])
        .status()
        .unwrap();
    let done = finished(&client, r.id, 30).await;
    assert_crashed_by_the_reaper(&done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_deployment_runs_on_its_own() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let spec: DeploymentCreate = serde_json::from_value(serde_json::json!({
        "name": "ticker", "flow_name": "ticker",
        "flow_data": {"encoding": "text", "blob": "echo tick"},
        "schedule": {"interval": 2},
    }))
    .unwrap();
    let (d, _) = client.create_deployment(&spec).await.unwrap();
    let _agent = AgentProcess::start(&server, "default", &[]);
    let filter = rigel_common::flow_run::FlowRunFilter {
        flow_runs: rigel_common::flow_run::FlowRunCriteria {
            deployment_id: Some(AnyFilter::new([d.id])),
            state: Some(rigel_common::flow_run::StateCriteria {
                kind: Some(AnyFilter::new([StateType::Completed])),
                name: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let done = eventually(30, "a scheduled run to complete", || async {
        let runs = client.filter_flow_runs(&filter).await.ok()?;
        runs.into_iter().find(|r| r.auto_scheduled)
    })
    .await;
    assert!(logs(&client, done.id).await.contains(&"tick".to_string()));
}

/// `rigel deployment execute`: the flow runs in the foreground (no agent), tracked as a run; its
/// code, stored under its content hash, is kept in `RIGEL_HOME/cache/flows` for the next run,
/// and a damaged copy there is fetched again rather than run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_execute_runs_in_the_foreground_and_caches_the_code() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let rigel = |args: &[&str]| {
        std::process::Command::new(support::rigel_bin())
            .args(args)
            .env("RIGEL_API_URL", &server.api_url)
            .env("RIGEL_HOME", home.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = rigel(&["deployment", "create", &example("hello-daily.yaml")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = client
        .read_deployment_by_name("hello-world", "hello-world-daily")
        .await
        .unwrap();
    let blob: serde_json::Value = serde_json::from_str(&d.flow_data.blob).unwrap();
    let key = blob["data"].as_str().unwrap().to_string();
    let cached = home.path().join("cache").join("flows").join(&key);
    let code = std::fs::read_to_string(example("hello_world.sh")).unwrap();

    let execute = || {
        rigel(&[
            "deployment",
            "execute",
            "hello-world/hello-world-daily",
            "-p",
            "name=Marvin",
        ])
    };
    let out = execute();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Hello Marvin!"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), code);

    std::fs::write(&cached, "#!/bin/sh\necho tampered\n").unwrap();
    let out = execute();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Hello Marvin!") && !stdout.contains("tampered"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), code);

    // (the deployment's schedule adds Scheduled runs of its own)
    let runs = client.filter_flow_runs(&Default::default()).await.unwrap();
    let completed = runs.iter().filter(|r| r.state.kind == StateType::Completed);
    assert_eq!(completed.count(), 2, "{runs:?}");
    // a failing flow: execute exits non-zero and the run is Failed
    std::fs::write(home.path().join("fail.sh"), "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::write(
        home.path().join("fail.yaml"),
        "name: fail\nflow_location: ./fail.sh\nflow_name: fail\n",
    )
    .unwrap();
    let out = rigel(&[
        "deployment",
        "create",
        home.path().join("fail.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rigel(&["deployment", "execute", "fail/fail"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exit code 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Output that is not UTF-8 is logged with replacement characters and never stops the reading
/// of the flow's output (a reader that stopped would kill the script with SIGPIPE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_that_is_not_utf8_is_logged_and_the_flow_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let script = "#!/bin/sh\nprintf 'caf\\351\\n'\nsleep 0.3\necho after\n";
    let d = deploy(&client, "latin1", script, None).await;
    let _agent = AgentProcess::start(&server, "default", &[]);
    let r = run(&client, d, serde_json::json!({})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    assert!(lines.contains(&"caf\u{fffd}".to_string()), "{lines:?}");
    assert!(lines.contains(&"after".to_string()), "{lines:?}");
}

/// A registration the server refuses (here: a name it doesn't accept) stops the agent with
/// the server's reason, instead of retrying forever as it does through outages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_the_server_refuses_stops_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let mut child = std::process::Command::new(support::rigel_bin())
        .args(["agent", "start", "default", "--name", "a/b"])
        .env("RIGEL_API_URL", &server.api_url)
        .env("RIGEL_HOME", home.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent kept retrying a registration the server refused");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("refused to register the agent") && stderr.contains("name"),
        "{stderr}"
    );
}

/// `--engine in-agent`: no engine process; the runner's env and working_dir still reach the
/// flow, tasks' relative folders are taken from it, a bad folder fails the run at submission,
/// cancelling works, and a shutdown cancels what is still running after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_inside_the_agent() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("sub")).unwrap();
    let flow = "flows:\n  - name: greet\n    parameters:\n      name: {type: string, default: you}\n    tasks:\n      - name: here\n        run: pwd\n      - name: there\n        run: pwd; echo \"$GREETING $RIGEL_PARAM_NAME\"\n        working_dir: sub\n";
    let body = serde_json::json!({
        "name": "greet", "flow_name": "greet",
        "flow_data": {"encoding": "text", "blob": flow},
        "flow_runner": {"type": "subprocess", "config": {
            "env": {"GREETING": "Howdy"},
            "working_dir": work.path().to_str().unwrap(),
        }},
    });
    let spec: DeploymentCreate = serde_json::from_value(body).unwrap();
    let d = client.create_deployment(&spec).await.unwrap().0.id;
    let long = deploy(&client, "long", "#!/bin/sh\necho started\nsleep 60\n", None).await;
    let lost = deploy(
        &client,
        "lost",
        "echo never",
        Some(
            serde_json::json!({"type": "subprocess", "config": {"working_dir": "/no/such/folder"}}),
        ),
    )
    .await;
    // (with a grace period of 1 s)
    let mut agent = AgentProcess::start(&server, "default", &["--engine", "in-agent"]);

    let r = run(&client, d, serde_json::json!({"name": "Marvin"})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    let here = std::fs::canonicalize(work.path()).unwrap();
    for want in [
        here.display().to_string(),
        here.join("sub").display().to_string(),
        "Howdy Marvin".to_string(),
    ] {
        assert!(lines.contains(&want), "{want} in {lines:#?}");
    }

    // a relative flow file is found in the runner's working_dir, as an engine process would
    std::fs::write(work.path().join("local.sh"), "echo from the working dir\n").unwrap();
    let body = serde_json::json!({
        "name": "local", "flow_name": "local",
        "flow_data": {"encoding": "file", "blob": "local.sh"},
        "flow_runner": {"type": "subprocess", "config": {
            "working_dir": work.path().to_str().unwrap(),
        }},
    });
    let spec: DeploymentCreate = serde_json::from_value(body).unwrap();
    let local = client.create_deployment(&spec).await.unwrap().0.id;
    let r = run(&client, local, serde_json::json!({})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    assert!(logs(&client, r.id)
        .await
        .contains(&"from the working dir".to_string()));

    let r = run(&client, lost, serde_json::json!({})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Failed);
    assert!(
        done.state
            .message
            .unwrap_or_default()
            .contains("working_dir '/no/such/folder' is not a folder"),
        "failed at submission"
    );

    // cancelled from outside; the flow is the agent's child, there is no engine process
    let r = run(&client, long, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    let engines = std::process::Command::new("pgrep")
        .args(["-f", &format!("engine run {}", r.id)])
        .output()
        .unwrap();
    assert!(!engines.status.success(), "no engine process");
    cancel_with_cli(&server, r.id);
    let done = finished(&client, r.id, 20).await;
    assert_eq!(done.state.kind, StateType::Cancelled, "{:?}", done.state);

    // shut down with a run in flight: cancelled after the grace period, and the agent exits
    let r = run(&client, long, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    assert!(agent.terminate(), "the agent stopped cleanly");
    let done = client.read_flow_run(r.id).await.unwrap();
    assert_eq!(done.state.kind, StateType::Cancelled, "{:?}", done.state);
}

/// An agent running engines inside itself dies (`kill -9`): its flow guard stops the flow's
/// whole process group (nobody would report for it), and the reaper marks the run Crashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_agent_agent_that_dies_takes_its_flows_along() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        home.path(),
        &["--port", "0", "--run-heartbeat-timeout", "2"],
    );
    let client = RigelClient::new(&server.api_url);
    let pid_file = home.path().join("flow.pid");
    // the script's `sleep` is a process of the flow's group too
    let script = format!("#!/bin/sh\necho $$ > '{}'\nsleep 60\n", pid_file.display());
    let d = deploy(&client, "orphan", &script, None).await;
    let mut agent = AgentProcess::start(&server, "default", &["--engine", "in-agent"]);
    let r = run(&client, d, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    let pgid: u32 = eventually(10, "the flow's pid", || async {
        std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    })
    .await;
    let group_alive = || {
        std::process::Command::new("kill")
            .args(["-0", "--", &format!("-{pgid}")])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(group_alive());
    agent.child.kill().unwrap();
    let _ = agent.child.wait();
    let stopped = eventually(15, "the flow's group to be stopped", || async {
        (!group_alive()).then_some(())
    })
    .await;
    // (if it was not, clean up before failing)
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(std::process::Stdio::null())
        .status();
    let () = stopped;
    let done = finished(&client, r.id, 30).await;
    assert_crashed_by_the_reaper(&done);
}

/// An engine process reads its claim (run and deployment) from standard input when its agent
/// says so — the flow code it runs is the claim's — and a claim it cannot use (unreadable, or
/// another run's) is not fatal: it reads the run and deployment from the server instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_uses_its_claim_from_stdin_and_falls_back_when_it_is_unusable() {
    use std::io::Write;
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let d = deploy(&client, "plain", "echo from the server", None).await;
    let queue = client
        .create_work_queue(&rigel_common::work_queue::WorkQueueCreate {
            name: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let agent = client
        .register_agent(&rigel_common::agent::AgentCreate {
            name: "by-hand".into(),
            work_queue_name: "default".into(),
            hostname: None,
            pid: None,
            version: None,
        })
        .await
        .unwrap();
    for _ in 0..3 {
        run(&client, d, serde_json::json!({})).await;
    }
    let claimed = client
        .claim_runs(
            queue.id,
            &rigel_common::work_queue::ClaimRequest {
                agent_id: agent.id,
                limit: 3,
                prefetch_seconds: 0.0,
                wait_seconds: 0.0,
            },
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    // a claim whose deployment says something else: what runs shows which one was used
    let mut own = claimed[0].clone();
    own.deployment.as_mut().unwrap().flow_data.blob = "echo from the claim".into();
    let cases = [
        (
            &claimed[0],
            serde_json::to_vec(&own).unwrap(),
            "from the claim",
        ),
        (&claimed[1], b"not a claim".to_vec(), "from the server"),
        (
            &claimed[2],
            serde_json::to_vec(&claimed[1]).unwrap(),
            "from the server",
        ),
    ];
    for (claim, input, said) in cases {
        let mut engine = std::process::Command::new(support::rigel_bin())
            .args(["engine", "run", &claim.flow_run.id.to_string()])
            .env("RIGEL_API_URL", &server.api_url)
            .env("RIGEL_HOME", home.path())
            .env("RIGEL_CLAIM_TOKEN", claim.claim_token.to_string())
            .env("RIGEL_ENGINE_CLAIM_ON_STDIN", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        engine.stdin.take().unwrap().write_all(&input).unwrap();
        let out = engine.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert_eq!(
            err.contains("reading the run instead"),
            said == "from the server",
            "{err}"
        );
        let done = finished(&client, claim.flow_run.id, 30).await;
        assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
        let lines = logs(&client, done.id).await;
        assert!(lines.contains(&said.to_string()), "{said}: {lines:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_share_one_log_shipper_and_a_refused_run_costs_only_its_own_lines() {
    use rigel_agent::logs::LogShipper;
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let d = deploy(&client, "quiet", "#!/bin/sh\ntrue\n", None).await;
    let (a, b, gone, silent) = (
        run(&client, d, serde_json::json!({})).await.id,
        run(&client, d, serde_json::json!({})).await.id,
        run(&client, d, serde_json::json!({})).await.id,
        run(&client, d, serde_json::json!({})).await.id,
    );
    client.delete_flow_run(gone).await.unwrap();
    let shipper = LogShipper::start(client.clone());
    let (la, lb, lgone) = (
        shipper.logger(a, false),
        shipper.logger(b, false),
        shipper.logger(gone, false),
    );
    // interleaved, so the server sees them in shared requests; the deleted run's are refused
    for i in 0..3 {
        la.info(&format!("a{i}")).await;
        lgone.info(&format!("gone{i}")).await;
        lb.info(&format!("b{i}")).await;
    }
    // a flush answers once the lines are stored: they are readable at once, with no waiting
    la.flush(Duration::from_secs(30)).await;
    assert_eq!(logs(&client, a).await, ["a0", "a1", "a2"]);
    lb.flush(Duration::from_secs(30)).await;
    assert_eq!(logs(&client, b).await, ["b0", "b1", "b2"]);
    // a logger that sent nothing is flushed at once, and the shipper still works after a refusal
    let quiet = tokio::time::timeout(
        Duration::from_secs(10),
        shipper.logger(silent, false).flush(Duration::from_secs(60)),
    )
    .await;
    assert!(quiet.is_ok(), "an empty flush waited");
    la.info("a3").await;
    la.flush(Duration::from_secs(30)).await;
    assert_eq!(logs(&client, a).await, ["a0", "a1", "a2", "a3"]);
}

/// Chatty runs side by side inside one agent share its log shipper (requests of up to 1,000
/// records mixing runs): every line of every run arrives, in order, before the run is Completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatty_runs_in_one_agent_lose_no_line() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let d = deploy(
        &client,
        "chatty",
        "#!/bin/sh
i=0
while [ $i -lt 2500 ]; do echo \"line $i\"; i=$((i+1)); done\n",
        None,
    )
    .await;
    let _agent = AgentProcess::start(&server, "default", &["--engine", "in-agent"]);
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(run(&client, d, serde_json::json!({})).await.id);
    }
    let want: Vec<String> = (0..2500).map(|i| format!("line {i}")).collect();
    for id in runs {
        let done = finished(&client, id, 60).await;
        assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
        // read right after the final state: the engine flushed its lines before reporting it
        let lines: Vec<String> = all_logs(&client, id)
            .await
            .into_iter()
            .filter(|l| l.starts_with("line "))
            .collect();
        assert_eq!(lines.len(), want.len(), "run {id}");
        assert!(lines == want, "run {id}: lines out of order");
    }
}
