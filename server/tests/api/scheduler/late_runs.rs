//! Late runs: marking overdue, unclaimed scheduled runs `Late`, in batches.

use axum::http::StatusCode;
use rigel_server::services::late_runs::mark_late_once;

use crate::flow_runs::set_state;

use super::*;

#[tokio::test]
async fn late_marking_renames_only_overdue_unclaimed_runs() {
    let (app, clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = app
        .create_deployment(TestApp::deployment_body("etl", "manual"))
        .await;
    let run_at = |t: &'static str| {
        let path = format!(
            "/api/deployments/{}/create_flow_run",
            d["id"].as_str().unwrap()
        );
        let app = &app;
        async move {
            let (s, r) = app.post(&path, json!({"scheduled_start_time": t})).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            r
        }
    };
    let overdue = run_at("2026-01-01T00:00:00Z").await;
    let claimed = run_at("2026-01-01T00:00:00Z").await;
    let retrying = run_at("2026-01-01T00:00:00Z").await;
    let later = run_at("2026-01-01T00:01:00Z").await;
    set_state(&app, &claimed, json!({"state": {"type": "PENDING"}})).await;
    set_state(
        &app,
        &retrying,
        json!({"state": {"type": "SCHEDULED", "name": "AwaitingRetry",
            "scheduled_time": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    clock.set(at("2026-01-01T00:00:14Z"));
    assert_eq!(mark_late_once(&app.state).await.unwrap(), 0, "not yet 15 s");
    clock.set(at("2026-01-01T00:00:16Z"));
    assert_eq!(mark_late_once(&app.state).await.unwrap(), 1);
    assert_eq!(mark_late_once(&app.state).await.unwrap(), 0, "once");
    let state = |run: &Value| {
        let path = format!("/api/flow_runs/{}", run["id"].as_str().unwrap());
        let app = &app;
        async move { app.get(&path).await.1["state"].clone() }
    };
    let s = state(&overdue).await;
    assert_eq!(
        (s["type"].as_str(), s["name"].as_str()),
        (Some("SCHEDULED"), Some("Late"))
    );
    assert_eq!(s["timestamp"], "2026-01-01T00:00:16Z");
    assert_eq!(s["scheduled_time"], "2026-01-01T00:00:00Z");
    assert_eq!(state(&claimed).await["type"], "PENDING");
    assert_eq!(state(&retrying).await["name"], "AwaitingRetry");
    assert_eq!(state(&later).await["name"], "Scheduled");
    let (_, history) = app
        .get(&format!(
            "/api/flow_runs/{}/states",
            overdue["id"].as_str().unwrap()
        ))
        .await;
    let names: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Scheduled", "Late"]);
    // a Late run can still be claimed
    let r = set_state(&app, &overdue, json!({"state": {"type": "PENDING"}})).await;
    assert_eq!(r["status"], "ACCEPT", "{r}");
    // the 00:01 run becomes late in its turn
    clock.set(at("2026-01-01T00:01:16Z"));
    assert_eq!(mark_late_once(&app.state).await.unwrap(), 1);
}

#[tokio::test]
async fn late_marking_works_in_batches() {
    let (app, clock) = app_with("2026-01-01T00:00:00Z", |c| c.late_runs.batch_size = 4).await;
    let d = id(&app
        .create_deployment(body("d", json!({"interval": 60})))
        .await);
    let n = runs(&app, d).await.len() as u64;
    assert_eq!(n, 60, "00:01 to 01:00");
    clock.set(at("2026-01-01T02:00:00Z"));
    assert_eq!(mark_late_once(&app.state).await.unwrap(), n);
    assert!(runs(&app, d).await.iter().all(|r| r.state_name == "Late"));
}
