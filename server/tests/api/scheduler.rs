//! The scheduler, rescheduling on deployment changes, late runs and backfills, driven by a
//! manual clock (no sleeping).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rigel_common::backfill::BackfillRequest;
use rigel_common::client::RigelClient;
use rigel_server::clock::ManualClock;
use rigel_server::services::late_runs::mark_late_once;
use rigel_server::services::scheduler::schedule_once;
use rigel_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::flow_runs::set_state;
use crate::{assert_error, TestApp};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn app_at(start: &str) -> (TestApp, ManualClock) {
    app_with(start, |_| {}).await
}

async fn app_with(start: &str, tweak: impl FnOnce(&mut ServerConfig)) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(at(start));
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| {
        cfg.clock = Arc::new(c);
        tweak(cfg);
    })
    .await;
    (app, clock)
}

fn body(name: &str, schedule: Value) -> Value {
    let mut b = TestApp::deployment_body("etl", name);
    b["schedule"] = schedule;
    b["parameters"] = json!({"n": 1});
    b["tags"] = json!(["nightly"]);
    b
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// One row per run of the deployment, by time.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct Run {
    id: Uuid,
    next_scheduled_start_time: i64,
    state_type: String,
    state_name: String,
    auto_scheduled: bool,
}

impl Run {
    fn time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.next_scheduled_start_time).unwrap()
    }
}

async fn runs(app: &TestApp, deployment: Uuid) -> Vec<Run> {
    sqlx::query_as(
        "SELECT id, next_scheduled_start_time, state_type, state_name, auto_scheduled
         FROM flow_run WHERE deployment_id = ? ORDER BY next_scheduled_start_time, id",
    )
    .bind(deployment)
    .fetch_all(&app.state.db.read)
    .await
    .unwrap()
}

fn times(runs: &[Run]) -> Vec<DateTime<Utc>> {
    runs.iter().map(Run::time).collect()
}

fn ats(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| at(s)).collect()
}

async fn duplicates(state: &AppState) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT 1 FROM flow_run WHERE deployment_id IS NOT NULL
         GROUP BY deployment_id, next_scheduled_start_time HAVING COUNT(*) > 1)",
    )
    .fetch_one(&state.db.read)
    .await
    .unwrap();
    n
}

/// Makes a deployment active behind the API's back, so only the scheduler materialises it.
async fn activate_silently(app: &TestApp, deployment: Uuid) {
    sqlx::query("UPDATE deployment SET is_schedule_active = 1 WHERE id = ?")
        .bind(deployment)
        .execute(&app.state.db.write)
        .await
        .unwrap();
}

async fn paused(app: &TestApp, name: &str, schedule: Value) -> Uuid {
    let mut b = body(name, schedule);
    b["is_schedule_active"] = json!(false);
    id(&app.create_deployment(b).await)
}

