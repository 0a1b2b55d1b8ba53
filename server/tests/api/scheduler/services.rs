//! The scheduler and late-run services running inside a real server, until it stops.

use std::time::Duration;

use rigel_common::backfill::BackfillRequest;
use rigel_common::client::RigelClient;

use super::*;

#[tokio::test]
async fn the_server_runs_the_services_and_stops_them_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(format!("sqlite://{}", dir.path().join("s.db").display()));
    config.scheduler.interval = Duration::from_millis(20);
    config.late_runs.interval = Duration::from_millis(20);
    // these sleep an hour after their first pass: stopping must not wait for the sleep
    config.reaper.interval = Duration::from_secs(3600);
    config.retention.interval = Duration::from_secs(3600);
    let state = AppState::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rigel_server::serve_state(state.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = RigelClient::new(format!("http://{addr}/api"));
    let mut spec: rigel_common::deployment::DeploymentCreate =
        serde_json::from_value(body("d", json!({"interval": 60}))).unwrap();
    spec.is_schedule_active = Some(false);
    let (d, _) = client.create_deployment(&spec).await.unwrap();
    // backfill through the typed client, while paused
    let now = Utc::now();
    let r = client
        .backfill_deployment(
            d.id,
            &BackfillRequest::new(now - chrono::Duration::minutes(10), now),
        )
        .await
        .unwrap();
    let backfilled = r.runs.len() as i64;
    assert!((10..=11).contains(&backfilled), "{backfilled}");
    // activated behind the API's back: only the running scheduler can materialise it
    sqlx::query("UPDATE deployment SET is_schedule_active = 1 WHERE id = ?")
        .bind(d.id)
        .execute(&state.db.write)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (future,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM flow_run WHERE state_name = 'Scheduled'
             AND next_scheduled_start_time > ?",
        )
        .bind(Utc::now().timestamp_micros())
        .fetch_one(&state.db.read)
        .await
        .unwrap();
        let (late,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM flow_run WHERE state_name = 'Late'")
                .fetch_one(&state.db.read)
                .await
                .unwrap();
        // all but the most recent backfilled run are more than 15 s overdue by now, or soon
        if future >= 60 && late >= backfilled - 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "services did not run: {future} future, {late} late"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    // a stop that waited for a service's sleep would take an hour; the bound only fails that
    tokio::time::timeout(Duration::from_secs(60), server)
        .await
        .expect("the server waited for a service's interval to stop")
        .unwrap()
        .unwrap();
}
