//! Which queue an agent takes runs from: given by id (never a new queue named after it), and
//! found again by name after it was deleted and created anew.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use rigel_common::agent::AgentFilter;
use rigel_common::work_queue::{QueueFilter, WorkQueueCreate, WorkQueueFilter};

use super::*;

/// An agent on `queue` whose log lines (stderr) the test reads.
fn watched_agent(server: &ServerProcess, queue: &str) -> (AgentProcess, mpsc::Receiver<String>) {
    let mut child = AgentProcess::command(
        server,
        queue,
        &["--heartbeat-seconds", "1", "--grace-seconds", "1"],
    )
    .env("RIGEL_LOG", "info")
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (AgentProcess { child }, rx)
}

/// Waits (at most `secs`) for a line of the agent's log containing `text`.
fn agent_says(lines: &mpsc::Receiver<String>, text: &str, secs: u64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(text) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("the agent did not say '{text}' within {secs}s; it said {seen:#?}"),
        }
    }
}

async fn queue_names(client: &RigelClient) -> Vec<String> {
    let mut names: Vec<String> = client
        .filter_work_queues(&WorkQueueFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .collect();
    names.sort();
    names
}

/// An id that no queue has stops the agent with exit code 3 and says so; no queue is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_queue_id_is_an_error_not_a_new_queue() {
    let (_home, server, client) = start_server(&[]);
    let before = queue_names(&client).await;
    let id = Uuid::now_v7();
    let mut child = AgentProcess::command(&server, &id.to_string(), &[])
        .stderr(Stdio::piped())
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
            panic!("the agent kept running on a queue id that no queue has");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("no work queue has id {id}")),
        "{stderr}"
    );
    assert_eq!(queue_names(&client).await, before);
}

/// Started with an existing queue's id, the agent takes that queue's runs (and only those: the
/// queue's filter holds) and registers with the queue's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_started_with_a_queue_id_takes_that_queues_runs() {
    let (_home, server, client) = start_server(&[]);
    let ops = client
        .create_work_queue(&WorkQueueCreate {
            name: "ops".into(),
            filter: QueueFilter {
                tags: vec!["ops".into()],
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let d = deploy(&client, "hello", "#!/bin/sh\necho hello\n", None).await;
    // created first, so an agent offered it would take it first
    let untagged = run(&client, d, serde_json::json!({})).await;
    let body = DeploymentRunCreate {
        tags: vec!["ops".into()],
        ..Default::default()
    };
    let tagged = client.create_deployment_run(d, &body).await.unwrap().0;
    let (_agent, lines) = watched_agent(&server, &ops.id.to_string());
    let done = finished(&client, tagged.id, 30).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    assert_eq!(done.work_queue_id, Some(ops.id));
    let untouched = client.read_flow_run(untagged.id).await.unwrap();
    assert_eq!(
        untouched.state.kind,
        StateType::Scheduled,
        "{:?}",
        untouched.state
    );
    assert_eq!(queue_names(&client).await, ["ops"]);
    let agents = client.filter_agents(&AgentFilter::default()).await.unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].work_queue_name, "ops");
    let line = agent_says(&lines, "taking runs from the work queue", 5);
    assert!(line.contains("queue=ops"), "{line}");
}

/// The agent's queue is deleted: it says so and waits (without creating the queue again);
/// once a queue of that name exists again, it takes that queue's runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_queue_is_deleted_takes_runs_from_its_successor() {
    let (_home, server, client) = start_server(&[]);
    let d = deploy(&client, "hello", "#!/bin/sh\necho hello\n", None).await;
    let (_agent, lines) = watched_agent(&server, "q");
    let line = agent_says(&lines, "taking runs from the work queue", 30);
    assert!(line.contains("queue=q "), "{line}");
    let first = run(&client, d, serde_json::json!({})).await;
    let done = finished(&client, first.id, 30).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);

    server.cli_ok(&["work-queue", "delete", "q", "-y"]);
    let line = agent_says(&lines, "was deleted", 30);
    assert!(
        line.contains("waiting for a work queue of that name") && line.contains("queue=q "),
        "{line}"
    );
    // deleting it was the operator's decision: the agent does not undo it
    let missing = client.read_work_queue_by_name("q").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");

    server.cli_ok(&["work-queue", "create", "q"]);
    let again = client.read_work_queue_by_name("q").await.unwrap();
    let second = run(&client, d, serde_json::json!({})).await;
    let done = finished(&client, second.id, 60).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    assert_eq!(done.work_queue_id, Some(again.id));
    agent_says(&lines, "exists again", 5);
}
