//! The stream's limits and lifecycle: lagging subscribers dropped, bad filters refused,
//! keep-alives, shutdown, and a cap on open streams.

use super::*;

#[tokio::test]
async fn a_lagging_subscriber_is_dropped_and_publishers_never_wait() {
    let app = TestApp::with_config(|c| c.events.subscriber_buffer = 4).await;
    let mut slow = Stream::open(&app, "", None).await;
    slow.expect("ready").await;
    let mut fast = Stream::open(&app, "?kinds=deployment", None).await;
    fast.expect("ready").await;
    let d = deployment(&app, "lag").await;
    fast.expect("deployment.created").await;
    // nobody reads `slow` while 50 writes publish
    let writes = async {
        for i in 0..50 {
            let (s, _) = app
                .patch(
                    &format!("/api/deployments/{d}"),
                    json!({"description": format!("v{i}")}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            // `fast` keeps up
            let e = fast.expect("deployment.updated").await;
            assert_eq!(e.data["deployment"]["description"], format!("v{i}"));
        }
    };
    tokio::time::timeout(WAIT, writes)
        .await
        .expect("publishing never waits for a slow subscriber");
    let reset = slow.expect("reset").await;
    assert_eq!(reset.data["reason"], "lagged");
    assert_eq!(reset.id, app.state.events.last_id());
    assert!(slow.next().await.is_none(), "the lagging stream ends");
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_parameter() {
    let app = TestApp::new().await;
    for (query, field) in [
        ("?kinds=flow_run,nope", "kinds"),
        ("?kinds=log", "kinds"),
        ("?flow_run_id=not-a-uuid", "flow_run_id"),
        ("?deployment_id=42", "deployment_id"),
        ("?kind=flow_run", "query"),
    ] {
        let (s, body) = app.get(&format!("/api/events{query}")).await;
        assert_eq!(
            assert_error(
                s,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error"
            ),
            field,
            "{query}"
        );
    }
    let req = Request::builder()
        .uri("/api/events")
        .header("last-event-id", "yesterday")
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_stream_is_documented_keeps_alive_and_ends_on_shutdown() {
    let app = TestApp::with_config(|c| c.events.keep_alive = Duration::from_millis(50)).await;
    let (_, doc) = app.get("/api/openapi.json").await;
    let get = &doc["paths"]["/api/events"]["get"];
    assert!(
        get["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{get}"
    );
    let params: Vec<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["kinds", "flow_run_id", "deployment_id", "Last-Event-ID"] {
        assert!(params.contains(&p), "{params:?}");
    }

    let mut s = Stream::open(&app, "", None).await;
    s.expect("ready").await;
    // 300 ms of reading an idle stream
    s.expect_quiet().await;
    app.state.shutdown.cancel();
    assert!(s.next().await.is_none(), "the stream ends on shutdown");
    assert!(s.comments >= 2, "keep-alive comments: {}", s.comments);
}

#[tokio::test]
async fn event_streams_are_capped_and_a_closed_one_frees_its_place() {
    let app = TestApp::with_config(|c| c.events.max_streams = 2).await;
    let first = Stream::open(&app, "", None).await;
    let _second = Stream::open(&app, "", None).await;
    let (status, body) = app.get("/api/events").await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 event streams"));
    drop(first);
    let _third = Stream::open(&app, "", None).await;
}
