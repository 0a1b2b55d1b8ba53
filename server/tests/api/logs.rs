use axum::http::{Method, StatusCode};
use chrono::{TimeZone, Utc};
use rigel_common::error::ErrorCode;
use rigel_common::filter::AnyFilter;
use rigel_common::log::{level, LevelFilter, LogCreate, LogCriteria, LogFilter};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::agents::RealServer;
use crate::{assert_error, TestApp};

/// Inserts a flow run directly (the flow-run API is tested on its own).
async fn flow_run(app: &TestApp) -> Uuid {
    let (s, flow) = app
        .post("/api/flows/", json!({"name": "logging-flow"}))
        .await;
    assert!(s.is_success(), "{flow}");
    let flow_id: Uuid = flow["id"].as_str().unwrap().parse().unwrap();
    insert_flow_run(&app.state.db, flow_id).await
}

async fn insert_flow_run(db: &rigel_server::Db, flow_id: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO flow_run (id, name, flow_id, state_type, state_name, state_timestamp,
             created, updated)
         VALUES (?, ?, ?, 'RUNNING', 'Running', 0, 0, 0)",
    )
    .bind(id)
    .bind(format!("run-{id}"))
    .bind(flow_id)
    .execute(&db.write)
    .await
    .unwrap();
    id
}

async fn task_run(app: &TestApp, flow_run: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO task_run (id, flow_run_id, name, state_type, state_name, state_timestamp,
             created, updated)
         VALUES (?, ?, 'extract', 'RUNNING', 'Running', 0, 0, 0)",
    )
    .bind(id)
    .bind(flow_run)
    .execute(&app.state.db.write)
    .await
    .unwrap();
    id
}

fn record(run: Uuid, level: u8, message: &str) -> Value {
    json!({"flow_run_id": run, "level": level, "message": message,
        "timestamp": "2024-05-01T12:00:00.123456Z"})
}

async fn ship(app: &TestApp, records: Vec<Value>) -> (StatusCode, Value) {
    app.post("/api/logs/", Value::Array(records)).await
}

