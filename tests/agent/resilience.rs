//! What must survive: a server restart mid-run, two agents racing for 300 runs (each runs
//! exactly once) — each with engine processes and with engines inside the agents — and an
//! agent and its engine killed (the reaper ends the run).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_a_server_restart() {
    survives_a_server_restart(&[]).await;
}

/// The same with the engine inside the agent: its last log line and final state go through the
/// agent's shared senders, whose calls fail while the server is away and are retried after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_agent_run_survives_a_server_restart() {
    survives_a_server_restart(&["--engine", "in-agent"]).await;
}

async fn survives_a_server_restart(agent_args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let mut server = ServerProcess::start_with(home.path(), &["--port", &port]);
    let client = RigelClient::new(&server.api_url);
    // the flow goes on once `go` exists, and says it ended by making `done`
    let (go, done) = (home.path().join("go"), home.path().join("done"));
    let flow = format!(
        "#!/bin/sh\necho before\nwhile [ ! -e '{}' ]; do sleep 0.05; done\necho after\ntouch '{}'\n",
        go.display(),
        done.display()
    );
    let d = deploy(&client, "steady", &flow, None).await;
    let _agent = AgentProcess::start(&server, "default", agent_args);
    let r = run(&client, d, serde_json::json!({})).await;
    in_state(&client, r.id, StateType::Running, 30).await;
    // the flow ends, and its last line and final state are sent, while the server is away
    assert!(server.terminate());
    std::fs::write(&go, "").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done.exists() {
        assert!(std::time::Instant::now() < deadline, "the flow never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    exactly_once(&["--limit", "8"]).await;
}

/// The same with engines inside the agents, whose runs' state proposals travel together
/// (`set_states`): many at once, each still decided and stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_in_agent_agents_execute_three_hundred_runs_exactly_once() {
    exactly_once(&["--limit", "32", "--engine", "in-agent"]).await;
}

/// 300 runs through two agents started with `args`: each run's side effect happens once, and
/// each run went Scheduled, Pending, Running, Completed once.
async fn exactly_once(args: &[&str]) {
    const RUNS: usize = 300;
    let (_home, server, client) = start_server(&[]);
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
    let _a = AgentProcess::start(&server, "default", &[args, &["--name", "a"]].concat());
    let _b = AgentProcess::start(&server, "default", &[args, &["--name", "b"]].concat());
    for id in &ids {
        let done = finished(&client, *id, 180).await;
        assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    }
    let text = std::fs::read_to_string(&ledger).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let unique: HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), RUNS, "each run's side effect happened once");
    assert_eq!(unique.len(), RUNS);
    let mut agents = HashSet::new();
    for id in &ids {
        agents.insert(client.read_flow_run(*id).await.unwrap().agent_id);
        let history: Vec<StateType> = client
            .flow_run_states(*id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.kind)
            .collect();
        assert_eq!(
            history,
            [
                StateType::Scheduled,
                StateType::Pending,
                StateType::Running,
                StateType::Completed
            ]
        );
    }
    assert_eq!(agents.len(), 2, "both agents took runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_crashes_a_run_whose_agent_and_engine_were_killed() {
    let (_home, server, client) = start_server(&["--run-heartbeat-timeout", "2"]);
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