#[tokio::test]
async fn each_kind_gets_three_runs_and_an_hour_at_once_and_from_the_scheduler() {
    let (app, clock) = app_at("2026-01-01T00:00:00Z").await;
    let hourly = id(&app
        .create_deployment(body("hourly", json!({"interval": 3600})))
        .await);
    let cron = id(&app
        .create_deployment(body("cron", json!({"cron": "*/10 * * * *"})))
        .await);
    let rrule = id(&app
        .create_deployment(body(
            "rrule",
            json!({"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"}),
        ))
        .await);
    let want_hourly = ats(&[
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
        "2026-01-01T03:00:00Z",
    ]);
    let want_cron = ats(&[
        "2026-01-01T00:10:00Z",
        "2026-01-01T00:20:00Z",
        "2026-01-01T00:30:00Z",
        "2026-01-01T00:40:00Z",
        "2026-01-01T00:50:00Z",
        "2026-01-01T01:00:00Z",
    ]);
    let want_rrule = ats(&[
        "2026-01-01T09:00:00Z",
        "2026-01-02T09:00:00Z",
        "2026-01-03T09:00:00Z",
    ]);
    // created with the deployment, before the answer
    assert_eq!(times(&runs(&app, hourly).await), want_hourly);
    assert_eq!(times(&runs(&app, cron).await), want_cron);
    assert_eq!(times(&runs(&app, rrule).await), want_rrule);

    let r = &runs(&app, hourly).await[0];
    assert!(r.auto_scheduled && r.state_type == "SCHEDULED" && r.state_name == "Scheduled");
    let (_, run) = app.get(&format!("/api/flow_runs/{}", r.id)).await;
    assert_eq!(run["parameters"], json!({"n": 1}));
    assert_eq!(run["tags"], json!(["nightly"]));
    assert_eq!(run["flow_runner"]["type"], "universal");
    assert_eq!(run["expected_start_time"], "2026-01-01T01:00:00Z");
    assert_eq!(
        run["idempotency_key"],
        format!("scheduled {hourly} 2026-01-01T01:00:00Z")
    );
    let (_, states) = app.get(&format!("/api/flow_runs/{}/states", r.id)).await;
    assert_eq!(states.as_array().unwrap().len(), 1, "{states}");
    assert_eq!(states[0]["name"], "Scheduled");
    assert_eq!(states[0]["scheduled_time"], "2026-01-01T01:00:00Z");

    // the scheduler makes the same runs from nothing
    sqlx::query("DELETE FROM flow_run")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(stats.runs_created, 12);
    assert_eq!(stats.deployments_failed, 0);
    assert_eq!(times(&runs(&app, hourly).await), want_hourly);
    assert_eq!(times(&runs(&app, cron).await), want_cron);
    assert_eq!(times(&runs(&app, rrule).await), want_rrule);
    assert_eq!(schedule_once(&app.state).await.unwrap().runs_created, 0);

    // time moves on: the horizon follows, continuing after the latest run
    clock.set(at("2026-01-01T02:00:00Z"));
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(
        times(&runs(&app, hourly).await)[3..],
        ats(&["2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z"])
    );
    let cron_times = times(&runs(&app, cron).await);
    // from now on (the hour in between has passed: never created after the fact)
    assert_eq!(cron_times.len(), 6 + 6);
    assert_eq!(cron_times[6], at("2026-01-01T02:10:00Z"));
    assert_eq!(cron_times.last(), Some(&at("2026-01-01T03:00:00Z")));
    assert_eq!(times(&runs(&app, rrule).await), want_rrule, "still 3 ahead");
    assert_eq!(stats.runs_created, 2 + 6);
    assert_eq!(duplicates(&app.state).await, 0);
}

#[tokio::test]
async fn daylight_saving_zones_end_to_end() {
    // New York springs forward on 2026-03-08 at 02:00: the 02:30 run happens at 03:00 EDT
    let (app, _clock) = app_at("2026-03-07T12:00:00Z").await;
    let ny = id(&app
        .create_deployment(body(
            "ny",
            json!({"cron": "30 2 * * *", "timezone": "America/New_York"}),
        ))
        .await);
    assert_eq!(
        times(&runs(&app, ny).await),
        ats(&[
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z",
        ])
    );
    // London springs forward on 2026-03-29: a daily interval keeps local midnight
    let (app, _clock) = app_at("2026-03-28T12:00:00Z").await;
    let london = id(&app
        .create_deployment(body(
            "london",
            json!({"interval": 86400, "timezone": "Europe/London"}),
        ))
        .await);
    assert_eq!(
        times(&runs(&app, london).await),
        ats(&[
            "2026-03-29T00:00:00Z",
            "2026-03-29T23:00:00Z",
            "2026-03-30T23:00:00Z",
        ])
    );
    // and the scheduler computes the same
    sqlx::query("DELETE FROM flow_run")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    schedule_once(&app.state).await.unwrap();
    assert_eq!(
        times(&runs(&app, london).await),
        ats(&[
            "2026-03-29T00:00:00Z",
            "2026-03-29T23:00:00Z",
            "2026-03-30T23:00:00Z",
        ])
    );
}

