//! `GET /api/metrics`: what a Prometheus scraper reads.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::flow_runs::{deployment, run_of};
use crate::TestApp;

/// The metrics text and its content type.
async fn scrape(app: &TestApp) -> (String, String) {
    let req = Request::get("/api/metrics").body(Body::empty()).unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (String::from_utf8(bytes.to_vec()).unwrap(), kind)
}

/// The value of the sample `line` (name and labels, exactly as rendered).
fn value(text: &str, line: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {line} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_runs_queues_agents_claims_requests_and_writes() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let (s, _) = app
        .post("/api/work_queues/", json!({"name": "default"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    for _ in 0..3 {
        run_of(
            &app,
            &d,
            json!({"scheduled_start_time": "2020-01-01T00:00:00Z"}),
        )
        .await;
    }
    let (s, agent) = app
        .post(
            "/api/agents/",
            json!({"name": "a", "work_queue_name": "default"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let (_, q) = app.get("/api/work_queues/name/default").await;
    let claim = format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap());
    let (s, got) = app
        .post(&claim, json!({"agent_id": agent["id"], "limit": 2}))
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(app.get("/api/no/such/route").await.0, StatusCode::NOT_FOUND);

    let (text, kind) = scrape(&app).await;
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(value(&text, "rigel_flow_runs{state=\"PENDING\"}"), 2.0);
    assert_eq!(value(&text, "rigel_flow_runs{state=\"SCHEDULED\"}"), 1.0);
    assert_eq!(value(&text, "rigel_flow_runs{state=\"COMPLETED\"}"), 0.0);
    assert_eq!(
        value(&text, "rigel_work_queue_due_runs{queue=\"default\"}"),
        1.0
    );
    assert_eq!(
        value(&text, "rigel_work_queue_active_runs{queue=\"default\"}"),
        2.0
    );
    assert_eq!(value(&text, "rigel_agents{status=\"online\"}"), 1.0);
    assert_eq!(value(&text, "rigel_agents{status=\"offline\"}"), 0.0);
    assert_eq!(value(&text, "rigel_claimed_runs_total"), 2.0);
    assert_eq!(value(&text, "rigel_claim_duration_seconds_count"), 1.0);
    let route = "method=\"POST\",route=\"/api/work_queues/{id}/claim\"";
    assert_eq!(
        value(
            &text,
            &format!("rigel_http_requests_total{{{route},code=\"200\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("rigel_http_request_duration_seconds_count{{{route}}}")
        ),
        1.0
    );
    // an unknown path is counted under one label, never its own
    assert_eq!(
        value(
            &text,
            "rigel_http_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"}"
        ),
        1.0
    );
    assert!(!text.contains("/api/no/such/route"), "{text}");
    assert!(value(&text, "rigel_writer_batches_total") >= 4.0, "{text}");
    assert!(
        value(&text, "rigel_writer_batch_jobs_count") >= 4.0,
        "{text}"
    );
    assert_eq!(value(&text, "rigel_writer_queued_jobs"), 0.0);
    assert_eq!(value(&text, "rigel_event_streams"), 0.0);
    // every family is declared once, before its samples
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| text.contains(&format!("# TYPE {f} histogram")))
            })
            .unwrap_or(name);
        assert_eq!(
            text.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family}"
        );
    }
}
