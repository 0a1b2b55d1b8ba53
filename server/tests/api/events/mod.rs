//! `GET /api/events`: the SSE body read from the router in-process, and the typed client over a
//! real socket.

mod contents;
mod limits;
mod reconnects;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rigel_common::client::RigelClient;
use rigel_common::event::{EventFilter, EventKind, ResetReason};
use rigel_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

use crate::{assert_error, TestApp};

const WAIT: Duration = Duration::from_secs(5);

/// One parsed SSE record.
#[derive(Debug, Clone)]
struct Sse {
    id: u64,
    kind: String,
    data: Value,
}

/// An open event stream read frame by frame.
struct Stream {
    body: Body,
    buf: String,
    /// Comment lines seen (keep-alives).
    comments: usize,
}

impl Stream {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<u64>) -> Stream {
        let mut req = Request::builder().uri(format!("/api/events{query}"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = app
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            body: resp.into_body(),
            buf: String::new(),
            comments: 0,
        }
    }

    /// The next record, or `None` when the stream ended; panics after `WAIT`.
    async fn next(&mut self) -> Option<Sse> {
        tokio::time::timeout(WAIT, self.next_inner())
            .await
            .expect("an event (or the end of the stream) within the timeout")
    }

    async fn next_inner(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let record: String = self.buf.drain(..end + 2).collect();
                let mut sse = Sse {
                    id: 0,
                    kind: String::new(),
                    data: Value::Null,
                };
                let mut has_data = false;
                for line in record.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                        sse.id = v.parse().unwrap();
                    } else if let Some(v) =
                        line.strip_prefix("event: ").or(line.strip_prefix("event:"))
                    {
                        sse.kind = v.to_string();
                    } else if let Some(v) =
                        line.strip_prefix("data: ").or(line.strip_prefix("data:"))
                    {
                        sse.data = serde_json::from_str(v).unwrap();
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(sse);
                }
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
                Some(Err(e)) => panic!("the stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// The next record, which must be of `kind`.
    async fn expect(&mut self, kind: &str) -> Sse {
        let e = self.next().await.expect("the stream ended");
        assert_eq!(e.kind, kind, "{e:?}");
        e
    }

    /// Asserts that nothing arrives for a while.
    async fn expect_quiet(&mut self) {
        if let Ok(e) = tokio::time::timeout(Duration::from_millis(300), self.next_inner()).await {
            panic!("expected no event, got {e:?}");
        }
    }
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

async fn deployment(app: &TestApp, name: &str) -> Uuid {
    uuid(
        &app.create_deployment(TestApp::deployment_body("events-flow", name))
            .await["id"],
    )
}

async fn run_of(app: &TestApp, deployment: Uuid) -> Uuid {
    let (s, run) = app
        .post(
            &format!("/api/deployments/{deployment}/create_flow_run"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    uuid(&run["id"])
}

async fn set_state(app: &TestApp, run: Uuid, kind: &str, token: Option<&Value>) -> Value {
    let mut body = json!({"state": {"type": kind}});
    if let Some(t) = token {
        body["claim_token"] = t.clone();
    }
    let (s, r) = app
        .post(&format!("/api/flow_runs/{run}/set_state"), body)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "ACCEPT", "{r}");
    r
}

async fn log(app: &TestApp, run: Uuid, message: &str) {
    let (s, r) = app
        .post(
            "/api/logs/",
            json!([{"flow_run_id": run, "level": 20, "message": message,
                "timestamp": "2024-05-01T12:00:00Z"}]),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

fn state_of(e: &Sse) -> (String, &str) {
    (
        e.data["flow_run_id"].as_str().unwrap().to_string(),
        e.data["state"]["type"].as_str().unwrap(),
    )
}