#[tokio::test]
async fn repeated_and_concurrent_passes_create_each_run_once() {
    // small pages and transactions, so the passes interleave across many of them
    let (app, clock) = app_with("2026-01-01T00:00:00Z", |c| {
        c.scheduler.page_size = 3;
        c.scheduler.runs_per_transaction = 10;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let schedule = match i % 3 {
            0 => json!({"interval": 600}),
            1 => json!({"cron": "*/15 * * * *"}),
            _ => json!({"rrule": "FREQ=MINUTELY;INTERVAL=20"}),
        };
        ids.push(paused(&app, &format!("d{i}"), schedule).await);
    }
    for d in &ids {
        activate_silently(&app, *d).await;
    }
    let (a, b) = tokio::join!(schedule_once(&app.state), schedule_once(&app.state));
    let created = a.unwrap().runs_created + b.unwrap().runs_created;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flow_run")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(created, total as u64);
    // 6 (every 10 min), 4 (every 15 min), 3 (every 20 min) each
    assert_eq!(total, 4 * 6 + 3 * 4 + 3 * 3);
    assert_eq!(duplicates(&app.state).await, 0);
    for _ in 0..3 {
        assert_eq!(schedule_once(&app.state).await.unwrap().runs_created, 0);
    }
    for _ in 0..5 {
        clock.advance(chrono::Duration::minutes(7));
        let (a, b, c) = tokio::join!(
            schedule_once(&app.state),
            schedule_once(&app.state),
            schedule_once(&app.state)
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
    }
    assert_eq!(duplicates(&app.state).await, 0);
    for d in &ids {
        let rs = runs(&app, *d).await;
        let last = rs.last().unwrap().time();
        assert!(last >= at("2026-01-01T01:35:00Z"), "{d}: {last}");
    }
}

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

#[tokio::test]
async fn backfill_creates_a_window_once() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = paused(&app, "d", json!({"cron": "0 * * * *"})).await;
    let path = format!("/api/deployments/{d}/schedule");
    let window = json!({"start_time": "2025-12-31T20:00:00Z", "end_time": "2025-12-31T23:00:00Z"});
    let (s, r) = app.post(&path, window.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let got: Vec<&str> = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["next_scheduled_start_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "2025-12-31T20:00:00Z",
            "2025-12-31T21:00:00Z",
            "2025-12-31T22:00:00Z",
            "2025-12-31T23:00:00Z"
        ]
    );
    assert_eq!(r["existing"], 0);
    assert_eq!(r["runs"][0]["auto_scheduled"], true);
    assert_eq!(r["runs"][0]["state"]["name"], "Scheduled");
    assert_eq!(r["runs"][0]["parameters"], json!({"n": 1}));
    assert!(r.get("next_time").is_none(), "{r}");
    let (s, again) = app.post(&path, window).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["runs"], json!([]));
    assert_eq!(again["existing"], 4);
    // overlapping and cut short by max_runs: says where to continue
    let (s, r) = app
        .post(
            &path,
            json!({"start_time": "2025-12-31T22:00:00Z", "end_time": "2026-01-01T03:00:00Z",
                "max_runs": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["existing"], 2);
    assert_eq!(r["runs"].as_array().unwrap().len(), 1);
    assert_eq!(
        r["runs"][0]["next_scheduled_start_time"],
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(r["next_time"], "2026-01-01T01:00:00Z");
    assert_eq!(runs(&app, d).await.len(), 5);
    // the scheduler, once resumed, does not repeat backfilled times
    app.post(
        &format!("/api/deployments/{d}/set_schedule_active"),
        json!({}),
    )
    .await;
    let (s, r) = app
        .post(
            &path,
            json!({"start_time": "2026-01-01T00:30:00Z", "end_time": "2026-01-01T05:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["existing"], 3, "01:00-03:00 came from the schedule");
    assert_eq!(r["runs"].as_array().unwrap().len(), 2);
    assert_eq!(duplicates(&app.state).await, 0);
}

#[tokio::test]
async fn backfill_input_errors() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = paused(&app, "d", json!({"cron": "0 * * * *"})).await;
    let path = format!("/api/deployments/{d}/schedule");
    for (body, field) in [
        (
            json!({"start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "end_time",
        ),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "end_time",
        ),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z",
                "max_runs": 0}),
            "max_runs",
        ),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z",
                "max_runs": 1001}),
            "max_runs",
        ),
        (
            json!({"start_time": "yesterday", "end_time": "2026-01-02T00:00:00Z"}),
            "start_time",
        ),
        (json!({"start_time": "2026-01-01T00:00:00Z"}), ""),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z",
                "limit": 3}),
            "limit",
        ),
    ] {
        let (s, e) = app.post(&path, body.clone()).await;
        let got = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
        if !field.is_empty() {
            assert_eq!(got, field, "{body}: {e}");
        }
    }
    let ok = json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"});
    let (s, e) = app
        .post(
            &format!("/api/deployments/{}/schedule", Uuid::now_v7()),
            ok.clone(),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let plain = id(&app
        .create_deployment(TestApp::deployment_body("etl", "unscheduled"))
        .await);
    let (s, e) = app
        .post(&format!("/api/deployments/{plain}/schedule"), ok)
        .await;
    assert_error(s, &e, StatusCode::CONFLICT, "conflict");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no schedule"),
        "{e}"
    );
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

