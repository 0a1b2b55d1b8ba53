//! The orchestration rules through the API, with the bookkeeping they must do.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::flow_runs::{deployment, run_of, set_state};
use crate::{assert_error, TestApp};

async fn claim(app: &TestApp, run: &Value) -> String {
    let r = set_state(app, run, json!({"state": {"type": "PENDING"}})).await;
    assert_eq!(r["status"], "ACCEPT", "{r}");
    r["details"]["claim_token"].as_str().unwrap().to_string()
}

async fn states(app: &TestApp, run: &Value) -> Vec<String> {
    let (s, h) = app
        .get(&format!(
            "/api/flow_runs/{}/states",
            run["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    h.as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect()
}

async fn read(app: &TestApp, run: &Value) -> Value {
    app.get(&format!("/api/flow_runs/{}", run["id"].as_str().unwrap()))
        .await
        .1
}

#[tokio::test]
async fn a_run_goes_through_its_life_with_bookkeeping() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let token = claim(&app, &run).await;
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT", "{r}");
    let running = read(&app, &run).await;
    assert_eq!(running["state"]["type"], "RUNNING");
    assert_eq!(running["run_count"], 1);
    assert!(running["start_time"].is_string());
    assert_eq!(running["end_time"], Value::Null);
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "COMPLETED", "message": "done"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT");
    assert_eq!(r["state"]["message"], "done");
    let done = read(&app, &run).await;
    assert!(done["end_time"].is_string());
    assert!(done["total_run_time"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        states(&app, &run).await,
        ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    );
}

#[tokio::test]
async fn claiming_succeeds_once() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    claim(&app, &run).await;
    let r = set_state(&app, &run, json!({"state": {"type": "PENDING"}})).await;
    assert_eq!(r["status"], "ABORT", "PENDING -> PENDING: {r}");
    assert_eq!(r["state"]["type"], "PENDING");
    assert!(
        r["details"]["reason"].as_str().unwrap().contains("claimed"),
        "{r}"
    );
    assert_eq!(
        states(&app, &run).await,
        ["SCHEDULED", "PENDING"],
        "the refused proposal left no trace"
    );
}

#[tokio::test]
async fn running_to_pending_is_aborted() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let token = claim(&app, &run).await;
    set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "PENDING"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ABORT");
}

#[tokio::test]
async fn terminal_states_are_final_unless_forced() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    set_state(&app, &run, json!({"state": {"type": "CANCELLING"}})).await;
    assert_eq!(
        read(&app, &run).await["state"]["type"],
        "CANCELLED",
        "cancelling a scheduled run cancels it at once"
    );
    for to in ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"] {
        let r = set_state(&app, &run, json!({"state": {"type": to}})).await;
        assert_eq!(r["status"], "ABORT", "CANCELLED -> {to}");
    }
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": true}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT");
    let again = read(&app, &run).await;
    assert_eq!(again["state"]["name"], "AwaitingRetry");
    assert_eq!(
        again["end_time"],
        Value::Null,
        "a retried run is not finished"
    );
}

#[tokio::test]
async fn running_before_the_scheduled_time_waits() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc3339();
    let run = run_of(&app, &d, json!({"scheduled_start_time": later})).await;
    let token = claim(&app, &run).await;
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "WAIT", "{r}");
    let delay = r["details"]["delay_seconds"].as_f64().unwrap();
    assert!(delay > 100.0 && delay <= 120.0, "{delay}");
    assert_eq!(read(&app, &run).await["state"]["type"], "PENDING");
}

#[tokio::test]
async fn claim_tokens_fence_stale_processes() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let first = claim(&app, &run).await;
    // the first agent vanished: the run goes back to Scheduled and is claimed again
    set_state(&app, &run, json!({"state": {"type": "SCHEDULED"}})).await;
    assert_eq!(read(&app, &run).await["agent_id"], Value::Null);
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": first}),
    )
    .await;
    assert_eq!(r["status"], "ABORT", "stale token on a re-queued run: {r}");
    let second = claim(&app, &run).await;
    assert_ne!(first, second);
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": first}),
    )
    .await;
    assert_eq!(r["status"], "ABORT", "the late process can't run it: {r}");
    let r = set_state(&app, &run, json!({"state": {"type": "RUNNING"}})).await;
    assert_eq!(r["status"], "ABORT", "no token: {r}");
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": second}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT");
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "FAILED"}, "claim_token": first}),
    )
    .await;
    assert_eq!(r["status"], "ABORT", "nor finish it: {r}");
}

