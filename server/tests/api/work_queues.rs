//! Work queues: CRUD, which runs they offer, status, and atomic claiming.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rigel_server::clock::ManualClock;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::flow_runs::{deployment, run_of};
use crate::{assert_error, TestApp};

pub async fn queue(app: &TestApp, body: Value) -> Value {
    let (s, q) = app.post("/api/work_queues/", body).await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    q
}

/// Registers an agent straight in the database (the agents API has its own tests).
pub async fn agent(app: &TestApp, queue_name: &str) -> String {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO agent (id, name, work_queue_name, started, last_heartbeat) VALUES (?, 'a', ?, 0, 0)")
        .bind(id)
        .bind(queue_name)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    id.to_string()
}

pub async fn claim(app: &TestApp, q: &Value, body: Value) -> Vec<Value> {
    let (s, r) = app
        .post(
            &format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap()),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r.as_array().unwrap().clone()
}

#[tokio::test]
async fn crud() {
    let app = TestApp::new().await;
    let q = queue(
        &app,
        json!({"name": "default", "description": "d", "concurrency_limit": 3,
        "filter": {"tags": ["prod"]}}),
    )
    .await;
    assert_eq!(q["is_paused"], false);
    assert_eq!(q["concurrency_limit"], 3);
    assert_eq!(q["filter"]["tags"], json!(["prod"]));
    assert_eq!(q["last_polled"], Value::Null);
    let (s, e) = app
        .post("/api/work_queues/", json!({"name": "default"}))
        .await;
    assert_error(s, &e, StatusCode::CONFLICT, "conflict");
    let path = format!("/api/work_queues/{}", q["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.1, q);
    assert_eq!(app.get("/api/work_queues/name/default").await.1, q);
    let (_, p) = app
        .patch(&path, json!({"is_paused": true, "concurrency_limit": null}))
        .await;
    assert_eq!(p["is_paused"], true);
    assert_eq!(p["concurrency_limit"], Value::Null);
    assert_eq!(p["description"], "d");
    let (_, p) = app
        .patch(
            &path,
            json!({"concurrency_limit": 0, "description": null, "filter": {"tags": []}}),
        )
        .await;
    assert_eq!(p["concurrency_limit"], 0);
    assert_eq!(p["description"], Value::Null);
    queue(&app, json!({"name": "another"})).await;
    let (_, all) = app.post("/api/work_queues/filter", json!({})).await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["another", "default"]);
    let (_, one) = app
        .post(
            "/api/work_queues/filter",
            json!({"work_queues": {"name": {"any_": ["default"]}}}),
        )
        .await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(app.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (s, e) = app.get(&path).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app.get("/api/work_queues/name/default").await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_queue_input() {
    let app = TestApp::new().await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "a/b"}), "name"),
        (
            json!({"name": "q", "concurrency_limit": -1}),
            "concurrency_limit",
        ),
        (json!({"name": "q", "filter": {"tags": "x"}}), "filter.tags"),
        (
            json!({"name": "q", "filter": {"flow_runner_types": ["ssh"]}}),
            "filter.flow_runner_types[0]",
        ),
        (
            json!({"name": "q", "filter": {"deployment_ids": ["nope"]}}),
            "filter.deployment_ids[0]",
        ),
        (json!({"name": "q", "paused": true}), "paused"),
    ] {
        let (s, e) = app.post("/api/work_queues/", body.clone()).await;
        assert_eq!(
            assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            field,
            "{body}"
        );
    }
    let q = queue(&app, json!({"name": "q"})).await;
    let base = format!("/api/work_queues/{}", q["id"].as_str().unwrap());
    let agent = agent(&app, "q").await;
    for (body, field) in [
        (json!({"agent_id": agent, "limit": 0}), "limit"),
        (json!({"agent_id": agent, "limit": 201}), "limit"),
        (
            json!({"agent_id": agent, "wait_seconds": 31}),
            "wait_seconds",
        ),
        (
            json!({"agent_id": agent, "prefetch_seconds": -1}),
            "prefetch_seconds",
        ),
        (
            json!({"agent_id": "0190a0a0-0000-7000-8000-000000000000"}),
            "agent_id",
        ),
        (json!({}), "agent_id"),
    ] {
        let (s, e) = app.post(&format!("{base}/claim"), body.clone()).await;
        assert_eq!(
            assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            field,
            "{body}"
        );
    }
    let (s, e) = app.patch(&base, json!({"is_paused": "yes"})).await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "is_paused"
    );
    let (s, e) = app
        .post(&format!("{base}/get_runs"), json!({"limit": 0}))
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "limit"
    );
    let missing = "/api/work_queues/0190a0a0-0000-7000-8000-000000000000";
    let (s, e) = app
        .post(&format!("{missing}/claim"), json!({"agent_id": agent}))
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app.get(&format!("{missing}/status")).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn claim_takes_due_runs_oldest_first_and_only_once() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let q = queue(&app, json!({"name": "default"})).await;
    let a = agent(&app, "default").await;
    let second = run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2020-01-02T00:00:00Z"}),
    )
    .await;
    let first = run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let future = run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2099-01-01T00:00:00Z"}),
    )
    .await;
    // a run without a deployment is never offered by a queue
    app.post("/api/flow_runs/", json!({"flow_id": d["flow_id"]}))
        .await;
    let (_, preview) = app
        .post(
            &format!("/api/work_queues/{}/get_runs", q["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(preview.as_array().unwrap().len(), 2, "preview: {preview}");
    let got = claim(&app, &q, json!({"agent_id": a, "limit": 10})).await;
    let ids: Vec<&Value> = got.iter().map(|c| &c["flow_run"]["id"]).collect();
    assert_eq!(ids, [&first["id"], &second["id"]]);
    for c in &got {
        assert_eq!(c["flow_run"]["state"]["type"], "PENDING");
        assert_eq!(c["flow_run"]["agent_id"], a.as_str());
        assert_eq!(c["flow_run"]["work_queue_id"], q["id"]);
        assert!(c["claim_token"].is_string());
        // the run's deployment comes along, so its engine need not read it
        assert_eq!(c["deployment"]["id"], d["id"]);
        assert_eq!(c["deployment"]["flow_data"], d["flow_data"]);
    }
    assert!(
        claim(&app, &q, json!({"agent_id": a})).await.is_empty(),
        "nothing left that is due"
    );
    let (_, preview) = app
        .post(
            &format!("/api/work_queues/{}/get_runs", q["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(
        preview.as_array().unwrap().len(),
        0,
        "preview doesn't claim, but claimed runs are gone"
    );
    let got = claim(&app, &q, json!({"agent_id": a, "prefetch_seconds": 86400})).await;
    assert!(got.is_empty(), "2099 is beyond a day of prefetch");
    let (_, preview) = app
        .post(
            &format!("/api/work_queues/{}/get_runs", q["id"].as_str().unwrap()),
            json!({"scheduled_before": "2100-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(preview[0]["id"], future["id"]);
    let (_, q_now) = app
        .get(&format!("/api/work_queues/{}", q["id"].as_str().unwrap()))
        .await;
    assert!(q_now["last_polled"].is_string());
}

#[tokio::test]
async fn queue_filters_choose_runs() {
    let app = TestApp::new().await;
    let d = deployment(&app).await; // tags ["earth"], universal runner
    let mut other = TestApp::deployment_body("f2", "docker");
    other["flow_runner"] = json!({"type": "docker", "config": {"image": "x"}});
    let d2 = app.create_deployment(other).await;
    let r1 = run_of(&app, &d, json!({"tags": ["prod"]})).await;
    let r2 = run_of(&app, &d, json!({})).await;
    let r3 = run_of(&app, &d2, json!({"tags": ["prod"]})).await;
    let prod = queue(
        &app,
        json!({"name": "prod", "filter": {"tags": ["earth", "prod"]}}),
    )
    .await;
    let docker = queue(
        &app,
        json!({"name": "docker", "filter": {"flow_runner_types": ["docker"]}}),
    )
    .await;
    let pinned = queue(
        &app,
        json!({"name": "pinned", "filter": {"deployment_ids": [d["id"]]}}),
    )
    .await;
    let a = agent(&app, "any").await;
    let ids =
        |v: Vec<Value>| -> Vec<Value> { v.iter().map(|c| c["flow_run"]["id"].clone()).collect() };
    assert_eq!(
        ids(claim(&app, &prod, json!({"agent_id": a, "limit": 10})).await),
        [r1["id"].clone()]
    );
    assert_eq!(
        ids(claim(&app, &docker, json!({"agent_id": a, "limit": 10})).await),
        [r3["id"].clone()]
    );
    assert_eq!(
        ids(claim(&app, &pinned, json!({"agent_id": a, "limit": 10})).await),
        [r2["id"].clone()]
    );
}

/// Claim candidates are found on a reader, then claimed by id in the writer: what changed in
/// between is checked again there, so a candidate claimed by someone else, one the queue's
/// (changed) filter no longer takes, one not due yet, or a paused queue yields nothing.
#[tokio::test]
async fn a_claim_checks_its_candidates_again_in_the_writer() {
    use rigel_server::db::work_queues::claim_these;

    let app = TestApp::new().await;
    let d = deployment(&app).await; // tags ["earth"]
    let prod = run_of(&app, &d, json!({"tags": ["prod"]})).await;
    let plain = run_of(&app, &d, json!({})).await;
    let taken = run_of(&app, &d, json!({"tags": ["prod"]})).await;
    let later = run_of(
        &app,
        &d,
        json!({"tags": ["prod"], "scheduled_start_time": "2999-01-01T00:00:00Z"}),
    )
    .await;
    let q = queue(&app, json!({"name": "q"})).await;
    let a = agent(&app, "q").await;
    let uuid = |v: &Value| -> Uuid { v["id"].as_str().unwrap().parse().unwrap() };
    let (qid, aid) = (uuid(&q), a.parse::<Uuid>().unwrap());
    // `taken` goes to another claim first
    let (s, _) = app
        .post(
            &format!("/api/flow_runs/{}/set_state", uuid(&taken)),
            json!({"state": {"type": "PENDING"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // the queue's filter changes after the candidates were read
    let (s, _) = app
        .patch(
            &format!("/api/work_queues/{qid}"),
            json!({"filter": {"tags": ["prod"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let now = chrono::Utc::now();
    let candidates = [&taken, &plain, &later, &prod].map(&uuid).to_vec();
    let claimed = claim_these(&app.state.db, qid, aid, 10, now, now, candidates)
        .await
        .unwrap();
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.flow_run.id).collect();
    assert_eq!(ids, [uuid(&prod)], "only the run the queue still offers");

    let (s, _) = app
        .patch(
            &format!("/api/work_queues/{qid}"),
            json!({"is_paused": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let other = run_of(&app, &d, json!({"tags": ["prod"]})).await;
    let claimed = claim_these(&app.state.db, qid, aid, 10, now, now, vec![uuid(&other)])
        .await
        .unwrap();
    assert!(claimed.is_empty(), "a paused queue gives nothing");
}

#[tokio::test]
async fn concurrency_limit_paused_and_zero() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    for _ in 0..5 {
        run_of(&app, &d, json!({})).await;
    }
    let q = queue(&app, json!({"name": "limited", "concurrency_limit": 2})).await;
    let a = agent(&app, "limited").await;
    let got = claim(&app, &q, json!({"agent_id": a, "limit": 5})).await;
    assert_eq!(got.len(), 2, "limit 2");
    assert!(
        claim(&app, &q, json!({"agent_id": a, "limit": 5}))
            .await
            .is_empty(),
        "both slots busy"
    );
    // one finishes: a slot frees up
    let run = &got[0];
    let path = format!(
        "/api/flow_runs/{}/set_state",
        run["flow_run"]["id"].as_str().unwrap()
    );
    app.post(
        &path,
        json!({"state": {"type": "RUNNING"}, "claim_token": run["claim_token"]}),
    )
    .await;
    let (_, r) = app
        .post(
            &path,
            json!({"state": {"type": "COMPLETED"}, "claim_token": run["claim_token"]}),
        )
        .await;
    assert_eq!(r["status"], "ACCEPT");
    assert_eq!(
        claim(&app, &q, json!({"agent_id": a, "limit": 5}))
            .await
            .len(),
        1
    );
    let qpath = format!("/api/work_queues/{}", q["id"].as_str().unwrap());
    app.patch(&qpath, json!({"concurrency_limit": 0})).await;
    assert!(
        claim(&app, &q, json!({"agent_id": a, "limit": 5}))
            .await
            .is_empty(),
        "0 takes nothing"
    );
    app.patch(
        &qpath,
        json!({"concurrency_limit": null, "is_paused": true}),
    )
    .await;
    assert!(
        claim(&app, &q, json!({"agent_id": a, "limit": 5}))
            .await
            .is_empty(),
        "paused takes nothing"
    );
    app.patch(&qpath, json!({"is_paused": false})).await;
    assert_eq!(
        claim(&app, &q, json!({"agent_id": a, "limit": 5}))
            .await
            .len(),
        2,
        "unlimited takes the rest"
    );
}

#[tokio::test]
async fn status_reports_readiness_and_late_runs() {
    let clock = ManualClock::new("2026-06-01T12:00:00Z".parse().unwrap());
    let app = TestApp::with_config(|c| c.clock = Arc::new(clock.clone())).await;
    let d = deployment(&app).await;
    let q = queue(&app, json!({"name": "default"})).await;
    let status_path = format!("/api/work_queues/{}/status", q["id"].as_str().unwrap());
    let (_, st) = app.get(&status_path).await;
    assert_eq!(st["status"], "not_ready", "never polled");
    run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2026-06-01T11:00:00Z"}),
    )
    .await;
    run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2026-06-01T13:00:00Z"}),
    )
    .await;
    let (_, st) = app.get(&status_path).await;
    assert_eq!(st["late_runs"], 1);
    let a = agent(&app, "default").await;
    // poll with a limit of 0 slots so nothing is taken but the poll is recorded
    app.patch(
        &format!("/api/work_queues/{}", q["id"].as_str().unwrap()),
        json!({"concurrency_limit": 0}),
    )
    .await;
    claim(&app, &q, json!({"agent_id": a})).await;
    let (_, st) = app.get(&status_path).await;
    assert_eq!(st["status"], "ready");
    assert_eq!(st["last_polled"], "2026-06-01T12:00:00Z");
    clock.advance(chrono::Duration::seconds(61));
    let (_, st) = app.get(&status_path).await;
    assert_eq!(st["status"], "not_ready", "no poll for a minute");
    app.patch(
        &format!("/api/work_queues/{}", q["id"].as_str().unwrap()),
        json!({"is_paused": true}),
    )
    .await;
    let (_, st) = app.get(&status_path).await;
    assert_eq!(st["status"], "paused");
}

#[tokio::test]
async fn long_poll_wakes_when_a_run_is_created() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let q = queue(&app, json!({"name": "default"})).await;
    let a = agent(&app, "default").await;
    let router = app.router.clone();
    let path = format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap());
    let waiter = tokio::spawn(async move {
        TestApp::raw_on(
            router,
            "POST",
            &path,
            json!({"agent_id": a, "wait_seconds": 30}).to_string(),
        )
        .await
    });
    // the waiter has looked once, found nothing, and waits
    let attempts = || app.state.metrics.claim_seconds.snapshot().count;
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempts() == 0 {
        assert!(Instant::now() < deadline, "the long poll never looked");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let run = run_of(&app, &d, json!({})).await;
    // without the wake-up it would answer at its deadline (30 s); the bound only fails that
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("the long poll slept to its deadline instead of waking on the new run")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["flow_run"]["id"], run["id"]);
}

#[tokio::test]
async fn long_poll_gives_up_at_its_deadline() {
    let app = TestApp::new().await;
    let q = queue(&app, json!({"name": "default"})).await;
    let a = agent(&app, "default").await;
    let started = Instant::now();
    let got = claim(&app, &q, json!({"agent_id": a, "wait_seconds": 0.3})).await;
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(300));
}
