//! Load shedding: past the limits, requests are answered 503 at once instead of piling up.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::{assert_error, TestApp};

/// Waits until `cond` holds (a request spawned elsewhere reached the point under test).
async fn held(cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the competing request never got in");
}

/// Sends `request()` until it is shed (the request it competes with may not have started yet).
async fn until_shed(
    app: &TestApp,
    request: impl Fn() -> Request<Body>,
) -> axum::response::Response {
    for _ in 0..500 {
        let resp = app.router.clone().oneshot(request()).await.unwrap();
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            return resp;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never shed");
}

#[tokio::test]
async fn past_the_requests_in_progress_a_request_is_answered_503_at_once() {
    let app = TestApp::with_config(|c| {
        c.shed.max_requests = 1;
        c.run_services = false;
    })
    .await;
    let release = app.stall_writer().await;
    // a write that waits for the writer, in progress
    let router = app.router.clone();
    let pending = tokio::spawn(async move {
        TestApp::raw_on(
            router,
            "POST",
            "/api/flows/",
            json!({"name": "f"}).to_string(),
        )
        .await
    });
    // a read (which never waits for the writer) once the write holds the only place
    held(|| app.state.limits.requests_in_progress() == 1).await;
    let resp = until_shed(&app, || {
        Request::builder()
            .method("POST")
            .uri("/api/flows/filter")
            .body(Body::empty())
            .unwrap()
    })
    .await;
    assert_eq!(resp.headers()["retry-after"], "1");
    release.send(()).unwrap();
    let (status, _) = pending.await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.post("/api/flows/filter", json!({})).await;
    assert_eq!(status, StatusCode::OK, "the place is free again");
}

#[tokio::test]
async fn past_the_body_bytes_in_progress_a_request_is_answered_503() {
    let app = TestApp::with_config(|c| {
        c.shed.max_body_bytes = 1000;
        c.run_services = false;
    })
    .await;
    let release = app.stall_writer().await;
    let tag = "x".repeat(180);
    let body =
        json!({"name": "f", "tags": [tag, tag.clone() + "y", tag.clone() + "z"]}).to_string();
    assert!(body.len() > 500, "{}", body.len());
    // as it comes off the wire: with its length
    let sized = |uri: &str, body: String| {
        Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap()
    };
    let first = app
        .router
        .clone()
        .oneshot(sized("/api/flows/", body.clone()));
    let pending = tokio::spawn(async move { first.await.unwrap().status() });
    // a read with as big a body (padded) once the write holds its bytes
    held(|| app.state.limits.body_bytes_in_progress() > 0).await;
    let filter = format!("{{}}{}", " ".repeat(body.len() - 2));
    let resp = until_shed(&app, || sized("/api/flows/filter", filter.clone())).await;
    let status = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    release.send(()).unwrap();
    assert_eq!(pending.await.unwrap(), StatusCode::CREATED);
}
