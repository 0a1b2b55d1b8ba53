//! `GET /api/flow_runs/{id}/work_queues`: which queues offer a run, and whether an agent polls
//! them — what `rigel deployment run` warns from.

use std::sync::Arc;

use axum::http::StatusCode;
use rigel_server::clock::ManualClock;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::flow_runs::{deployment, run_of};
use crate::work_queues::{agent, claim, queue};
use crate::{assert_error, TestApp};

async fn offers(app: &TestApp, run: &Value) -> Vec<(String, String)> {
    let path = format!("/api/flow_runs/{}/work_queues", run["id"].as_str().unwrap());
    let (s, list) = app.get(&path).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["work_queue"]["name"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

#[tokio::test]
async fn the_queues_whose_filter_matches_the_run_with_their_health() {
    let clock = ManualClock::new("2026-06-01T12:00:00Z".parse().unwrap());
    let app = TestApp::with_config(|c| c.clock = Arc::new(clock.clone())).await;
    let d = deployment(&app).await; // tagged "earth", universal runner
    let run = run_of(&app, &d, json!({"tags": ["adhoc"]})).await;
    assert_eq!(offers(&app, &run).await, pairs(&[]), "no queue yet");

    let all = queue(&app, json!({"name": "all"})).await;
    queue(
        &app,
        json!({"name": "earth", "filter": {"tags": ["earth", "adhoc"]}}),
    )
    .await;
    queue(&app, json!({"name": "mars", "filter": {"tags": ["mars"]}})).await;
    queue(
        &app,
        json!({"name": "pinned", "filter": {"deployment_ids": [d["id"]]}}),
    )
    .await;
    queue(
        &app,
        json!({"name": "other-deployment",
        "filter": {"deployment_ids": [Uuid::now_v7()]}}),
    )
    .await;
    queue(
        &app,
        json!({"name": "docker", "filter": {"flow_runner_types": ["docker"]}}),
    )
    .await;
    queue(&app, json!({"name": "paused", "is_paused": true})).await;
    assert_eq!(
        offers(&app, &run).await,
        pairs(&[
            ("all", "not_ready"),
            ("earth", "not_ready"),
            ("paused", "paused"),
            ("pinned", "not_ready"),
        ])
    );

    // a poll makes its queue ready for a minute
    let a = agent(&app, "all").await;
    claim(&app, &all, json!({"agent_id": a})).await;
    let ready = offers(&app, &run).await;
    assert_eq!(ready[0], ("all".to_string(), "ready".to_string()));
    // the claim took the run; the queues that offer it are the same whatever its state
    assert_eq!(ready.len(), 4);
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(offers(&app, &run).await[0].1, "not_ready");

    let (s, e) = app
        .get(&format!("/api/flow_runs/{}/work_queues", Uuid::now_v7()))
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (_, doc) = app.get("/api/openapi.json").await;
    assert!(doc["paths"]["/api/flow_runs/{id}/work_queues"]["get"].is_object());
    assert!(doc["components"]["schemas"]["QueueOffer"].is_object());
}

#[tokio::test]
async fn a_run_without_a_deployment_is_offered_by_no_queue() {
    let app = TestApp::new().await;
    queue(&app, json!({"name": "all"})).await;
    let (_, flow) = app.post("/api/flows/", json!({"name": "adhoc"})).await;
    let (s, run) = app
        .post("/api/flow_runs/", json!({"flow_id": flow["id"]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    assert_eq!(offers(&app, &run).await, pairs(&[]));
}
