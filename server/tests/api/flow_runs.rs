use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::{assert_error, TestApp};

pub async fn deployment(app: &TestApp) -> Value {
    let mut body = TestApp::deployment_body("hello-world", "daily");
    body["parameters"] = json!({"name": "world", "loud": false});
    body["parameter_schema"] =
        json!({"properties": {"name": {"type": "string"}, "loud": {"type": "boolean"}}});
    body["tags"] = json!(["earth"]);
    app.create_deployment(body).await
}

pub async fn run_of(app: &TestApp, d: &Value, body: Value) -> Value {
    let (s, r) = app
        .post(
            &format!(
                "/api/deployments/{}/create_flow_run",
                d["id"].as_str().unwrap()
            ),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

pub async fn set_state(app: &TestApp, run: &Value, body: Value) -> Value {
    let (s, r) = app
        .post(
            &format!("/api/flow_runs/{}/set_state", run["id"].as_str().unwrap()),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

#[tokio::test]
async fn deployment_runs_merge_parameters_and_tags() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let r = run_of(
        &app,
        &d,
        json!({"parameters": {"name": "Marvin"}, "tags": ["adhoc", "earth"]}),
    )
    .await;
    assert_eq!(r["parameters"], json!({"name": "Marvin", "loud": false}));
    assert_eq!(r["tags"], json!(["earth", "adhoc"]));
    assert_eq!(r["deployment_id"], d["id"]);
    assert_eq!(r["flow_id"], d["flow_id"]);
    assert_eq!(r["state"]["type"], "SCHEDULED");
    assert_eq!(r["state"]["name"], "Scheduled");
    assert_eq!(r["flow_runner"], d["flow_runner"]);
    assert_eq!(r["auto_scheduled"], false);
    assert_eq!(r["run_count"], 0);
    let name = r["name"].as_str().unwrap();
    assert!(
        name.split('-').count() == 2 && name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
        "{name}"
    );
    let (s, e) = app
        .post(
            &format!(
                "/api/deployments/{}/create_flow_run",
                d["id"].as_str().unwrap()
            ),
            json!({"parameters": {"nmae": "typo"}}),
        )
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "parameters.nmae");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loud, name"),
        "{e}"
    );
    let (s, e) = app
        .post(
            "/api/deployments/0190a0a0-0000-7000-8000-000000000000/create_flow_run",
            json!({}),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn start_at_a_time() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let at = "2030-01-02T03:04:05Z";
    let r = run_of(&app, &d, json!({"scheduled_start_time": at})).await;
    assert_eq!(r["state"]["scheduled_time"], at);
    assert_eq!(r["expected_start_time"], at);
    assert_eq!(r["next_scheduled_start_time"], at);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_run() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let path = format!(
        "/api/deployments/{}/create_flow_run",
        d["id"].as_str().unwrap()
    );
    let (s1, r1) = app.post(&path, json!({"idempotency_key": "k1"})).await;
    let (s2, r2) = app.post(&path, json!({"idempotency_key": "k1"})).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(r1["id"], r2["id"]);
    let (s3, r3) = app
        .post(
            "/api/flow_runs/",
            json!({"flow_id": d["flow_id"], "idempotency_key": "k1"}),
        )
        .await;
    assert_eq!(s3, StatusCode::OK);
    assert_eq!(r3["id"], r1["id"]);
    let (s4, r4) = app
        .post(
            "/api/flow_runs/",
            json!({"flow_id": d["flow_id"], "idempotency_key": "k2"}),
        )
        .await;
    assert_eq!(s4, StatusCode::CREATED);
    assert_ne!(r4["id"], r1["id"]);
    assert_eq!(r4["deployment_id"], Value::Null);
}

#[tokio::test]
async fn create_get_delete_and_bad_input() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let (s, r) = app
        .post(
            "/api/flow_runs/",
            json!({"deployment_id": d["id"], "name": "my-run"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["name"], "my-run");
    assert_eq!(r["parameters"], json!({"name": "world", "loud": false}));
    let path = format!("/api/flow_runs/{}", r["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.1, r);
    assert_eq!(app.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (s, e) = app.get(&path).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let cases = [
        (json!({}), "flow_id"),
        (
            json!({"flow_id": "0190a0a0-0000-7000-8000-000000000000"}),
            "flow_id",
        ),
        (
            json!({"deployment_id": "0190a0a0-0000-7000-8000-000000000000"}),
            "deployment_id",
        ),
        (json!({"flow_id": "nope"}), "flow_id"),
        (json!({"deployment_id": d["id"], "name": "a/b"}), "name"),
        (json!({"deployment_id": d["id"], "tags": [""]}), "tags[0]"),
        (
            json!({"deployment_id": d["id"], "idempotency_key": ""}),
            "idempotency_key",
        ),
        (
            json!({"deployment_id": d["id"], "state": {"type": "WHATEVER"}}),
            "state.type",
        ),
        (
            json!({"deployment_id": d["id"], "parameters": {"bogus": 1}}),
            "parameters.bogus",
        ),
        (
            json!({"deployment_id": d["id"], "flow_id": "0190a0a0-0000-7000-8000-000000000000"}),
            "flow_id",
        ),
    ];
    for (body, field) in cases {
        let (s, e) = app.post("/api/flow_runs/", body.clone()).await;
        assert_eq!(
            assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            field,
            "{body}"
        );
    }
}

#[tokio::test]
async fn filter_sort_and_count() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let mut body2 = TestApp::deployment_body("other", "weekly");
    body2["tags"] = json!(["mars"]);
    let d2 = app.create_deployment(body2).await;
    let a = run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2030-01-01T00:00:00Z"}),
    )
    .await;
    let b = run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2030-01-03T00:00:00Z", "tags": ["x"]}),
    )
    .await;
    let c = run_of(
        &app,
        &d2,
        json!({"scheduled_start_time": "2030-01-02T00:00:00Z"}),
    )
    .await;
    set_state(&app, &c, json!({"state": {"type": "PENDING"}})).await;
    let ids = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect()
    };
    let (_, all) = app.post("/api/flow_runs/filter", json!({})).await;
    assert_eq!(
        ids(&all),
        [b["id"].clone(), c["id"].clone(), a["id"].clone()],
        "default: expected start desc"
    );
    let (_, asc) = app
        .post(
            "/api/flow_runs/filter",
            json!({"sort": "EXPECTED_START_TIME_ASC"}),
        )
        .await;
    assert_eq!(
        ids(&asc),
        [a["id"].clone(), c["id"].clone(), b["id"].clone()]
    );
    let (_, created) = app
        .post("/api/flow_runs/filter", json!({"sort": "CREATED_DESC"}))
        .await;
    assert_eq!(
        ids(&created),
        [c["id"].clone(), b["id"].clone(), a["id"].clone()]
    );
    let (_, by_dep) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"deployment_id": {"any_": [d2["id"]]}}}),
        )
        .await;
    assert_eq!(ids(&by_dep), [c["id"].clone()]);
    let (_, by_state) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"state": {"type": {"any_": ["PENDING"]}}}}),
        )
        .await;
    assert_eq!(ids(&by_state), [c["id"].clone()]);
    let (_, by_state_name) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"state": {"name": {"any_": ["Scheduled"]}}}}),
        )
        .await;
    assert_eq!(by_state_name.as_array().unwrap().len(), 2);
    let (_, by_tags) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"tags": {"all_": ["earth", "x"]}}}),
        )
        .await;
    assert_eq!(ids(&by_tags), [b["id"].clone()]);
    let (_, by_time) = app
        .post("/api/flow_runs/filter", json!({"flow_runs": {"expected_start_time": {"after_": "2030-01-02T00:00:00Z", "before_": "2030-01-02T12:00:00Z"}}}))
        .await;
    assert_eq!(ids(&by_time), [c["id"].clone()]);
    let (_, by_flow) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flows": {"name": {"any_": ["other"]}}}),
        )
        .await;
    assert_eq!(ids(&by_flow), [c["id"].clone()]);
    let (_, by_dep_name) = app
        .post(
            "/api/flow_runs/filter",
            json!({"deployments": {"name": {"any_": ["daily"]}}}),
        )
        .await;
    assert_eq!(by_dep_name.as_array().unwrap().len(), 2);
    let (_, by_id) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"id": {"any_": [a["id"]]}}}),
        )
        .await;
    assert_eq!(ids(&by_id), [a["id"].clone()]);
    let (_, page) = app
        .post("/api/flow_runs/filter", json!({"limit": 1, "offset": 1}))
        .await;
    assert_eq!(ids(&page), [c["id"].clone()]);
    let (_, n) = app
        .post(
            "/api/flow_runs/count",
            json!({"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}),
        )
        .await;
    assert_eq!(n, json!(2));
    let (_, n) = app.post("/api/flow_runs/count", json!({})).await;
    assert_eq!(n, json!(3));
    for (body, field) in [
        (json!({"limit": 500}), "limit"),
        (json!({"sort": "RANDOM"}), "sort"),
        (
            json!({"flow_runs": {"state": {"type": {"any_": ["LATE"]}}}}),
            "flow_runs.state.type.any_[0]",
        ),
        (
            json!({"flow_runs": {"expected_start_time": {"after_": "yesterday"}}}),
            "flow_runs.expected_start_time.after_",
        ),
    ] {
        let (s, e) = app.post("/api/flow_runs/filter", body.clone()).await;
        assert_eq!(
            assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            field,
            "{body}"
        );
    }
}

#[tokio::test]
async fn end_time_sort_puts_unfinished_runs_last() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let a = run_of(&app, &d, json!({})).await;
    let b = run_of(&app, &d, json!({})).await;
    set_state(&app, &a, json!({"state": {"type": "CANCELLED"}})).await;
    let (_, sorted) = app
        .post("/api/flow_runs/filter", json!({"sort": "END_TIME_DESC"}))
        .await;
    assert_eq!(sorted[0]["id"], a["id"]);
    assert_eq!(sorted[1]["id"], b["id"]);
    assert!(sorted[0]["end_time"].is_string());
}

