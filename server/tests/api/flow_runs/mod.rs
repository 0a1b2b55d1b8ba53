//! Flow runs through the API; the helpers other test modules use to make and move runs.

mod creation;
mod filters;
mod parameters;

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
