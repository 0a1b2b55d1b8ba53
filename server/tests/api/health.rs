//! `GET /api/health` tells the truth about the database.

use axum::http::StatusCode;

use crate::{assert_error, TestApp};

#[tokio::test]
async fn health_says_when_the_database_cannot_be_written_and_recovers() {
    let app = TestApp::with_config(|c| c.health_probe_every = std::time::Duration::ZERO).await;
    let (status, body) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");

    // writes fail, as on a full disk (a fresh connection would not help: the failure is in
    // the database itself)
    sqlx::query(
        "CREATE TRIGGER fail_writes BEFORE UPDATE ON server_secret
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    )
    .execute(&app.state.db.write)
    .await
    .unwrap();
    let (status, body) = app.get("/api/health").await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    let problems = body["error"]["details"]["problems"].to_string();
    assert!(
        problems.contains("can't be written") && problems.contains("disk is full"),
        "{body}"
    );

    sqlx::query("DROP TRIGGER fail_writes")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let (status, body) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK, "recovers without a restart: {body}");
}

#[tokio::test]
async fn health_probes_are_shared_by_the_calls_of_a_second() {
    let app = TestApp::new().await;
    let before = app
        .state
        .db
        .writer
        .stats()
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..20 {
        assert_eq!(app.get("/api/health").await.0, StatusCode::OK);
    }
    let after = app
        .state
        .db
        .writer
        .stats()
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        after - before <= 2,
        "{} probe writes for 20 calls",
        after - before
    );
}
