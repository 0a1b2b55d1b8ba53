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

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_and_they_resume_once_space_is_free() {
    let app = TestApp::with_config(|c| {
        c.run_services = false;
        c.health_probe_every = std::time::Duration::ZERO;
    })
    .await;
    let d = crate::flow_runs::deployment(&app).await;
    let run = crate::flow_runs::run_of(&app, &d, serde_json::json!({})).await;
    fill_up(&app).await;
    let mut body = TestApp::deployment_body("big", "one");
    body["description"] = serde_json::json!("x".repeat(60_000));
    let (status, answer) = app.post("/api/deployments/", body.clone()).await;
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("disk is full"));
    // health reports the refusal, though its own one-page write may still fit
    let (status, answer) = app.get("/api/health").await;
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    let problems = answer["error"]["details"]["problems"].to_string();
    assert!(
        problems.contains("refused since the last check") && problems.contains("disk is full"),
        "{answer}"
    );
    // writes through the writer's queue: log records, and run creations, which are written
    // together in one job (a failure of that job was answered 500 to each of them)
    let line = "y".repeat(2_000);
    let records: Vec<serde_json::Value> = (0..40)
        .map(|_| {
            serde_json::json!({"flow_run_id": run["id"], "level": 20, "message": line,
                "timestamp": "2026-05-01T12:00:00Z"})
        })
        .collect();
    // (the limit belongs to the connection, which a failed write may have replaced)
    fill_up(&app).await;
    let (status, answer) = until_refused(&app, "/api/logs/", records.clone().into()).await;
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );

    let create_run = format!(
        "/api/deployments/{}/create_flow_run",
        d["id"].as_str().unwrap()
    );
    fill_up(&app).await;
    let (status, answer) = until_refused(&app, &create_run, serde_json::json!({})).await;
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    // that batch was lost whole: health says so, though its own one-page write still fits
    let (status, answer) = app.get("/api/health").await;
    assert_error(
        status,
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(
        answer["error"]["details"]["problems"]
            .to_string()
            .contains("disk is full"),
        "{answer}"
    );

    sqlx::query("PRAGMA max_page_count = 1073741823")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let (status, answer) = app.post("/api/deployments/", body).await;
    assert_eq!(status, StatusCode::CREATED, "no restart needed: {answer}");
    let (status, _) = app
        .post("/api/flows/", serde_json::json!({"name": "after"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = app.post("/api/logs/", records.into()).await;
    assert!(status.is_success(), "{answer}");
    let (status, answer) = app.post(&create_run, serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The database may not grow any more, as on a full disk: a limit on the write connection, set
/// from the writer (which replaces a connection a failed write left in an unknown state).
async fn fill_up(app: &TestApp) {
    app.state
        .db
        .writer
        .run(|conn| {
            Box::pin(async move {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(&mut *conn)
                    .await?;
                sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
}

/// Posts `body` until it is refused (the free pages the database has in hand are used up first).
async fn until_refused(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    for _ in 0..200 {
        let (status, answer) = app.post(path, body.clone()).await;
        if !status.is_success() {
            return (status, answer);
        }
    }
    panic!("{path}: the database never filled up");
}
