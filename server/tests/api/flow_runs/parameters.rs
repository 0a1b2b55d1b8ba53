//! A run's parameters and tags: merged with its deployment's, stored as effective, and refused
//! where a value could not reach a process.

use super::*;

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