#[tokio::test]
async fn a_retried_transition_gets_the_original_answer() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let tid = "0190a0a0-0000-7000-8000-00000000abcd";
    let first = set_state(
        &app,
        &run,
        json!({"state": {"type": "PENDING"}, "transition_id": tid}),
    )
    .await;
    assert_eq!(first["status"], "ACCEPT");
    // the client timed out and sends the same proposal again
    let retry = set_state(
        &app,
        &run,
        json!({"state": {"type": "PENDING"}, "transition_id": tid}),
    )
    .await;
    assert_eq!(retry["status"], "ACCEPT", "{retry}");
    assert_eq!(
        retry["details"]["claim_token"],
        first["details"]["claim_token"]
    );
    assert_eq!(retry["state"]["timestamp"], first["state"]["timestamp"]);
    // a different proposal is judged on its own
    let other = set_state(&app, &run, json!({"state": {"type": "PENDING"}, "transition_id": "0190a0a0-0000-7000-8000-00000000ffff"})).await;
    assert_eq!(other["status"], "ABORT");
    assert_eq!(states(&app, &run).await, ["SCHEDULED", "PENDING"]);
}

/// A retry of a proposal the rules would accept again (SCHEDULED → SCHEDULED) is still answered
/// as the first time, without a second state: the transition id is unique per run.
#[tokio::test]
async fn a_retried_transition_that_would_pass_again_is_not_written_twice() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let body = json!({
        "state": {"type": "SCHEDULED", "name": "AwaitingRetry"},
        "transition_id": "0190a0a0-0000-7000-8000-00000000beef",
    });
    let first = set_state(&app, &run, body.clone()).await;
    assert_eq!(first["status"], "ACCEPT", "{first}");
    let retry = set_state(&app, &run, body).await;
    assert_eq!(retry["status"], "ACCEPT", "{retry}");
    assert_eq!(retry["state"]["timestamp"], first["state"]["timestamp"]);
    assert_eq!(
        retry["details"]["reason"],
        "this transition was already accepted"
    );
    assert_eq!(states(&app, &run).await, ["SCHEDULED", "SCHEDULED"]);
}

