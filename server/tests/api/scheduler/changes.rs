//! Schedule changes: redeploying, replacing, pausing and resuming, and deleting the deployment.

use axum::http::StatusCode;
use rigel_server::services::late_runs::mark_late_once;
use rigel_server::services::scheduler::schedule_once;

use crate::assert_error;
use crate::flow_runs::set_state;

use super::*;

#[tokio::test]
async fn redeploying_the_same_schedule_keeps_the_runs() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let b = body("d", json!({"cron": "0 * * * *"}));
    let d = id(&app.create_deployment(b.clone()).await);
    let before = runs(&app, d).await;
    assert_eq!(before.len(), 3);
    let (s, _) = app.post("/api/deployments/", b.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(runs(&app, d).await, before, "same run ids");
    // new parameters reach the runs not yet due, which keep their ids
    let mut b2 = b.clone();
    b2["parameters"] = json!({"n": 2});
    app.post("/api/deployments/", b2).await;
    assert_eq!(runs(&app, d).await, before);
    let (_, run) = app.get(&format!("/api/flow_runs/{}", before[0].id)).await;
    assert_eq!(run["parameters"], json!({"n": 2}));
    // a PATCH that leaves the schedule alone leaves the runs alone
    app.patch(
        &format!("/api/deployments/{d}"),
        json!({"description": "x", "is_schedule_active": true}),
    )
    .await;
    assert_eq!(runs(&app, d).await, before);
}

#[tokio::test]
async fn a_new_schedule_replaces_future_runs_and_keeps_late_claimed_and_manual_ones() {
    let (app, clock) = app_at("2026-01-01T00:00:00Z").await;
    let b = body("d", json!({"interval": 3600}));
    let dv = app.create_deployment(b.clone()).await;
    let d = id(&dv);
    let (_, manual) = app
        .post(
            &format!("/api/deployments/{d}/create_flow_run"),
            json!({"scheduled_start_time": "2026-01-01T02:30:00Z"}),
        )
        .await;
    clock.set(at("2026-01-01T01:00:20Z"));
    assert_eq!(mark_late_once(&app.state).await.unwrap(), 1);
    let rs = runs(&app, d).await;
    let late = rs[0].clone();
    assert_eq!(
        (late.time(), late.state_name.as_str()),
        (at("2026-01-01T01:00:00Z"), "Late")
    );
    let claimed = rs[1].clone();
    assert_eq!(claimed.time(), at("2026-01-01T02:00:00Z"));
    set_state(
        &app,
        &json!({"id": claimed.id.to_string()}),
        json!({"state": {"type": "PENDING"}}),
    )
    .await;

    let mut b2 = b.clone();
    b2["schedule"] = json!({"cron": "*/30 * * * *"});
    let (s, _) = app.post("/api/deployments/", b2).await;
    assert_eq!(s, StatusCode::OK);
    let rs = runs(&app, d).await;
    let summary: Vec<(DateTime<Utc>, &str, bool)> = rs
        .iter()
        .map(|r| (r.time(), r.state_name.as_str(), r.auto_scheduled))
        .collect();
    assert_eq!(
        summary,
        [
            (at("2026-01-01T01:00:00Z"), "Late", true),
            (at("2026-01-01T01:30:00Z"), "Scheduled", true),
            (at("2026-01-01T02:00:00Z"), "Pending", true),
            (at("2026-01-01T02:30:00Z"), "Scheduled", false),
            (at("2026-01-01T02:30:00Z"), "Scheduled", true),
        ],
        "the 03:00 run of the old schedule is gone"
    );
    assert_eq!(rs[0].id, late.id);
    assert_eq!(rs[2].id, claimed.id);
    assert_eq!(rs[3].id.to_string(), manual["id"].as_str().unwrap());
    assert_eq!(schedule_once(&app.state).await.unwrap().runs_created, 0);
}

#[tokio::test]
async fn pausing_removes_future_runs_and_resuming_recreates_them() {
    let (app, clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = id(&app
        .create_deployment(body("d", json!({"interval": 3600})))
        .await);
    assert_eq!(runs(&app, d).await.len(), 3);
    let (s, v) = app
        .post(
            &format!("/api/deployments/{d}/set_schedule_inactive"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["is_schedule_active"], false);
    assert!(runs(&app, d).await.is_empty());
    assert_eq!(schedule_once(&app.state).await.unwrap().runs_created, 0);
    clock.set(at("2026-01-01T00:30:00Z"));
    app.post(
        &format!("/api/deployments/{d}/set_schedule_active"),
        json!({}),
    )
    .await;
    assert_eq!(
        times(&runs(&app, d).await),
        ats(&[
            "2026-01-01T01:00:00Z",
            "2026-01-01T02:00:00Z",
            "2026-01-01T03:00:00Z",
        ])
    );
    // PATCH: a new schedule at once, `schedule: null` removes the runs
    app.patch(
        &format!("/api/deployments/{d}"),
        json!({"schedule": {"interval": 7200}}),
    )
    .await;
    assert_eq!(
        times(&runs(&app, d).await),
        ats(&[
            "2026-01-01T02:00:00Z",
            "2026-01-01T04:00:00Z",
            "2026-01-01T06:00:00Z",
        ])
    );
    app.patch(&format!("/api/deployments/{d}"), json!({"schedule": null}))
        .await;
    assert!(runs(&app, d).await.is_empty());
    app.patch(
        &format!("/api/deployments/{d}"),
        json!({"is_schedule_active": false, "schedule": {"interval": 3600}}),
    )
    .await;
    assert!(runs(&app, d).await.is_empty(), "set but paused");
}

#[tokio::test]
async fn deleting_a_deployment_deletes_its_unstarted_runs_only() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = id(&app
        .create_deployment(body("d", json!({"interval": 3600})))
        .await);
    let (_, manual) = app
        .post(&format!("/api/deployments/{d}/create_flow_run"), json!({}))
        .await;
    let (_, done) = app
        .post(&format!("/api/deployments/{d}/create_flow_run"), json!({}))
        .await;
    set_state(
        &app,
        &done,
        json!({"state": {"type": "COMPLETED"}, "force": true}),
    )
    .await;
    assert_eq!(runs(&app, d).await.len(), 5);
    let (s, _) = app.delete(&format!("/api/deployments/{d}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, left) = app.post("/api/flow_runs/filter", json!({})).await;
    let left = left.as_array().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], done["id"]);
    assert_eq!(left[0]["deployment_id"], Value::Null);
    let (s, _) = app
        .get(&format!(
            "/api/flow_runs/{}",
            manual["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = app.delete(&format!("/api/deployments/{d}")).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}
