use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{TimeZone, Utc};
use rigel_common::agent::{AgentCreate, AgentCriteria, AgentFilter, AgentStatus};
use rigel_common::client::RigelClient;
use rigel_common::filter::AnyFilter;
use rigel_server::clock::ManualClock;
use rigel_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::{assert_error, TestApp};

fn start_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

/// An app whose clock only moves when the test says so (stale after 30 s, offline after 120 s).
async fn app_with_clock() -> (TestApp, ManualClock) {
    let clock = ManualClock::new(start_time());
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| cfg.clock = Arc::new(c)).await;
    (app, clock)
}

async fn register(app: &TestApp, name: &str, queue: &str) -> Value {
    let (s, a) = app
        .post(
            "/api/agents/",
            json!({"name": name, "work_queue_name": queue, "hostname": "box-1", "pid": 4242,
                "version": "0.1.0"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn filter_ids(app: &TestApp, body: Value) -> Vec<String> {
    let (s, list) = app.post("/api/agents/filter", body).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| id(a).to_string())
        .collect()
}

async fn create_queue(app: &TestApp, name: &str) -> Uuid {
    let qid = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO work_queue (id, name, filter, created, updated) VALUES (?, ?, '{}', 0, 0)",
    )
    .bind(qid)
    .bind(name)
    .execute(&app.state.db.write)
    .await
    .unwrap();
    qid
}

#[tokio::test]
async fn register_read_heartbeat() {
    let (app, clock) = app_with_clock().await;
    let a = register(&app, "agent-1", "default").await;
    assert_eq!(a["name"], "agent-1");
    assert_eq!(a["work_queue_name"], "default");
    assert_eq!(a["work_queue_id"], Value::Null, "no such queue yet");
    assert_eq!(a["hostname"], "box-1");
    assert_eq!(a["pid"], 4242);
    assert_eq!(a["version"], "0.1.0");
    assert_eq!(a["status"], "online");
    assert_eq!(a["runs_in_flight"], json!([]));
    assert_eq!(a["started"], a["last_heartbeat"]);
    assert_eq!(
        a["started"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        start_time(),
        "the injected clock is used"
    );

    let path = format!("/api/agents/{}", id(&a));
    let (s, got) = app.get(&path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, a);

    clock.advance(chrono::Duration::seconds(10));
    let run = Uuid::now_v7();
    let (s, hb) = app
        .post(
            &format!("{path}/heartbeat"),
            json!({"runs_in_flight": [run]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{hb}");
    assert_eq!(hb["runs_in_flight"], json!([run]));
    assert_eq!(hb["started"], a["started"]);
    assert_eq!(
        hb["last_heartbeat"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        start_time() + chrono::Duration::seconds(10)
    );
    assert_eq!(hb["heartbeat_age_seconds"], 0.0);
    let (_, got) = app.get(&path).await;
    assert_eq!(
        got["runs_in_flight"],
        json!([run]),
        "the heartbeat was stored"
    );

    // an empty body is a heartbeat with nothing running
    let (s, hb) = app.post(&format!("{path}/heartbeat"), json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{hb}");
    assert_eq!(hb["runs_in_flight"], json!([]));
}

#[tokio::test]
async fn unknown_agent_is_404() {
    let app = TestApp::new().await;
    let missing = Uuid::now_v7();
    let (s, e) = app
        .post(
            &format!("/api/agents/{missing}/heartbeat"),
            json!({"runs_in_flight": []}),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("register"),
        "{e}"
    );
    let (s, e) = app.get(&format!("/api/agents/{missing}")).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app.delete(&format!("/api/agents/{missing}")).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn deregister() {
    let app = TestApp::new().await;
    let a = register(&app, "agent-1", "default").await;
    let path = format!("/api/agents/{}", id(&a));
    assert_eq!(app.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (s, e) = app.get(&path).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app.post(&format!("{path}/heartbeat"), json!({})).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn status_follows_heartbeat_age() {
    let (app, clock) = app_with_clock().await;
    let a = register(&app, "agent-1", "default").await;
    let path = format!("/api/agents/{}", id(&a));
    let status = |v: &Value| v["status"].as_str().unwrap().to_string();

    clock.advance(chrono::Duration::seconds(30));
    let (_, got) = app.get(&path).await;
    assert_eq!(status(&got), "online", "30 s is still on time");
    assert_eq!(got["heartbeat_age_seconds"], 30.0);

    clock.advance(chrono::Duration::seconds(15));
    let (_, got) = app.get(&path).await;
    assert_eq!(status(&got), "stale");
    assert_eq!(got["heartbeat_age_seconds"], 45.0);

    clock.advance(chrono::Duration::seconds(75));
    let (_, got) = app.get(&path).await;
    assert_eq!(status(&got), "stale", "120 s is the last stale moment");

    clock.advance(chrono::Duration::seconds(1));
    let (_, got) = app.get(&path).await;
    assert_eq!(status(&got), "offline");

    // a heartbeat brings it back
    let (_, hb) = app.post(&format!("{path}/heartbeat"), json!({})).await;
    assert_eq!(status(&hb), "online");
    assert_eq!(hb["heartbeat_age_seconds"], 0.0);
}

#[tokio::test]
async fn filter_by_queue_and_status() {
    let (app, clock) = app_with_clock().await;
    // `old` registers first and goes quiet; `mid` heartbeats later; `new` is freshest.
    let old = register(&app, "old", "etl").await;
    clock.advance(chrono::Duration::seconds(100));
    let mid = register(&app, "mid", "etl").await;
    clock.advance(chrono::Duration::seconds(40));
    let new = register(&app, "new", "ml").await;
    // ages now: old 140 s (offline), mid 40 s (stale), new 0 s (online)

    let all = filter_ids(&app, json!({})).await;
    assert_eq!(
        all,
        [id(&new), id(&mid), id(&old)],
        "newest heartbeat first"
    );

    let etl = filter_ids(
        &app,
        json!({"agents": {"work_queue_name": {"any_": ["etl"]}}}),
    )
    .await;
    assert_eq!(etl, [id(&mid), id(&old)]);

    for (wanted, expect) in [
        (json!(["online"]), vec![id(&new)]),
        (json!(["stale"]), vec![id(&mid)]),
        (json!(["offline"]), vec![id(&old)]),
        (json!(["online", "offline"]), vec![id(&new), id(&old)]),
        (json!([]), vec![]),
    ] {
        let got = filter_ids(&app, json!({"agents": {"status": {"any_": wanted}}})).await;
        assert_eq!(got, expect, "status {wanted}");
    }

    // status and paging combine in SQL: the second page of live agents is `mid`
    let page = filter_ids(
        &app,
        json!({"agents": {"status": {"any_": ["online", "stale"]}}, "limit": 1, "offset": 1}),
    )
    .await;
    assert_eq!(page, [id(&mid)]);

    let by_id = filter_ids(&app, json!({"agents": {"id": {"any_": [id(&old)]}}})).await;
    assert_eq!(by_id, [id(&old)]);

    let (s, e) = app.post("/api/agents/filter", json!({"limit": 0})).await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "limit"
    );
    let (s, e) = app
        .post(
            "/api/agents/filter",
            json!({"agents": {"status": {"any_": ["asleep"]}}}),
        )
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert!(field.starts_with("agents.status"), "{field}");
}

#[tokio::test]
async fn work_queue_is_linked_when_it_exists() {
    let app = TestApp::new().await;
    let qid = create_queue(&app, "etl").await;
    let a = register(&app, "agent-1", "etl").await;
    assert_eq!(a["work_queue_id"], json!(qid));

    // registered before its queue exists: linked by the first heartbeat after it appears
    let b = register(&app, "agent-2", "later").await;
    assert_eq!(b["work_queue_id"], Value::Null);
    let hb_path = format!("/api/agents/{}/heartbeat", id(&b));
    let (_, hb) = app.post(&hb_path, json!({})).await;
    assert_eq!(hb["work_queue_id"], Value::Null);
    let later = create_queue(&app, "later").await;
    let (_, hb) = app.post(&hb_path, json!({})).await;
    assert_eq!(hb["work_queue_id"], json!(later));
    assert_eq!(hb["work_queue_name"], "later");
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::new().await;
    let cases = [
        (json!({"name": "", "work_queue_name": "q"}), "name"),
        (json!({"name": "a/b", "work_queue_name": "q"}), "name"),
        (
            json!({"name": "a", "work_queue_name": "   "}),
            "work_queue_name",
        ),
        (
            json!({"name": "a", "work_queue_name": "q<"}),
            "work_queue_name",
        ),
        (json!({"name": "a"}), "work_queue_name"),
        (
            json!({"name": "a", "work_queue_name": "q", "queue": "q"}),
            "queue",
        ),
        (
            json!({"name": "a", "work_queue_name": "q", "hostname": "x".repeat(300)}),
            "hostname",
        ),
        (
            json!({"name": "a", "work_queue_name": "q", "version": "1\n2"}),
            "version",
        ),
        (
            json!({"name": "a", "work_queue_name": "q", "pid": -1}),
            "pid",
        ),
    ];
    for (body, want) in cases {
        let (s, e) = app.post("/api/agents/", body.clone()).await;
        let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
        assert_eq!(field, want, "{body}: {e}");
    }

    let a = register(&app, "agent-1", "default").await;
    let (s, e) = app
        .post(
            &format!("/api/agents/{}/heartbeat", id(&a)),
            json!({"runs_in_flight": ["not-a-uuid"]}),
        )
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "runs_in_flight[0]");

    let (s, e) = app.get("/api/agents/not-a-uuid").await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "id");
    let (s, e) = app
        .call(Method::POST, "/api/agents/not-a-uuid/heartbeat", None)
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
}

/// A server on a real socket whose state (database, clock) the test can also reach.
pub(crate) struct RealServer {
    pub client: RigelClient,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl RealServer {
    pub async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            ServerConfig::new(format!("sqlite://{}", dir.path().join("r.db").display()));
        tweak(&mut config);
        let state = AppState::open(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let serve_state = state.clone();
        let task = tokio::spawn(async move {
            rigel_server::serve_state(serve_state, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            client: RigelClient::new(format!("http://{addr}/api")),
            state,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn typed_client_round_trip() {
    let clock = ManualClock::new(start_time());
    let c = clock.clone();
    let srv = RealServer::start(move |cfg| cfg.clock = Arc::new(c)).await;
    let client = &srv.client;
    let agent = client
        .register_agent(&AgentCreate {
            name: "agent-1".into(),
            work_queue_name: "default".into(),
            hostname: Some("box-1".into()),
            pid: Some(7),
            version: None,
        })
        .await
        .unwrap();
    assert_eq!(agent.status, AgentStatus::Online);
    assert_eq!(agent.started, start_time());

    clock.advance(chrono::Duration::seconds(60));
    let read = client.read_agent(agent.id).await.unwrap();
    assert_eq!(read.status, AgentStatus::Stale);
    assert!((read.heartbeat_age_seconds - 60.0).abs() < 1e-9);

    let run = Uuid::now_v7();
    let beat = client.agent_heartbeat(agent.id, &[run]).await.unwrap();
    assert_eq!(beat.runs_in_flight, [run]);
    assert_eq!(beat.status, AgentStatus::Online);

    let online = client
        .filter_agents(&AgentFilter {
            agents: AgentCriteria {
                status: Some(AnyFilter::new([AgentStatus::Online])),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(online.len(), 1);
    assert_eq!(online[0].id, agent.id);

    client.delete_agent(agent.id).await.unwrap();
    let err = client.agent_heartbeat(agent.id, &[]).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    srv.stop().await;
}

#[tokio::test]
async fn agent_and_log_routes_are_documented() {
    let app = TestApp::new().await;
    let (s, doc) = app.get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for (path, method) in [
        ("/api/agents/", "post"),
        ("/api/agents/{id}", "get"),
        ("/api/agents/{id}", "delete"),
        ("/api/agents/{id}/heartbeat", "post"),
        ("/api/agents/filter", "post"),
        ("/api/logs/", "post"),
        ("/api/logs/filter", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    for schema in [
        "Agent",
        "AgentFilter",
        "LogCreate",
        "LogBatchResult",
        "LogFilter",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

#[tokio::test]
async fn a_status_filter_listing_a_status_many_times_is_answered() {
    let (app, _clock) = app_with_clock().await;
    let agent = register(&app, "a", "q").await;
    // each listed status was one more OR in the query: SQLite refused 1000 of them (500)
    let statuses = vec!["online"; rigel_common::filter::MAX_ANY];
    let ids = filter_ids(&app, json!({"agents": {"status": {"any_": statuses}}})).await;
    assert_eq!(ids, vec![agent["id"].as_str().unwrap().to_string()]);
}
