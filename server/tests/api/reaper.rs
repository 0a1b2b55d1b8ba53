//! The zombie reaper, driven by an injected clock.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Duration;
use rigel_server::clock::ManualClock;
use rigel_server::services::reaper::reap_once;
use serde_json::{json, Value};

use crate::flow_runs::{deployment, run_of, set_state};
use crate::TestApp;

async fn app() -> (TestApp, ManualClock) {
    let clock = ManualClock::new("2026-06-01T12:00:00Z".parse().unwrap());
    let app = TestApp::with_config(|c| {
        c.clock = Arc::new(clock.clone());
        c.reaper.run_heartbeat_timeout = std::time::Duration::from_secs(30);
    })
    .await;
    (app, clock)
}

async fn register_agent(app: &TestApp) -> String {
    let (s, a) = app
        .post(
            "/api/agents/",
            json!({"name": "a", "work_queue_name": "default"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a["id"].as_str().unwrap().to_string()
}

/// A run claimed by `agent` through the queue, with its claim token.
async fn claimed(app: &TestApp, d: &Value, agent: &str) -> (Value, String) {
    let run = run_of(
        app,
        d,
        json!({"scheduled_start_time": "2026-06-01T11:00:00Z"}),
    )
    .await;
    let (_, q) = app.get("/api/work_queues/name/default").await;
    let (s, got) = app
        .post(
            &format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap()),
            json!({"agent_id": agent}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got[0]["flow_run"]["id"], run["id"]);
    (run, got[0]["claim_token"].as_str().unwrap().to_string())
}

/// A run an agent claimed and started (Running), with its claim token.
async fn running(app: &TestApp) -> (Value, String) {
    let d = deployment(app).await;
    app.post("/api/work_queues/", json!({"name": "default"}))
        .await;
    let agent = register_agent(app).await;
    let (run, token) = claimed(app, &d, &agent).await;
    let r = set_state(
        app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT", "{r}");
    (run, token)
}

/// Holds the writer and sends the run's heartbeat, which waits in the writer's queue until the
/// returned sender is used; the task answers the heartbeat's status and body.
async fn heartbeat_behind_a_stall(
    app: &TestApp,
    run: &Value,
    token: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<(axum::http::StatusCode, Value)>,
) {
    let release = app.stall_writer().await;
    let router = app.router.clone();
    let hb = format!("/api/flow_runs/{}/heartbeat", run["id"].as_str().unwrap());
    let body = json!({ "claim_token": token }).to_string();
    let beat = tokio::spawn(async move { TestApp::raw_on(router, "POST", &hb, body).await });
    app.until_writer_queued(1).await;
    (release, beat)
}

async fn state(app: &TestApp, run: &Value) -> Value {
    app.get(&format!("/api/flow_runs/{}", run["id"].as_str().unwrap()))
        .await
        .1["state"]
        .clone()
}

#[tokio::test]
async fn silent_running_runs_crash_and_live_ones_are_left_alone() {
    let (app, clock) = app().await;
    let d = deployment(&app).await;
    app.post("/api/work_queues/", json!({"name": "default"}))
        .await;
    let agent = register_agent(&app).await;
    let (quiet, t1) = claimed(&app, &d, &agent).await;
    let (alive, t2) = claimed(&app, &d, &agent).await;
    let (stopping, t3) = claimed(&app, &d, &agent).await;
    for (run, token) in [(&quiet, &t1), (&alive, &t2), (&stopping, &t3)] {
        let r = set_state(
            &app,
            run,
            json!({"state": {"type": "RUNNING"}, "claim_token": token}),
        )
        .await;
        assert_eq!(r["status"], "ACCEPT", "{r}");
    }
    set_state(&app, &stopping, json!({"state": {"type": "CANCELLING"}})).await;
    clock.advance(Duration::seconds(20));
    let hb = format!("/api/flow_runs/{}/heartbeat", alive["id"].as_str().unwrap());
    let (s, answer) = app.post(&hb, json!({"claim_token": t2})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(answer["claim_valid"], true);
    assert_eq!(answer["state"]["type"], "RUNNING");
    // an agent heartbeat keeps the agent online (its PENDING runs are not touched here anyway)
    app.post(&format!("/api/agents/{agent}/heartbeat"), json!({}))
        .await;
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!(
        (stats.crashed, stats.cancelled),
        (0, 0),
        "nothing is 30 s quiet yet"
    );
    clock.advance(Duration::seconds(15));
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!((stats.crashed, stats.cancelled, stats.requeued), (1, 1, 0));
    let q = state(&app, &quiet).await;
    assert_eq!(q["type"], "CRASHED");
    assert!(
        q["message"].as_str().unwrap().contains("no heartbeat"),
        "{q}"
    );
    assert_eq!(state(&app, &alive).await["type"], "RUNNING");
    assert_eq!(state(&app, &stopping).await["type"], "CANCELLED");
    // the runs' logs say why they ended, since no engine is left to say it
    let (_, logs) = app
        .post(
            "/api/logs/filter",
            json!({"logs": {"flow_run_id": {"any_": [quiet["id"], stopping["id"], alive["id"]]}}}),
        )
        .await;
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let crashed = logs
        .iter()
        .find(|l| l["flow_run_id"] == quiet["id"])
        .unwrap();
    assert_eq!(crashed["level"], 40);
    assert!(
        crashed["message"]
            .as_str()
            .unwrap()
            .starts_with("Flow run crashed: no heartbeat"),
        "{crashed}"
    );
    // the crashed run's late process can't bring it back
    let r = set_state(
        &app,
        &quiet,
        json!({"state": {"type": "COMPLETED"}, "claim_token": t1}),
    )
    .await;
    assert_eq!(r["status"], "ABORT");
}

#[tokio::test]
async fn pending_runs_of_an_offline_agent_go_back_to_the_queue() {
    let (app, clock) = app().await;
    let d = deployment(&app).await;
    app.post("/api/work_queues/", json!({"name": "default"}))
        .await;
    let gone = register_agent(&app).await;
    let (run, token) = claimed(&app, &d, &gone).await;
    clock.advance(Duration::seconds(60));
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!(stats.requeued, 0, "the agent is only stale");
    clock.advance(Duration::seconds(61));
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!(stats.requeued, 1);
    let st = state(&app, &run).await;
    assert_eq!(st["type"], "SCHEDULED");
    assert_eq!(
        st["scheduled_time"], "2026-06-01T11:00:00Z",
        "keeps its place in the queue"
    );
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ABORT", "the old claim is fenced");
    let other = register_agent(&app).await;
    let (again, _) = {
        let (_, q) = app.get("/api/work_queues/name/default").await;
        let (_, got) = app
            .post(
                &format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap()),
                json!({"agent_id": other}),
            )
            .await;
        (got[0]["flow_run"].clone(), ())
    };
    assert_eq!(again["id"], run["id"], "another agent takes it");
    assert_eq!(
        reap_once(&app.state).await.unwrap().requeued,
        0,
        "its new agent is online"
    );
}

/// A heartbeat that waited behind a slow write is stamped when it is written, so the wait does
/// not count against the run.
#[tokio::test]
async fn a_heartbeat_delayed_by_the_writer_keeps_its_run_alive() {
    let (app, clock) = app().await;
    let (run, token) = running(&app).await;
    // the writer is held by a slow job while the heartbeat arrives
    let (release, beat) = heartbeat_behind_a_stall(&app, &run, &token).await;
    // the stall lasts longer than the heartbeat timeout (30 s)
    clock.advance(Duration::seconds(40));
    release.send(()).unwrap();
    let (s, answer) = beat.await.unwrap();
    assert_eq!(s, StatusCode::OK, "{answer}");
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!(
        stats.crashed, 0,
        "the heartbeat counts from when it was written"
    );
    assert_eq!(state(&app, &run).await["type"], "RUNNING");
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_goes_back_to_the_queue_and_can_never_run_twice() {
    let (app, clock) = app().await;
    let d = deployment(&app).await;
    app.post("/api/work_queues/", json!({"name": "default"}))
        .await;
    let agent = register_agent(&app).await;
    let (held, _) = claimed(&app, &d, &agent).await;
    let (lost, lost_token) = claimed(&app, &d, &agent).await;
    let beat = |runs: Vec<&Value>| {
        let ids: Vec<&Value> = runs.iter().map(|r| &r["id"]).collect();
        json!({ "runs_in_flight": ids })
    };
    // soon after the claim, a heartbeat without the run proves nothing yet
    clock.advance(Duration::seconds(5));
    app.post(&format!("/api/agents/{agent}/heartbeat"), beat(vec![&held]))
        .await;
    assert_eq!(reap_once(&app.state).await.unwrap().lost, 0);
    // a minute later the agent, alive, still does not hold it: the answer never reached it
    clock.advance(Duration::seconds(61));
    let (s, a) = app
        .post(&format!("/api/agents/{agent}/heartbeat"), beat(vec![&held]))
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!((stats.lost, stats.requeued), (1, 0), "{stats:?}");
    assert_eq!(state(&app, &lost).await["type"], "SCHEDULED");
    assert!(state(&app, &lost).await["message"]
        .as_str()
        .unwrap()
        .contains("claim's answer was lost"));
    assert_eq!(
        state(&app, &held).await["type"],
        "PENDING",
        "listed runs stay"
    );
    // should the lost answer turn up after all, its token starts nothing
    let r = set_state(
        &app,
        &lost,
        json!({"state": {"type": "RUNNING"}, "claim_token": lost_token}),
    )
    .await;
    assert_eq!(r["status"], "ABORT", "{r}");
}

#[tokio::test]
async fn an_agent_heartbeat_delayed_by_the_writer_keeps_its_claims() {
    let (app, clock) = app().await;
    let d = deployment(&app).await;
    app.post("/api/work_queues/", json!({"name": "default"}))
        .await;
    let agent = register_agent(&app).await;
    let (run, _) = claimed(&app, &d, &agent).await;
    // a slow write holds the writer while the agent's heartbeat arrives
    let release = app.stall_writer().await;
    let router = app.router.clone();
    let hb = format!("/api/agents/{agent}/heartbeat");
    let body = json!({ "runs_in_flight": [run["id"]] }).to_string();
    let beat = tokio::spawn(async move { TestApp::raw_on(router, "POST", &hb, body).await });
    // wait until the heartbeat is queued behind the slow write, then let the stall outlast the
    // time after which an agent counts as offline (120 s)
    app.until_writer_queued(1).await;
    clock.advance(Duration::seconds(200));
    release.send(()).unwrap();
    let (s, a) = beat.await.unwrap();
    assert_eq!(s, StatusCode::OK, "{a}");
    let stats = reap_once(&app.state).await.unwrap();
    assert_eq!(
        stats.requeued, 0,
        "the heartbeat counts from when it was written"
    );
    assert_eq!(state(&app, &run).await["type"], "PENDING");
}

/// A pass that starts while heartbeats wait behind a slow write judges runs only once they are
/// written: the writer falling behind can't make a live run look silent.
#[tokio::test]
async fn a_pass_waits_for_the_heartbeats_queued_before_it() {
    let (app, clock) = app().await;
    let (run, token) = running(&app).await;
    let (release, beat) = heartbeat_behind_a_stall(&app, &run, &token).await;
    // the writer falls behind by more than the heartbeat timeout (30 s)
    clock.advance(Duration::seconds(40));
    let app_state = app.state.clone();
    let pass = tokio::spawn(async move { reap_once(&app_state).await });
    // the pass waits behind it in the writer's queue
    app.until_writer_queued(2).await;
    release.send(()).unwrap();
    let stats = pass.await.unwrap().unwrap();
    assert_eq!(
        stats.crashed, 0,
        "the pass judged the run before its queued heartbeat was written"
    );
    let (s, answer) = beat.await.unwrap();
    assert_eq!(s, StatusCode::OK, "{answer}");
    assert_eq!(state(&app, &run).await["type"], "RUNNING");
}