async fn messages(app: &TestApp, filter: Value) -> Vec<String> {
    let (s, logs) = app.post("/api/logs/filter", filter).await;
    assert_eq!(s, StatusCode::OK, "{logs}");
    logs.as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

async fn stored_count(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM log")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn batch_then_filter_by_run_and_level() {
    let app = TestApp::new().await;
    let a = flow_run(&app).await;
    let b = flow_run(&app).await;
    let (s, done) = ship(
        &app,
        vec![
            record(a, 20, "a: starting"),
            record(b, 10, "b: debug"),
            record(a, 40, "a: boom"),
            record(a, 10, "a: detail"),
            record(b, 30, "b: careful"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    assert_eq!(done, json!({"count": 5}));

    let (_, logs) = app
        .post(
            "/api/logs/filter",
            json!({"logs": {"flow_run_id": {"any_": [a]}}}),
        )
        .await;
    let logs = logs.as_array().unwrap();
    let got: Vec<&str> = logs
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["a: starting", "a: boom", "a: detail"], "oldest first");
    assert_eq!(logs[0]["flow_run_id"], json!(a));
    assert_eq!(logs[0]["task_run_id"], Value::Null);
    assert_eq!(logs[0]["level"], 20);
    assert_eq!(logs[0]["timestamp"], "2024-05-01T12:00:00.123456Z");
    let ids: Vec<i64> = logs.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    assert_eq!(
        messages(
            &app,
            json!({"logs": {"flow_run_id": {"any_": [a]}, "level": {"ge_": 20}}})
        )
        .await,
        ["a: starting", "a: boom"]
    );
    assert_eq!(
        messages(&app, json!({"logs": {"level": {"ge_": 30}}})).await,
        ["a: boom", "b: careful"]
    );
    assert_eq!(
        messages(
            &app,
            json!({"logs": {"flow_run_id": {"any_": [a, b]}}, "limit": 2, "offset": 1})
        )
        .await,
        ["b: debug", "a: boom"]
    );
    assert!(
        messages(&app, json!({"logs": {"flow_run_id": {"any_": []}}}))
            .await
            .is_empty()
    );
    assert_eq!(
        messages(
            &app,
            json!({"logs": {"timestamp_after": "2024-05-01T12:00:00.123457Z"}})
        )
        .await
        .len(),
        0
    );
}

#[tokio::test]
async fn following_with_a_cursor_reads_only_new_records() {
    let app = TestApp::new().await;
    let run = flow_run(&app).await;
    let other = flow_run(&app).await;
    ship(&app, vec![record(run, 20, "one"), record(run, 20, "two")]).await;
    let filter = |after: Option<i64>| {
        let mut logs = json!({"flow_run_id": {"any_": [run]}});
        if let Some(after) = after {
            logs["after_id"] = json!(after);
        }
        json!({"logs": logs})
    };
    let (_, page) = app.post("/api/logs/filter", filter(None)).await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    let last = page[1]["id"].as_i64().unwrap();

    assert!(messages(&app, filter(Some(last))).await.is_empty());
    ship(
        &app,
        vec![
            record(other, 20, "elsewhere"),
            record(run, 20, "three"),
            record(run, 20, "four"),
        ],
    )
    .await;
    assert_eq!(messages(&app, filter(Some(last))).await, ["three", "four"]);
    assert_eq!(
        messages(&app, filter(None)).await,
        ["one", "two", "three", "four"]
    );
}

#[tokio::test]
async fn task_run_records() {
    let app = TestApp::new().await;
    let run = flow_run(&app).await;
    let other = flow_run(&app).await;
    let task = task_run(&app, run).await;
    let foreign = task_run(&app, other).await;
    let mut with_task = record(run, 20, "from the task");
    with_task["task_run_id"] = json!(task);
    let (s, _) = ship(&app, vec![record(run, 20, "from the flow"), with_task]).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        messages(&app, json!({"logs": {"task_run_id": {"any_": [task]}}})).await,
        ["from the task"]
    );

    // a task run of another flow run is refused, and nothing of the batch is kept
    let mut wrong = record(run, 20, "misattributed");
    wrong["task_run_id"] = json!(foreign);
    let (s, e) = ship(&app, vec![record(run, 20, "fine"), wrong]).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[1].task_run_id");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&other.to_string()),
        "names the owner: {e}"
    );
    let mut unknown = record(run, 20, "ghost");
    unknown["task_run_id"] = json!(Uuid::now_v7());
    let (s, e) = ship(&app, vec![unknown]).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[0].task_run_id");
    assert_eq!(stored_count(&app).await, 2);
}

#[tokio::test]
async fn a_bad_record_rejects_the_whole_batch() {
    let app = TestApp::new().await;
    let run = flow_run(&app).await;
    let ghost = Uuid::now_v7();
    let (s, e) = ship(
        &app,
        vec![
            record(run, 20, "kept?"),
            record(run, 20, "kept?"),
            record(ghost, 20, "orphan"),
            record(Uuid::now_v7(), 20, "another orphan"),
        ],
    )
    .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[2].flow_run_id", "the first unknown run is named");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&ghost.to_string()));
    assert_eq!(
        stored_count(&app).await,
        0,
        "nothing from the batch is stored"
    );

    let (s, e) = ship(
        &app,
        vec![record(run, 20, "ok"), record(run, 51, "too loud")],
    )
    .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[1].level");
    let (s, e) = ship(
        &app,
        vec![
            record(run, 20, "ok"),
            json!({"flow_run_id": run,
        "level": 300, "message": "x", "timestamp": "2024-05-01T12:00:00Z"}),
        ],
    )
    .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[1].level");
    let mut unknown_field = record(run, 20, "x");
    unknown_field["lvl"] = json!(1);
    let (s, e) = ship(&app, vec![unknown_field]).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[0].lvl");
    let (s, e) = ship(&app, vec![record(run, 20, &"x".repeat(64 * 1024 + 1))]).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "[0].message");
    let (s, _) = ship(&app, vec![record(run, 20, &"x".repeat(64 * 1024))]).await;
    assert_eq!(s, StatusCode::CREATED, "exactly 64 KiB is accepted");
    assert_eq!(stored_count(&app).await, 1);
}

