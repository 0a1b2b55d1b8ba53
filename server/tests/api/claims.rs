//! Exactly-once claiming under concurrency, over a real socket.

use std::collections::HashSet;

use rigel_common::client::RigelClient;
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::{DeploymentRunCreate, FlowRunCount, FlowRunCriteria, StateCriteria};
use rigel_common::state::StateType;
use rigel_common::work_queue::{ClaimRequest, WorkQueueCreate};
use rigel_server::{AppState, ServerConfig};
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_claimers_take_two_thousand_runs_exactly_once() {
    const RUNS: usize = 2000;
    const CLAIMERS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(ServerConfig::new(format!(
        "sqlite://{}",
        dir.path().join("claims.db").display()
    )))
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rigel_server::serve_state(state.clone(), listener, async {
        let _ = stopped.await;
    }));

    let client = RigelClient::new(&url);
    let spec = serde_json::from_value(json!({
        "name": "many", "flow_name": "f",
        "flow_data": {"encoding": "text", "blob": "true"},
    }))
    .unwrap();
    let (d, _) = client.create_deployment(&spec).await.unwrap();
    let queue = client
        .create_work_queue(&WorkQueueCreate {
            name: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    for _ in 0..RUNS {
        let body = DeploymentRunCreate {
            scheduled_start_time: Some(past),
            ..Default::default()
        };
        rigel_server::db::flow_runs::create_for_deployment(&state.db, d.id, &body, past)
            .await
            .unwrap();
    }

    let mut tasks = Vec::new();
    for i in 0..CLAIMERS {
        let client = RigelClient::new(&url);
        let agent = Uuid::now_v7();
        sqlx::query("INSERT INTO agent (id, name, work_queue_name, started, last_heartbeat) VALUES (?, ?, 'default', 0, 0)")
            .bind(agent)
            .bind(format!("agent-{i}"))
            .execute(&state.db.write)
            .await
            .unwrap();
        let queue_id = queue.id;
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let req = ClaimRequest {
                    agent_id: agent,
                    limit: 7,
                    prefetch_seconds: 0.0,
                    wait_seconds: 0.0,
                };
                let got = client.claim_runs(queue_id, &req).await.unwrap();
                if got.is_empty() {
                    break;
                }
                for c in got {
                    assert_eq!(c.flow_run.agent_id, Some(agent));
                    mine.push(c.flow_run.id);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut per_claimer = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        per_claimer.push(mine.len());
        all.extend(mine);
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        RUNS,
        "every run claimed once, none lost: {per_claimer:?}"
    );
    assert_eq!(unique.len(), RUNS, "no run claimed twice");
    assert!(
        per_claimer.iter().filter(|n| **n > 0).count() > 1,
        "claims were spread: {per_claimer:?}"
    );
    let pending = client
        .count_flow_runs(&FlowRunCount {
            flow_runs: FlowRunCriteria {
                state: Some(StateCriteria {
                    kind: Some(AnyFilter::new([StateType::Pending])),
                    name: None,
                }),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending, RUNS as u64);
    // every claim left exactly one PENDING entry in its run's history
    let (claims,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM flow_run_state WHERE type = 'PENDING'")
            .fetch_one(&state.db.read)
            .await
            .unwrap();
    assert_eq!(claims, RUNS as i64);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