#[tokio::test]
async fn a_corrupt_schedule_does_not_stop_the_others() {
    let (app, _clock) = app_with("2026-01-01T00:00:00Z", |c| c.scheduler.page_size = 2).await;
    let bad_json = paused(&app, "a-bad-json", json!({"interval": 3600})).await;
    let bad_zone = paused(&app, "b-bad-zone", json!({"interval": 3600})).await;
    let bad_runner = paused(&app, "c-bad-runner", json!({"interval": 3600})).await;
    let good = paused(&app, "d-good", json!({"interval": 3600})).await;
    for (d, column, value) in [
        (bad_json, "schedule", r#"{"interval": "#),
        (
            bad_zone,
            "schedule",
            r#"{"cron": "* * * * *", "timezone": "Mars/Olympus_Mons"}"#,
        ),
        (bad_runner, "flow_runner", "[1, 2"),
    ] {
        sqlx::query(&format!("UPDATE deployment SET {column} = ? WHERE id = ?"))
            .bind(value)
            .bind(d)
            .execute(&app.state.db.write)
            .await
            .unwrap();
    }
    for d in [bad_json, bad_zone, bad_runner, good] {
        activate_silently(&app, d).await;
    }
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(
        stats.deployments_failed, 6,
        "three, in both sweeps: {stats:?}"
    );
    assert_eq!(runs(&app, good).await.len(), 3);
    for d in [bad_json, bad_zone, bad_runner] {
        assert!(runs(&app, d).await.is_empty());
    }
}

#[tokio::test]
async fn a_schedule_changed_during_a_pass_is_not_overwritten() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = paused(&app, "d", json!({"interval": 3600})).await;
    activate_silently(&app, d).await;
    // read as the scheduler would, then change the schedule before writing
    let horizon =
        rigel_server::services::plan::Horizon::new(app.state.now(), &app.state.config.scheduler);
    let page = rigel_server::db::schedules::short_deployments(
        &app.state.db,
        rigel_server::db::schedules::Shortage::BelowHorizon,
        Uuid::nil(),
        &horizon,
        10,
    )
    .await
    .unwrap();
    assert_eq!(page.len(), 1);
    app.patch(
        &format!("/api/deployments/{d}"),
        json!({"schedule": {"interval": 1800}}),
    )
    .await;
    let planned = rigel_server::db::schedules::Planned {
        template: page[0].template().unwrap(),
        schedule: page[0].schedule.clone(),
        times: vec![at("2026-01-01T05:00:00Z")],
    };
    let written =
        rigel_server::db::schedules::write_planned(&app.state.db, &[planned], app.state.now())
            .await
            .unwrap();
    assert_eq!((written.runs, written.changed), (0, 1));
    assert_eq!(
        times(&runs(&app, d).await),
        ats(&[
            "2026-01-01T00:30:00Z",
            "2026-01-01T01:00:00Z",
            "2026-01-01T01:30:00Z",
        ])
    );
}

#[tokio::test]
async fn the_server_runs_the_services_and_stops_them_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(format!("sqlite://{}", dir.path().join("s.db").display()));
    config.scheduler.interval = Duration::from_millis(20);
    config.late_runs.interval = Duration::from_millis(20);
    let state = AppState::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rigel_server::serve_state(state.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = RigelClient::new(format!("http://{addr}/api"));
    let mut spec: rigel_common::deployment::DeploymentCreate =
        serde_json::from_value(body("d", json!({"interval": 60}))).unwrap();
    spec.is_schedule_active = Some(false);
    let (d, _) = client.create_deployment(&spec).await.unwrap();
    // backfill through the typed client, while paused
    let now = Utc::now();
    let r = client
        .backfill_deployment(
            d.id,
            &BackfillRequest::new(now - chrono::Duration::minutes(10), now),
        )
        .await
        .unwrap();
    let backfilled = r.runs.len() as i64;
    assert!((10..=11).contains(&backfilled), "{backfilled}");
    // activated behind the API's back: only the running scheduler can materialise it
    sqlx::query("UPDATE deployment SET is_schedule_active = 1 WHERE id = ?")
        .bind(d.id)
        .execute(&state.db.write)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (future,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM flow_run WHERE state_name = 'Scheduled'
             AND next_scheduled_start_time > ?",
        )
        .bind(Utc::now().timestamp_micros())
        .fetch_one(&state.db.read)
        .await
        .unwrap();
        let (late,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM flow_run WHERE state_name = 'Late'")
                .fetch_one(&state.db.read)
                .await
                .unwrap();
        // all but the most recent backfilled run are more than 15 s overdue by now, or soon
        if future >= 60 && late >= backfilled - 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "services did not run: {future} future, {late} late"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = std::time::Instant::now();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(2));
}
