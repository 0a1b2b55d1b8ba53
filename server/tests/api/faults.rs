//! Storage faults: an empty or orphaned database file, a lock another process holds past the
//! busy timeout, a damaged page. Each is refused or answered 503 saying what to do, never a 500
//! or a silently empty database, and the server recovers without a restart where it can.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use rigel_server::db::DbOpenError;
use rigel_server::{AppState, ServerConfig};
use serde_json::json;
use sqlx::Connection;

use crate::flow_runs::{deployment, run_of};
use crate::{assert_error, TestApp};

fn url_of(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

fn wal_of(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", file.display()))
}

/// A database at `file` holding one flow named "kept", closed.
async fn database_with_a_flow(file: &Path) {
    let app = TestApp::open(ServerConfig::new(url_of(file))).await;
    let (s, _) = app.post("/api/flows/", json!({"name": "kept"})).await;
    assert_eq!(s, StatusCode::CREATED);
    app.state.db.close().await;
}

async fn open_error(config: ServerConfig) -> String {
    match AppState::open(config).await {
        Ok(_) => panic!("the database was opened"),
        Err(e @ (DbOpenError::Lost(_) | DbOpenError::Damaged { .. })) => e.to_string(),
        Err(e) => panic!("refused for another reason: {e}"),
    }
}

#[tokio::test]
async fn an_emptied_database_file_is_refused_instead_of_started_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.db");
    database_with_a_flow(&file).await;
    // truncated (a failed copy, a restore gone wrong)
    std::fs::File::create(&file).unwrap();
    let message = open_error(ServerConfig::new(url_of(&file))).await;
    assert!(
        message.contains(&file.display().to_string())
            && message.contains("is empty (0 bytes)")
            && message.contains("delete the file"),
        "{message}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "left as found");

    // an empty file its opener has just created (to choose its permissions) is a new database
    let mut config = ServerConfig::new(url_of(&file));
    config.database.created_empty = true;
    let app = TestApp::open(config).await;
    let (s, _) = app.get("/api/flows/name/kept").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.state.db.close().await;

    // and a first start, with no file at all, needs nothing
    let fresh = dir.path().join("fresh.db");
    let app = TestApp::open(ServerConfig::new(url_of(&fresh))).await;
    assert_eq!(app.get("/api/health").await.0, StatusCode::OK);
}

/// A write-ahead log holds the last commits until they are copied into the database file; SQLite
/// deletes a log found beside a missing or empty file, so opening that pair would lose them.
#[tokio::test]
async fn a_write_ahead_log_without_its_database_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.db");
    let app = TestApp::open(ServerConfig::new(url_of(&file))).await;
    let (s, _) = app.post("/api/flows/", json!({"name": "in-the-log"})).await;
    assert_eq!(s, StatusCode::CREATED);
    // the log as a crash would leave it, its commits not yet copied into the database
    let orphan = dir.path().join("orphan.db");
    std::fs::copy(wal_of(&file), wal_of(&orphan)).unwrap();
    let logged = std::fs::metadata(wal_of(&orphan)).unwrap().len();
    assert!(logged > 0);
    app.state.db.close().await;

    let message = open_error(ServerConfig::new(url_of(&orphan))).await;
    assert!(
        message.contains("is missing") && message.contains("write-ahead log"),
        "{message}"
    );
    std::fs::File::create(&orphan).unwrap();
    let mut config = ServerConfig::new(url_of(&orphan));
    // not even for a caller that has just created the empty file
    config.database.created_empty = true;
    let message = open_error(config).await;
    assert!(
        message.contains("is empty (0 bytes), but its write-ahead log")
            && message.contains(&format!("({logged} bytes)")),
        "{message}"
    );
    assert_eq!(
        std::fs::metadata(wal_of(&orphan)).unwrap().len(),
        logged,
        "the log is kept"
    );
}

