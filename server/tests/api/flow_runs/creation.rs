//! Creating runs: at a time, idempotently, read back as written, with the deployment's
//! current defaults, many at once; reading and deleting them.

use super::*;

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
