use axum::http::StatusCode;
use rigel_server::ServerConfig;

use crate::TestApp;

/// Migrations apply to an empty database, re-opening applies nothing twice, and data survives.
#[tokio::test]
async fn data_survives_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let app = TestApp::open(ServerConfig::new(&url)).await;
    let d = app
        .create_deployment(TestApp::deployment_body("f", "d"))
        .await;
    let id = d["id"].as_str().unwrap().to_string();
    app.state.db.close().await;
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .count();
    for _ in 0..2 {
        let app = TestApp::open(ServerConfig::new(&url)).await;
        let (s, got) = app.get(&format!("/api/deployments/{id}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(got, d);
        let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations")
            .fetch_all(&app.state.db.read)
            .await
            .unwrap();
        assert_eq!(applied.len(), migrations);
        app.state.db.close().await;
    }
}
