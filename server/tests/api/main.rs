//! In-process API tests: the real router against a fresh, migrated SQLite file per test.

mod agents;
mod auth;
mod blocks;
mod claims;
mod client;
mod cross_site;
mod decode;
mod deployments;
mod errors;
mod events;
mod faults;
mod flow_runs;
mod flows;
mod health;
mod limits;
mod logs;
mod metrics;
mod openapi;
mod orchestration;
mod persistence;
mod queue_offers;
mod reaper;
mod retention;
mod scheduler;
mod shed;
mod work_queues;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use rigel_server::{router, AppState, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApp {
    pub router: axum::Router,
    pub state: AppState,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            ServerConfig::new(format!("sqlite://{}", dir.path().join("t.db").display()));
        tweak(&mut config);
        let mut app = Self::open(config).await;
        app._dir = Some(dir);
        app
    }

    /// An app on a database the caller owns (to test re-opening it).
    pub async fn open(config: ServerConfig) -> Self {
        let state = AppState::open(config).await.unwrap();
        Self {
            router: router(state.clone()),
            state,
            _dir: None,
        }
    }

    /// Sends raw bytes; returns the status and the body parsed as JSON (Null when empty).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// Like `raw`, on a router the caller holds (for requests made from spawned tasks).
    pub async fn raw_on(
        router: axum::Router,
        method: &str,
        path: &str,
        body: String,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Holds the writer with a job of its own (running once this returns) until the returned
    /// sender is used or dropped: every write waits behind it meanwhile.
    pub async fn stall_writer(&self) -> tokio::sync::oneshot::Sender<()> {
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let writer = self.state.db.writer.clone();
        tokio::spawn(async move {
            writer
                .run(move |_conn| {
                    Box::pin(async move {
                        let _ = started.send(());
                        let _ = held.await;
                        Ok(())
                    })
                })
                .await
        });
        running.await.unwrap();
        release
    }

    /// Waits until at least `n` jobs wait in the writer's queue (behind [`Self::stall_writer`]'s
    /// job): a request sent meanwhile has reached its write. The deadline only fails a hung test.
    pub async fn until_writer_queued(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.db.writer.queued() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{n} writes never queued"
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// A deployment body with text flow data, for tests that don't care about storage.
    pub fn deployment_body(flow: &str, name: &str) -> Value {
        serde_json::json!({
            "name": name,
            "flow_name": flow,
            "flow_data": {"encoding": "text", "blob": "echo hello"},
        })
    }

    pub async fn create_deployment(&self, body: Value) -> Value {
        let (status, d) = self.post("/api/deployments/", body).await;
        assert!(status.is_success(), "{status}: {d}");
        d
    }
}

/// Asserts the shared error shape and returns the error's field (or "").
pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) -> String {
    assert_eq!(status, want, "body: {body}");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    body["error"]["details"]["field"]
        .as_str()
        .unwrap_or("")
        .to_string()
}
