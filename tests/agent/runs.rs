//! Runs through an agent with engine processes: parameters and logs, retries and timeouts,
//! cancelling, crashing, runners that aren't available, schedules, odd output, refusals.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_hello_world_runs_through_an_agent() {
    let (_home, server, client) = start_server(&[]);
    server.cli_ok(&["deployment", "create", &example("three-deployments.yaml")]);
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
    let (_home, server, client) = start_server(&[]);
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
    let (_home, server, client) = start_server(&[]);
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
    // ... and says why in the run's logs too (the engine could not)
    let lines = logs(&client, r.id).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Flow run crashed: ") && l.contains("signal 9")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_flow_runners_fail_at_submission() {
    let (_home, server, client) = start_server(&[]);
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
    let lines = logs(&client, r.id).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("flow runner 'docker' is not available on this agent")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_deployment_runs_on_its_own() {
    let (_home, server, client) = start_server(&[]);
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

/// Output that is not UTF-8 is logged with replacement characters and never stops the reading
/// of the flow's output (a reader that stopped would kill the script with SIGPIPE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_that_is_not_utf8_is_logged_and_the_flow_goes_on() {
    let (_home, server, client) = start_server(&[]);
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
    let (_home, server, _client) = start_server(&[]);
    let mut child = AgentProcess::command(&server, "default", &["--name", "a/b"])
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