#[tokio::test]
async fn cancelling_a_running_run_waits_for_its_process() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let token = claim(&app, &run).await;
    set_state(
        &app,
        &run,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    let r = set_state(&app, &run, json!({"state": {"type": "CANCELLING"}})).await;
    assert_eq!(r["state"]["type"], "CANCELLING");
    // the process stops and reports how it ended: the run is cancelled
    let r = set_state(
        &app,
        &run,
        json!({"state": {"type": "CRASHED"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT");
    assert_eq!(r["state"]["type"], "CANCELLED");
    let pending = run_of(&app, &d, json!({})).await;
    claim(&app, &pending).await;
    let r = set_state(&app, &pending, json!({"state": {"type": "CANCELLING"}})).await;
    assert_eq!(
        r["state"]["type"], "CANCELLED",
        "a claimed but unstarted run is cancelled at once"
    );
}

#[tokio::test]
async fn completing_a_run_that_never_ran_is_rejected() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let r = set_state(&app, &run, json!({"state": {"type": "COMPLETED"}})).await;
    assert_eq!(r["status"], "REJECT");
    assert_eq!(r["state"]["type"], "SCHEDULED");
    let r = set_state(&app, &run, json!({"state": {"type": "RUNNING"}})).await;
    assert_eq!(r["status"], "ABORT", "must be claimed first");
}

#[tokio::test]
async fn set_state_bad_input() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let path = format!("/api/flow_runs/{}/set_state", run["id"].as_str().unwrap());
    for (body, field) in [
        (json!({}), "state"),
        (json!({"state": {"type": "DONE"}}), "state.type"),
        (
            json!({"state": {"type": "RUNNING", "name": ""}}),
            "state.name",
        ),
        (
            json!({"state": {"type": "RUNNING"}, "claim_token": "x"}),
            "claim_token",
        ),
        (
            json!({"state": {"type": "RUNNING"}, "force": "yes"}),
            "force",
        ),
        (
            json!({"state": {"type": "RUNNING", "scheduled_time": 5}}),
            "state.scheduled_time",
        ),
    ] {
        let (s, e) = app.post(&path, body.clone()).await;
        assert_eq!(
            assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            field,
            "{body}"
        );
    }
    let (s, e) = app
        .post(
            "/api/flow_runs/0190a0a0-0000-7000-8000-000000000000/set_state",
            json!({"state": {"type": "PENDING"}}),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app
        .get("/api/flow_runs/0190a0a0-0000-7000-8000-000000000000/states")
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

/// Task-run proposals retried with their transition id are answered as the first time, both
/// when the rules would refuse the retry (RUNNING → RUNNING) and when they would accept it again
/// (SCHEDULED → SCHEDULED): one state each.
#[tokio::test]
async fn retried_task_run_transitions_are_applied_once() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let (_, t) = app
        .post(
            "/api/task_runs/",
            json!({"flow_run_id": run["id"], "name": "extract"}),
        )
        .await;
    let id = t["id"].as_str().unwrap();
    let path = format!("/api/task_runs/{id}/set_state");
    for body in [
        json!({"state": {"type": "RUNNING"}, "transition_id": "0190a0a0-0000-7000-8000-0000000000a1"}),
        json!({"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "transition_id": "0190a0a0-0000-7000-8000-0000000000a2"}),
    ] {
        let (_, first) = app.post(&path, body.clone()).await;
        assert_eq!(first["status"], "ACCEPT", "{first}");
        let (_, again) = app.post(&path, body).await;
        assert_eq!(again["status"], "ACCEPT", "{again}");
        assert_eq!(again["state"]["timestamp"], first["state"]["timestamp"]);
        assert_eq!(
            again["details"]["reason"],
            "this transition was already accepted"
        );
    }
    let (_, hist) = app.get(&format!("/api/task_runs/{id}/states")).await;
    let names: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Pending", "Running", "AwaitingRetry"]);
    let (_, got) = app.get(&format!("/api/task_runs/{id}")).await;
    assert_eq!(got["run_count"], 1, "{got}");
}

#[tokio::test]
async fn task_runs_follow_the_rules_without_claims() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let run = run_of(&app, &d, json!({})).await;
    let (s, t) = app
        .post(
            "/api/task_runs/",
            json!({"flow_run_id": run["id"], "name": "extract"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["state"]["type"], "PENDING");
    let path = format!("/api/task_runs/{}/set_state", t["id"].as_str().unwrap());
    let (_, r) = app.post(&path, json!({"state": {"type": "RUNNING"}})).await;
    assert_eq!(r["status"], "ACCEPT");
    let (_, r) = app
        .post(
            &path,
            json!({"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}}),
        )
        .await;
    assert_eq!(r["status"], "ACCEPT");
    let (_, r) = app
        .post(
            &path,
            json!({"state": {"type": "RUNNING", "name": "Retrying"}}),
        )
        .await;
    assert_eq!(r["status"], "ACCEPT");
    let (_, r) = app
        .post(
            &path,
            json!({"state": {"type": "FAILED", "message": "exit code 3"}}),
        )
        .await;
    assert_eq!(r["status"], "ACCEPT");
    let (_, r) = app.post(&path, json!({"state": {"type": "RUNNING"}})).await;
    assert_eq!(r["status"], "ABORT");
    let (_, got) = app
        .get(&format!("/api/task_runs/{}", t["id"].as_str().unwrap()))
        .await;
    assert_eq!(got["run_count"], 2);
    assert!(got["end_time"].is_string());
    let (_, hist) = app
        .get(&format!(
            "/api/task_runs/{}/states",
            t["id"].as_str().unwrap()
        ))
        .await;
    let names: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Pending", "Running", "AwaitingRetry", "Retrying", "Failed"]
    );
    app.post(
        "/api/task_runs/",
        json!({"flow_run_id": run["id"], "name": "load"}),
    )
    .await;
    let (_, list) = app
        .post("/api/task_runs/filter", json!({"flow_run_id": run["id"]}))
        .await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["extract", "load"]);
    let (s, e) = app
        .post(
            "/api/task_runs/",
            json!({"flow_run_id": "0190a0a0-0000-7000-8000-000000000000", "name": "x"}),
        )
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "flow_run_id"
    );
    let (s, e) = app
        .post(
            "/api/task_runs/",
            json!({"flow_run_id": run["id"], "name": ""}),
        )
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "name"
    );
    let (s, e) = app.post("/api/task_runs/filter", json!({})).await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
}

/// `set_states`: each proposal is decided as `set_state` would, in the order given, with its
/// own outcome; one bad proposal costs only itself.
#[tokio::test]
async fn several_runs_proposals_in_one_call_each_get_their_own_outcome() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let a = run_of(&app, &d, json!({})).await;
    let b = run_of(&app, &d, json!({})).await;
    let missing = "0190a2b4-0000-7000-8000-000000000000";
    let (s, r) = app
        .post(
            "/api/flow_runs/set_states",
            json!({"proposals": [
                {"flow_run_id": a["id"], "state": {"type": "PENDING"}},
                {"flow_run_id": b["id"], "state": {"type": "PENDING", "name": ""}},
                {"flow_run_id": missing, "state": {"type": "PENDING"}},
                // decided after the first: a second claim of the same run
                {"flow_run_id": a["id"], "state": {"type": "PENDING"}},
                {"flow_run_id": b["id"], "state": {"type": "PENDING"}},
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "{r}");
    let first = &results[0]["result"];
    assert_eq!(first["status"], "ACCEPT", "{r}");
    let token = first["details"]["claim_token"].as_str().unwrap();
    assert_eq!(results[1]["error"]["code"], "validation_error", "{r}");
    assert_eq!(
        results[1]["error"]["details"]["field"],
        "proposals[1].state.name"
    );
    assert_eq!(results[2]["error"]["code"], "not_found", "{r}");
    assert_eq!(results[3]["result"]["status"], "ABORT", "{r}");
    assert_eq!(results[4]["result"]["status"], "ACCEPT", "{r}");
    // what was accepted is stored, with its history, as through set_state
    let run = read(&app, &a).await;
    assert_eq!(run["state"]["type"], "PENDING");
    assert_eq!(states(&app, &a).await, ["SCHEDULED", "PENDING"]);
    assert_eq!(states(&app, &b).await, ["SCHEDULED", "PENDING"]);
    let r = set_state(
        &app,
        &a,
        json!({"state": {"type": "RUNNING"}, "claim_token": token}),
    )
    .await;
    assert_eq!(r["status"], "ACCEPT", "{r}");

    // an empty call is answered empty; too many proposals, or a malformed one, fail the call
    let (s, r) = app
        .post("/api/flow_runs/set_states", json!({"proposals": []}))
        .await;
    assert_eq!((s, r), (StatusCode::OK, json!({"results": []})));
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"flow_run_id": b["id"], "state": {"type": "RUNNING"}}))
        .collect();
    let (s, r) = app
        .post("/api/flow_runs/set_states", json!({ "proposals": many }))
        .await;
    let field = assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "proposals");
    assert!(r["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("at most 1000")));
    let (s, r) = app
        .post(
            "/api/flow_runs/set_states",
            json!({"proposals": [{"flow_run_id": b["id"], "state": {"type": "RUNNING"}, "colour": 1}]}),
        )
        .await;
    assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
}

/// A required field that is missing is named, with where it is missing from.
#[tokio::test]
async fn a_missing_field_is_named_with_its_path() {
    let app = TestApp::new().await;
    let (s, r) = app.post("/api/flow_runs/set_states", json!({})).await;
    let field = assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "proposals", "{r}");
    let (s, r) = app
        .post(
            "/api/flow_runs/set_states",
            json!({"proposals": [{"flow_run_id": "0190a2b4-0000-7000-8000-000000000000", "state": {}}]}),
        )
        .await;
    let field = assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "proposals[0].state.type", "{r}");
}