#[tokio::test]
async fn batch_size_limits() {
    let app = TestApp::new().await;
    let run = flow_run(&app).await;
    let (s, e) = ship(&app, vec![]).await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("1000"),
        "{e}"
    );

    let too_many: Vec<Value> = (0..1001)
        .map(|i| record(run, 20, &format!("line {i}")))
        .collect();
    let (s, e) = ship(&app, too_many).await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("1000"),
        "{e}"
    );
    assert_eq!(stored_count(&app).await, 0);

    // a full batch is stored whole, in order, across the insert chunks
    let full: Vec<Value> = (0..1000)
        .map(|i| record(run, 20, &format!("line {i}")))
        .collect();
    let (s, done) = ship(&app, full).await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    assert_eq!(done["count"], 1000);
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let mut logs = json!({"flow_run_id": {"any_": [run]}});
        if let Some(a) = after {
            logs["after_id"] = json!(a);
        }
        let (_, page) = app
            .post("/api/logs/filter", json!({"logs": logs, "limit": 200}))
            .await;
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap()["id"].as_i64();
        seen.extend(
            page.iter()
                .map(|l| l["message"].as_str().unwrap().to_string()),
        );
    }
    let want: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, want);

    // not an array at all
    let (s, e) = app
        .call(Method::POST, "/api/logs/", Some(record(run, 20, "lonely")))
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    let (s, e) = app.post("/api/logs/filter", json!({"limit": 201})).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "limit");
}

#[tokio::test]
async fn typed_client_round_trip() {
    let srv = RealServer::start(|_| {}).await;
    let client = &srv.client;
    let (flow, _) = client
        .create_flow(&rigel_common::flow::FlowCreate {
            name: "logging-flow".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    let run = insert_flow_run(&srv.state.db, flow.id).await;
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let records: Vec<LogCreate> = [level::DEBUG, level::INFO, level::ERROR]
        .into_iter()
        .map(|lvl| LogCreate {
            flow_run_id: run,
            task_run_id: None,
            level: lvl,
            timestamp: at,
            message: format!("level {lvl}"),
        })
        .collect();
    assert_eq!(client.create_logs(&records).await.unwrap(), 3);

    let filter = LogFilter {
        logs: LogCriteria {
            flow_run_id: Some(AnyFilter::new([run])),
            level: Some(LevelFilter {
                ge_: Some(level::INFO),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let logs = client.filter_logs(&filter).await.unwrap();
    let got: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(got, ["level 20", "level 40"]);
    assert_eq!(logs[0].timestamp, at);

    let mut orphan = records[0].clone();
    orphan.flow_run_id = Uuid::now_v7();
    let err = client.create_logs(&[orphan]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ValidationError), "{err}");
    srv.stop().await;
}

#[tokio::test]
async fn a_run_keeps_at_most_its_quota_of_log_bytes() {
    use rigel_common::log::MAX_RUN_LOG_BYTES;
    let app = TestApp::new().await;
    let run = flow_run(&app).await;
    let other = flow_run(&app).await;
    let (status, _) = ship(&app, vec![record(run, level::INFO, "first")]).await;
    assert_eq!(status, StatusCode::CREATED);
    // as if it had written nearly all it may already
    sqlx::query("UPDATE flow_run SET log_bytes = ? WHERE id = ?")
        .bind(MAX_RUN_LOG_BYTES - 10)
        .bind(run)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let before = stored_count(&app).await;
    let (status, body) = ship(
        &app,
        vec![
            record(other, level::INFO, "another run's line"),
            record(run, level::INFO, "one line too many"),
        ],
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100 MB"),
        "{body}"
    );
    assert_eq!(
        stored_count(&app).await,
        before,
        "nothing of the batch is kept"
    );
    let (status, _) = ship(&app, vec![record(other, level::INFO, "fine")]).await;
    assert_eq!(status, StatusCode::CREATED, "other runs are not affected");
}
