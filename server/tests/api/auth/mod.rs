//! API keys and roles: every route declares who may call it, and the guard holds to it.

mod agent_keys;
mod keys;
mod roles;
mod run_tokens;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rigel_common::api_key::{ApiKeyCreate, Role};
use rigel_server::auth::access::Access;
use rigel_server::auth::AuthMode;
use rigel_server::clock::ManualClock;
use rigel_server::routes;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{assert_error, TestApp};

/// Sends a request with `key` (if any) as a bearer key; answers status, headers and JSON body.
/// The body of a stream (`/api/events`) is not read.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = req
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    if path.starts_with("/api/events") && status.is_success() {
        return (status, headers, Value::Null);
    }
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

async fn key(app: &TestApp, name: &str, role: Role, queues: &[&str]) -> String {
    let body = ApiKeyCreate {
        name: name.into(),
        role,
        queues: queues.iter().map(|q| q.to_string()).collect(),
        expires_in_seconds: None,
    };
    routes::api_keys::create(&app.state, &body, None)
        .await
        .unwrap()
        .key
}

/// A run of deployment `d` started with `key`; answers it (and asserts it was created).
async fn start_run(app: &TestApp, d: &Value, key: &str) -> Value {
    let path = format!(
        "/api/deployments/{}/create_flow_run",
        d["id"].as_str().unwrap()
    );
    let (status, _, run) = send(app, "POST", &path, Some(json!({})), Some(key)).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    run
}
