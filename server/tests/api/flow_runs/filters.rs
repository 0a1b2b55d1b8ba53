//! Listing runs: sorting, filters, pages and counts, and bad filters named.

use super::*;

/// Three runs over two deployments: `a` (Jan 1), `c` (Jan 2, of flow `other`, Pending) and `b`
/// (Jan 3, tagged `x`), created in the order a, b, c.
struct ThreeRuns {
    app: TestApp,
    d2: Value,
    a: Value,
    b: Value,
    c: Value,
}

impl ThreeRuns {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let d = deployment(&app).await;
        let mut body2 = TestApp::deployment_body("other", "weekly");
        body2["tags"] = json!(["mars"]);
        let d2 = app.create_deployment(body2).await;
        let a = run_of(
            &app,
            &d,
            json!({"scheduled_start_time": "2030-01-01T00:00:00Z"}),
        )
        .await;
        let b = run_of(
            &app,
            &d,
            json!({"scheduled_start_time": "2030-01-03T00:00:00Z", "tags": ["x"]}),
        )
        .await;
        let c = run_of(
            &app,
            &d2,
            json!({"scheduled_start_time": "2030-01-02T00:00:00Z"}),
        )
        .await;
        set_state(&app, &c, json!({"state": {"type": "PENDING"}})).await;
        Self { app, d2, a, b, c }
    }

    /// The runs `POST /api/flow_runs/filter` answers for `body`.
    async fn filter(&self, body: Value) -> Vec<Value> {
        let (s, runs) = self.app.post("/api/flow_runs/filter", body).await;
        assert_eq!(s, StatusCode::OK, "{runs}");
        runs.as_array().unwrap().to_vec()
    }

    /// The ids of the runs `POST /api/flow_runs/filter` answers for `body`.
    async fn ids(&self, body: Value) -> Vec<Value> {
        let runs = self.filter(body).await;
        runs.iter().map(|r| r["id"].clone()).collect()
    }

    fn id(run: &Value) -> Value {
        run["id"].clone()
    }
}

#[tokio::test]
async fn runs_sort_by_expected_start_by_default_or_as_asked() {
    let t = ThreeRuns::new().await;
    let (a, b, c) = (
        ThreeRuns::id(&t.a),
        ThreeRuns::id(&t.b),
        ThreeRuns::id(&t.c),
    );
    assert_eq!(
        t.ids(json!({})).await,
        [b.clone(), c.clone(), a.clone()],
        "default: expected start desc"
    );
    assert_eq!(
        t.ids(json!({"sort": "EXPECTED_START_TIME_ASC"})).await,
        [a.clone(), c.clone(), b.clone()]
    );
    assert_eq!(t.ids(json!({"sort": "CREATED_DESC"})).await, [c, b, a]);
}

#[tokio::test]
async fn runs_filter_by_their_own_fields() {
    let t = ThreeRuns::new().await;
    let (a, b, c) = (
        ThreeRuns::id(&t.a),
        ThreeRuns::id(&t.b),
        ThreeRuns::id(&t.c),
    );
    assert_eq!(
        t.ids(json!({"flow_runs": {"deployment_id": {"any_": [t.d2["id"]]}}}))
            .await,
        [ThreeRuns::id(&t.c)]
    );
    assert_eq!(
        t.ids(json!({"flow_runs": {"state": {"type": {"any_": ["PENDING"]}}}}))
            .await,
        [ThreeRuns::id(&t.c)]
    );
    let scheduled = t
        .filter(json!({"flow_runs": {"state": {"name": {"any_": ["Scheduled"]}}}}))
        .await;
    assert_eq!(scheduled.len(), 2);
    assert_eq!(
        t.ids(json!({"flow_runs": {"tags": {"all_": ["earth", "x"]}}}))
            .await,
        [b]
    );
    assert_eq!(
        t.ids(json!({"flow_runs": {"expected_start_time": {"after_": "2030-01-02T00:00:00Z", "before_": "2030-01-02T12:00:00Z"}}}))
            .await,
        [c]
    );
    assert_eq!(
        t.ids(json!({"flow_runs": {"id": {"any_": [t.a["id"]]}}}))
            .await,
        [a]
    );
}

#[tokio::test]
async fn runs_filter_by_their_flow_and_deployment() {
    let t = ThreeRuns::new().await;
    assert_eq!(
        t.ids(json!({"flows": {"name": {"any_": ["other"]}}})).await,
        [ThreeRuns::id(&t.c)]
    );
    let daily = t
        .filter(json!({"deployments": {"name": {"any_": ["daily"]}}}))
        .await;
    assert_eq!(daily.len(), 2);
}

#[tokio::test]
async fn runs_come_in_pages_and_are_counted() {
    let t = ThreeRuns::new().await;
    assert_eq!(
        t.ids(json!({"limit": 1, "offset": 1})).await,
        [ThreeRuns::id(&t.c)]
    );
    let (_, n) = t
        .app
        .post(
            "/api/flow_runs/count",
            json!({"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}),
        )
        .await;
    assert_eq!(n, json!(2));
    let (_, n) = t.app.post("/api/flow_runs/count", json!({})).await;
    assert_eq!(n, json!(3));
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_field() {
    let app = TestApp::new().await;
    for (body, field) in [
        (json!({"limit": 500}), "limit"),
        (json!({"sort": "RANDOM"}), "sort"),
        (
            json!({"flow_runs": {"state": {"type": {"any_": ["LATE"]}}}}),
            "flow_runs.state.type.any_[0]",
        ),
        (
            json!({"flow_runs": {"expected_start_time": {"after_": "yesterday"}}}),
            "flow_runs.expected_start_time.after_",
        ),
    ] {
        let (s, e) = app.post("/api/flow_runs/filter", body.clone()).await;
        assert_eq!(
            assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            field,
            "{body}"
        );
    }
}

#[tokio::test]
async fn end_time_sort_puts_unfinished_runs_last() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    let a = run_of(&app, &d, json!({})).await;
    let b = run_of(&app, &d, json!({})).await;
    set_state(&app, &a, json!({"state": {"type": "CANCELLED"}})).await;
    let (_, sorted) = app
        .post("/api/flow_runs/filter", json!({"sort": "END_TIME_DESC"}))
        .await;
    assert_eq!(sorted[0]["id"], a["id"]);
    assert_eq!(sorted[1]["id"], b["id"]);
    assert!(sorted[0]["end_time"].is_string());
}

/// A capped count stops at its limit, so a view can show "N+" cheaply on a large database.
#[tokio::test]
async fn count_stops_at_its_limit() {
    let app = TestApp::new().await;
    let d = deployment(&app).await;
    for _ in 0..5 {
        run_of(&app, &d, json!({})).await;
    }
    let scheduled = json!({"state": {"type": {"any_": ["SCHEDULED"]}}});
    for (limit, want) in [
        (json!(3), 3),
        (json!(5), 5),
        (json!(50), 5),
        (json!(null), 5),
    ] {
        let (s, n) = app
            .post(
                "/api/flow_runs/count",
                json!({"flow_runs": scheduled, "limit": limit}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
        assert_eq!(n, want, "limit {limit}");
    }
    let (s, n) = app
        .post(
            "/api/flow_runs/count",
            json!({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}, "limit": 3}),
        )
        .await;
    assert_eq!((s, n), (StatusCode::OK, json!(0)));
    let (s, e) = app.post("/api/flow_runs/count", json!({"limit": 0})).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "limit");
}
