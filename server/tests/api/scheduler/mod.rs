//! The scheduler, rescheduling on deployment changes, late runs and backfills, driven by a
//! manual clock (no sleeping).

mod backfill;
mod budget;
mod changes;
mod late_runs;
mod parameters;
mod passes;
mod services;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_server::clock::ManualClock;
use rigel_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::TestApp;

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

async fn paused(app: &TestApp, name: &str, schedule: Value) -> Uuid {
    let mut b = body(name, schedule);
    b["is_schedule_active"] = json!(false);
    id(&app.create_deployment(b).await)
}
