//! `--engine in-agent`: engines inside the agent, its flow guard, and its shared log shipper.

use super::*;

/// `--engine in-agent`: no engine process; the runner's env and working_dir still reach the
/// flow, tasks' relative folders are taken from it, a bad folder fails the run at submission,
/// cancelling works, and a shutdown cancels what is still running after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_inside_the_agent() {
    let (_home, server, client) = start_server(&[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("sub")).unwrap();
    let flow = "flows:\n  - name: greet\n    parameters:\n      name: {type: string, default: you}\n    tasks:\n      - name: here\n        run: pwd\n      - name: there\n        run: pwd; echo \"$GREETING $RIGEL_PARAM_NAME\"\n        working_dir: sub\n";
    let runner = serde_json::json!({"type": "subprocess", "config": {
        "env": {"GREETING": "Howdy"},
        "working_dir": work.path().to_str().unwrap(),
    }});
    let d = deploy(&client, "greet", flow, Some(runner)).await;
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
    let root = work.path().to_str().unwrap();
    let mut agent = AgentProcess::start(
        &server,
        "default",
        &["--engine", "in-agent", "--allow-local-root", root],
    );

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

    // a local flow file outside the folders the agent allows is refused, with the reason
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("outside.sh");
    std::fs::write(&outside, "echo should not run\n").unwrap();
    let body = serde_json::json!({
        "name": "outside", "flow_name": "outside",
        "flow_data": {"encoding": "file", "blob": outside.to_str().unwrap()},
    });
    let spec: DeploymentCreate = serde_json::from_value(body).unwrap();
    let outside = client.create_deployment(&spec).await.unwrap().0.id;
    let r = run(&client, outside, serde_json::json!({})).await;
    let done = finished(&client, r.id, 30).await;
    assert_eq!(done.state.kind, StateType::Failed, "{:?}", done.state);
    let why = done.state.message.unwrap_or_default();
    assert!(why.contains("--allow-local-root"), "{why}");

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
    let (home, server, client) = start_server(&["--run-heartbeat-timeout", "2"]);
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
    let _cleanup = KillGroup(pgid);
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
    eventually(15, "the flow's group to be stopped", || async {
        (!group_alive()).then_some(())
    })
    .await;
    let done = finished(&client, r.id, 30).await;
    assert_crashed_by_the_reaper(&done);
}

/// Kills a flow's process group when the test ends, however it ends.
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Chatty runs side by side inside one agent share its log shipper (requests of up to 1,000
/// records mixing runs): every line of every run arrives, in order, before the run is Completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatty_runs_in_one_agent_lose_no_line() {
    let (_home, server, client) = start_server(&[]);
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
