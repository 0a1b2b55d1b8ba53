//! The retention service, driven by an injected clock.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Duration;
use rigel_server::clock::{Clock, ManualClock};
use rigel_server::services::retention::{retain_once, Progress};
use serde_json::{json, Value};

use crate::flow_runs::{deployment, run_of, set_state};
use crate::TestApp;

async fn log(app: &TestApp, run: &Value, n: usize, at: chrono::DateTime<chrono::Utc>) {
    let records: Vec<Value> = (0..n)
        .map(|i| json!({"flow_run_id": run["id"], "level": 20, "message": format!("line {i}"), "timestamp": at}))
        .collect();
    let (s, r) = app.post("/api/logs/", json!(records)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

async fn log_count(app: &TestApp, run: &Value) -> usize {
    let (_, page) = app
        .post(
            "/api/logs/filter",
            json!({"logs": {"flow_run_id": {"any_": [run["id"]]}}, "limit": 200}),
        )
        .await;
    page.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn old_logs_then_old_finished_runs_go_and_unfinished_runs_stay() {
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| {
        cfg.clock = Arc::new(c);
        cfg.run_services = false;
        cfg.retention.batch = 7; // several batches per pass
    })
    .await;
    let d = deployment(&app).await;
    let finished = run_of(&app, &d, json!({})).await;
    set_state(&app, &finished, json!({"state": {"type": "CANCELLED"}})).await;
    let waiting = run_of(&app, &d, json!({})).await;
    log(&app, &finished, 30, clock.now()).await;
    log(&app, &waiting, 5, clock.now()).await;
    let mut progress = Progress::default();

    clock.advance(Duration::days(29));
    let gone = retain_once(&app.state, &mut progress).await.unwrap();
    assert_eq!((gone.logs, gone.runs), (0, 0), "nothing is old enough yet");

    clock.advance(Duration::days(2));
    let gone = retain_once(&app.state, &mut progress).await.unwrap();
    assert_eq!((gone.logs, gone.runs), (30, 0));
    assert_eq!(log_count(&app, &finished).await, 0);
    assert_eq!(
        log_count(&app, &waiting).await,
        5,
        "a run not finished keeps its logs"
    );

    clock.advance(Duration::days(60));
    let gone = retain_once(&app.state, &mut progress).await.unwrap();
    assert_eq!(gone.runs, 1);
    let (s, _) = app
        .get(&format!(
            "/api/flow_runs/{}",
            finished["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .get(&format!(
            "/api/flow_runs/{}",
            waiting["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "however old, a run not finished stays");
}

#[tokio::test]
async fn runs_kept_longer_than_logs_take_their_remaining_logs_with_them() {
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| {
        cfg.clock = Arc::new(c);
        cfg.run_services = false;
        cfg.retention.logs_after = None;
        cfg.retention.runs_after = Some(std::time::Duration::from_secs(86_400));
        cfg.retention.batch = 4;
    })
    .await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    set_state(&app, &run, json!({"state": {"type": "CANCELLED"}})).await;
    log(&app, &run, 10, clock.now()).await;
    clock.advance(Duration::days(2));
    let gone = retain_once(&app.state, &mut Progress::default())
        .await
        .unwrap();
    assert_eq!((gone.logs, gone.runs), (10, 1));
}