/// A new run is answered from what was written: reading it back gives the same document.
#[tokio::test]
async fn a_created_run_reads_back_the_same() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let from_deployment = run_of(
        &app,
        &d,
        json!({"scheduled_start_time": "2030-01-02T03:04:05.123456789Z", "tags": ["x"]}),
    )
    .await;
    let (s, running) = app
        .post(
            "/api/flow_runs/",
            json!({"flow_id": d["flow_id"], "name": "by-hand", "parameters": {"a": [1, 2]},
                   "state": {"type": "RUNNING", "message": "started elsewhere"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{running}");
    assert_eq!(running["run_count"], 1);
    assert!(running["start_time"].is_string(), "{running}");
    for created in [from_deployment, running] {
        let (s, read) = app
            .get(&format!(
                "/api/flow_runs/{}",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(read, created);
        let (_, history) = app
            .get(&format!(
                "/api/flow_runs/{}/states",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(history, json!([created["state"]]));
    }
}

/// Runs take their deployment's defaults as they are now, however the deployment was changed.
#[tokio::test]
async fn deployment_changes_reach_the_next_run_at_once() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let id = d["id"].as_str().unwrap();
    run_of(&app, &d, json!({})).await;
    let (s, _) = app
        .patch(
            &format!("/api/deployments/{id}"),
            json!({"parameters": {"name": "moon", "loud": true}, "tags": ["luna"],
                   "flow_runner": {"type": "subprocess", "config": {"env": {"A": "1"}}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = run_of(&app, &d, json!({})).await;
    assert_eq!(r["parameters"], json!({"name": "moon", "loud": true}));
    assert_eq!(r["tags"], json!(["luna"]));
    assert_eq!(r["flow_runner"]["type"], "subprocess");

    // an upsert under the same name changes the same deployment
    let mut body = TestApp::deployment_body("hello-world", "daily");
    body["tags"] = json!(["sol"]);
    body["parameter_schema"] = json!({"properties": {"only": {"type": "string"}}});
    app.create_deployment(body).await;
    let r = run_of(&app, &d, json!({})).await;
    assert_eq!(r["tags"], json!(["sol"]));
    let (s, e) = app
        .post(
            &format!("/api/deployments/{id}/create_flow_run"),
            json!({"parameters": {"name": "x"}}),
        )
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "parameters.name");

    // deleted with its flow (a cascade in the database)
    let (s, _) = app
        .delete(&format!("/api/flows/{}", d["flow_id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = app
        .post(&format!("/api/deployments/{id}/create_flow_run"), json!({}))
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app
        .post("/api/flow_runs/", json!({"deployment_id": id}))
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "deployment_id");
}

/// Creations that arrive together are written together; each still gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creations_are_answered_one_by_one() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let id = d["id"].as_str().unwrap().to_string();
    let missing = "0190a0a0-0000-7000-8000-000000000000";
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let router = app.router.clone();
        let (path, body) = match i % 6 {
            // parameters the deployment does not declare: 422
            1 => (
                format!("/api/deployments/{id}/create_flow_run"),
                json!({"parameters": {"nope": i}}),
            ),
            // no such deployment: 404
            2 => (
                format!("/api/deployments/{missing}/create_flow_run"),
                json!({}),
            ),
            // five requests share each idempotency key: one run per key
            3 => (
                format!("/api/deployments/{id}/create_flow_run"),
                json!({"idempotency_key": format!("k{}", i % 30)}),
            ),
            // by flow, without a deployment
            4 => (
                "/api/flow_runs/".to_string(),
                json!({"flow_id": d["flow_id"], "tags": [format!("t{i}")]}),
            ),
            _ => (
                format!("/api/deployments/{id}/create_flow_run"),
                json!({"parameters": {"name": format!("n{i}")}}),
            ),
        };
        tasks.push(tokio::spawn(async move {
            let answer = TestApp::raw_on(router, "POST", &path, body.to_string()).await;
            (i, answer)
        }));
    }
    let mut created = std::collections::HashSet::new();
    let mut by_key: std::collections::HashMap<String, Vec<(StatusCode, String)>> =
        Default::default();
    for t in tasks {
        let (i, (status, body)) = t.await.unwrap();
        match i % 6 {
            1 => {
                let field = assert_error(
                    status,
                    &body,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_error",
                );
                assert_eq!(field, "parameters.nope");
            }
            2 => {
                assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
            }
            3 => {
                let id = body["id"].as_str().unwrap().to_string();
                by_key
                    .entry(body["idempotency_key"].as_str().unwrap().to_string())
                    .or_default()
                    .push((status, id.clone()));
                created.insert(id);
            }
            4 => {
                assert_eq!(status, StatusCode::CREATED, "{body}");
                assert_eq!(body["tags"], json!([format!("t{i}")]));
                created.insert(body["id"].as_str().unwrap().to_string());
            }
            _ => {
                assert_eq!(status, StatusCode::CREATED, "{body}");
                assert_eq!(body["parameters"]["name"], format!("n{i}"));
                created.insert(body["id"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(by_key.len(), 5);
    for (key, answers) in &by_key {
        let first: Vec<_> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .collect();
        assert_eq!(first.len(), 1, "{key}: {answers:?}");
        assert!(answers.iter().all(|(_, id)| *id == first[0].1), "{key}");
    }
    // 50 by flow, 100 by deployment, 5 with keys
    assert_eq!(created.len(), 155);
    let (_, n) = app.post("/api/flow_runs/count", json!({})).await;
    assert_eq!(n, 155);
    for id in created.iter().take(20) {
        let (s, history) = app.get(&format!("/api/flow_runs/{id}/states")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(history.as_array().unwrap().len(), 1, "{id}");
    }
}

/// A capped count stops at its limit, so a view can show "N+" cheaply on a large database.
#[tokio::test]
async fn count_stops_at_its_limit() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    for _ in 0..5 {
        run_of(&app, &d, json!({})).await;
    }
    let scheduled = json!({"state": {"type": {"any_": ["SCHEDULED"]}}});
    for (limit, want) in [
        (json!(3), 3),
        (json!(5), 5),
        (json!(50), 5),
        (json!(null), 5),
    ] {
        let (s, n) = app
            .post(
                "/api/flow_runs/count",
                json!({"flow_runs": scheduled, "limit": limit}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
        assert_eq!(n, want, "limit {limit}");
    }
    let (s, n) = app
        .post(
            "/api/flow_runs/count",
            json!({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}, "limit": 3}),
        )
        .await;
    assert_eq!((s, n), (StatusCode::OK, json!(0)));
    let (s, e) = app.post("/api/flow_runs/count", json!({"limit": 0})).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "limit");
}

#[tokio::test]
async fn runs_store_their_effective_parameters() {
    let app = TestApp::new().await;
    let mut body = TestApp::deployment_body("hello-world", "defaults");
    body["parameters"] = json!({"count": 2});
    body["parameter_schema"] = json!({"type": "object", "required": [], "properties": {
        "name": {"type": "string", "default": "world", "position": 0},
        "count": {"type": "integer", "default": 1, "position": 1},
        "loud": {"type": "boolean", "position": 2},
    }});
    let d = app.create_deployment(body).await;
    // declared defaults, then the deployment's parameters, then the run's
    let r = run_of(&app, &d, json!({})).await;
    assert_eq!(r["parameters"], json!({"name": "world", "count": 2}));
    let r = run_of(
        &app,
        &d,
        json!({"parameters": {"name": "Marvin", "loud": true}}),
    )
    .await;
    assert_eq!(
        r["parameters"],
        json!({"name": "Marvin", "count": 2, "loud": true})
    );
    // the same through POST /api/flow_runs/ with a deployment id
    let (s, r) = app
        .post(
            "/api/flow_runs/",
            json!({"deployment_id": d["id"], "parameters": {"count": 7}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["parameters"], json!({"name": "world", "count": 7}));
}

#[tokio::test]
async fn a_nul_in_a_value_that_reaches_a_process_is_refused_at_creation() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let id = d["id"].as_str().unwrap();
    let (s, r) = app
        .post(
            &format!("/api/deployments/{id}/create_flow_run"),
            json!({"parameters": {"name": "a\u{0}b"}}),
        )
        .await;
    assert_eq!(
        assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "parameters.name"
    );
    let (s, r) = app
        .post(
            "/api/flow_runs/",
            json!({"deployment_id": id, "parameters": {"name": "a\u{0}b"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let mut body = TestApp::deployment_body("hello-world", "nul");
    body["flow_runner"] = json!({"type": "subprocess", "config": {"env": {"A": "x\u{0}"}}});
    let (s, r) = app.post("/api/deployments/", body).await;
    assert_eq!(
        assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "flow_runner.config.env.A"
    );
    // nested values travel JSON-encoded, where a NUL is escaped: accepted
    let r = run_of(&app, &d, json!({"parameters": {"name": "ok"}})).await;
    assert_eq!(r["parameters"]["name"], "ok");
}