/// Another process (a `sqlite3` shell, a backup tool) holds the write lock longer than the busy
/// timeout: writes are answered 503 saying so, reads go on (WAL), and once it lets go everything
/// works again without a restart.
#[tokio::test]
async fn a_lock_held_past_the_busy_timeout_refuses_writes_with_503_until_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.db");
    let mut config = ServerConfig::new(url_of(&file));
    config.database.busy_timeout = Duration::from_millis(100);
    config.health_probe_every = Duration::ZERO;
    config.run_services = false;
    let app = TestApp::open(config).await;
    let d = deployment(&app).await;
    let (s, _) = app.post("/api/flows/", json!({"name": "before"})).await;
    assert_eq!(s, StatusCode::CREATED);

    let mut other = sqlx::SqliteConnection::connect(&url_of(&file))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    // a write in a transaction of its own, and one through the writer's queue
    let (s, body) = app.post("/api/flows/", json!({"name": "during"})).await;
    assert_error(s, &body, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locked by another process"),
        "{body}"
    );
    let (s, body) = app
        .post(
            &format!(
                "/api/deployments/{}/create_flow_run",
                d["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_error(s, &body, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("locked"));
    // reads are not held up
    let (s, _) = app.get("/api/flows/name/before").await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = app.get("/api/health").await;
    assert_error(s, &body, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let problems = body["error"]["details"]["problems"].to_string();
    assert!(
        problems.contains("can't be written") && problems.contains("locked"),
        "{body}"
    );

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let (s, body) = app.post("/api/flows/", json!({"name": "after"})).await;
    assert_eq!(s, StatusCode::CREATED, "no restart needed: {body}");
    run_of(&app, &d, json!({})).await;
    let (s, body) = app.get("/api/health").await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// Overwrites bytes in the middle of the cells of `table`'s only page (a b-tree leaf) of the
/// closed database at `file`; the page's number.
async fn damage_table(file: &Path, table: &str) -> i64 {
    let mut conn = sqlx::SqliteConnection::connect(&url_of(file))
        .await
        .unwrap();
    let (root, page_size): (i64, i64) = sqlx::query_as(
        "SELECT rootpage, (SELECT page_size FROM pragma_page_size()) FROM sqlite_schema
         WHERE type = 'table' AND name = ?",
    )
    .bind(table)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // every commit copied into the file itself
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(busy, 0);
    conn.close().await.unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    let page = usize::try_from((root - 1) * page_size).unwrap();
    let size = usize::try_from(page_size).unwrap();
    assert_eq!(bytes[page], 13, "the table fits one leaf page");
    // the cells fill the page from this offset to its end
    let cells = usize::from(u16::from_be_bytes([bytes[page + 5], bytes[page + 6]]));
    let middle = page + (cells + size) / 2;
    bytes[middle..middle + 64].fill(0xff);
    std::fs::write(file, bytes).unwrap();
    root
}

#[tokio::test]
async fn a_damaged_page_is_refused_at_start_and_answered_503_when_served_anyway() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.db");
    let app = TestApp::open(ServerConfig::new(url_of(&file))).await;
    for n in 0..8 {
        let mut body = TestApp::deployment_body("f", &format!("d{n}"));
        body["description"] = json!("x".repeat(200));
        app.create_deployment(body).await;
    }
    app.state.db.close().await;
    let page = damage_table(&file, "deployment").await;

    let message = open_error(ServerConfig::new(url_of(&file))).await;
    assert!(
        message.contains("is damaged") && message.contains("--skip-db-check"),
        "{message}"
    );
    assert!(
        message.contains(&format!("page {page}")),
        "names the finding: {message}"
    );

    let mut config = ServerConfig::new(url_of(&file));
    config.database.check = false;
    config.health_probe_every = Duration::ZERO;
    config.run_services = false;
    let app = TestApp::open(config).await;
    // what the damage does not reach is served
    let (s, body) = app.get("/api/flows/name/f").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = app.get("/api/health").await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the probe's own read misses the page: {body}"
    );
    // what it reaches is answered 503 saying so, not 500
    let (s, body) = app.post("/api/deployments/filter", json!({})).await;
    assert_error(s, &body, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database is damaged"),
        "{body}"
    );
    assert!(
        body["error"]["details"]["problems"]
            .to_string()
            .contains("malformed"),
        "{body}"
    );
    // and health remembers it
    let (s, body) = app.get("/api/health").await;
    assert_error(s, &body, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        body["error"]["details"]["problems"]
            .to_string()
            .contains("damaged"),
        "{body}"
    );
}
