//! Web pages cannot drive the API: JSON bodies need a JSON content type, foreign origins and
//! unknown host names are refused, and an allowed origin gets CORS answers.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::TestApp;

/// A request with these headers; its status, body and headers.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .router
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

fn deployment() -> String {
    TestApp::deployment_body("evil", "payload").to_string()
}

async fn count(app: &TestApp) -> Value {
    app.post("/api/deployments/count", json!({})).await.1
}

#[tokio::test]
async fn a_browser_style_post_is_refused() {
    let app = TestApp::new().await;
    // what a page's fetch(…, {mode: "no-cors"}) or a form sends: text/plain, no preflight
    let (s, r, _) = send(
        &app,
        "POST",
        "/api/deployments/",
        &[("content-type", "text/plain;charset=UTF-8")],
        &deployment(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{r}");
    assert_eq!(r["error"]["code"], "unsupported_media_type");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Content-Type: application/json"),
        "{message}"
    );
    // no content type at all is refused the same way; an empty body needs none
    let (s, _, _) = send(&app, "POST", "/api/deployments/", &[], &deployment()).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, r, _) = send(&app, "POST", "/api/deployments/filter", &[], "").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // a foreign origin is refused even with the right content type
    let (s, r, _) = send(
        &app,
        "POST",
        "/api/deployments/",
        &[
            ("content-type", "application/json"),
            ("origin", "https://evil.example"),
        ],
        &deployment(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{r}");
    assert_eq!(r["error"]["code"], "forbidden");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--allowed-origin https://evil.example"),
        "{r}"
    );
    assert_eq!(count(&app).await, json!(0), "nothing was created");
    // ... and so is a read
    let (s, _, _) = send(
        &app,
        "GET",
        "/api/health",
        &[("origin", "http://localhost:3000")],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // the right content type with a parameter is fine
    let (s, r, _) = send(
        &app,
        "POST",
        "/api/deployments/",
        &[("content-type", "application/json; charset=utf-8")],
        &deployment(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

#[tokio::test]
async fn rebound_host_names_are_refused() {
    let app = TestApp::with_config(|c| c.site.server_names = vec!["rigel.internal".into()]).await;
    for ok in [
        "127.0.0.1:4200",
        "localhost:4200",
        "[::1]:4200",
        "rigel.internal:4200",
    ] {
        let (s, r, _) = send(&app, "GET", "/api/health", &[("host", ok)], "").await;
        assert_eq!(s, StatusCode::OK, "{ok}: {r}");
    }
    let (s, r, _) = send(
        &app,
        "POST",
        "/api/deployments/",
        &[
            ("host", "attacker.example:4200"),
            ("content-type", "application/json"),
        ],
        &deployment(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--server-name attacker.example"),
        "{r}"
    );
    assert_eq!(count(&app).await, json!(0));
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_answers() {
    let origin = "https://dash.example.com";
    let app = TestApp::with_config(|c| c.site.allowed_origins = vec![origin.into()]).await;
    let (s, _, h) = send(
        &app,
        "OPTIONS",
        "/api/deployments/filter",
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], origin);
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    let (s, r, h) = send(
        &app,
        "POST",
        "/api/deployments/filter",
        &[("origin", origin), ("content-type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(h["access-control-allow-origin"], origin);
}
