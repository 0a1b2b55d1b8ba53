//! Schedules that need too much work: refused before any write, computed outside the write
//! transaction, and skipped by the scheduler without retrying every pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use axum::http::StatusCode;
use rigel_server::services::run_times::ComputeHook;
use rigel_server::services::scheduler::schedule_once;

use super::*;
use crate::assert_error;

/// Issue 17: 47 characters that took 23 s inside the write transaction.
const EXPENSIVE: &str = "RRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000";

fn refused_for_work(status: StatusCode, e: &Value) {
    let field = assert_error(
        status,
        e,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
    assert_eq!(field, "schedule.rrule", "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("too much work"), "{message}");
    assert!(message.contains("simplify"), "{message}");
    assert!(message.contains("FREQ=SECONDLY;BYSECOND=0"), "{message}");
}

#[tokio::test]
async fn a_rule_too_expensive_to_compute_is_refused_on_every_write() {
    let (app, _clock) = app_at("2026-03-08T06:00:00Z").await;
    let (s, e) = app
        .post(
            "/api/deployments/",
            body("sec", json!({ "rrule": EXPENSIVE })),
        )
        .await;
    refused_for_work(s, &e);
    let (s, _) = app.get("/api/deployments/name/etl/sec").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was written");

    // a PATCH to it, even of a paused deployment: the schedule is checked before it is stored
    let d = paused(&app, "patched", json!({"interval": 3600})).await;
    let (s, e) = app
        .patch(
            &format!("/api/deployments/{d}"),
            json!({"schedule": {"rrule": EXPENSIVE}, "is_schedule_active": true}),
        )
        .await;
    refused_for_work(s, &e);
    let (_, stored) = app.get(&format!("/api/deployments/{d}")).await;
    assert_eq!(stored["schedule"]["interval"], 3600.0, "{stored}");

    // stored behind the API's back, then resumed: refused, left paused
    sqlx::query("UPDATE deployment SET schedule = ? WHERE id = ?")
        .bind(json!({ "rrule": EXPENSIVE }).to_string())
        .bind(d)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let (s, e) = app
        .post(
            &format!("/api/deployments/{d}/set_schedule_active"),
            json!({}),
        )
        .await;
    refused_for_work(s, &e);
    let (_, stored) = app.get(&format!("/api/deployments/{d}")).await;
    assert_eq!(stored["is_schedule_active"], false);
    // a backfill over years of it too
    let (s, e) = app
        .post(
            &format!("/api/deployments/{d}/schedule"),
            json!({"start_time": "2026-03-01T00:00:00Z", "end_time": "2026-03-02T00:00:00Z"}),
        )
        .await;
    refused_for_work(s, &e);
    // a change that does not reschedule does not recompute it
    let (s, e) = app
        .patch(
            &format!("/api/deployments/{d}"),
            json!({"description": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");

    // the same rule starting recently is fine
    let recent = format!("DTSTART:20260308T000000Z\n{EXPENSIVE}");
    let d = id(&app
        .create_deployment(body("recent", json!({ "rrule": recent })))
        .await);
    assert!(
        runs(&app, d).await.len() >= 60,
        "an hour of runs, one a minute"
    );
}

#[tokio::test]
async fn rrule_lines_and_dates_are_capped() {
    let (app, _clock) = app_at("2026-03-08T06:00:00Z").await;
    let lines: Vec<String> = (0..21)
        .map(|h| format!("RRULE:FREQ=DAILY;BYHOUR={}", h % 24))
        .collect();
    let (s, e) = app
        .post(
            "/api/deployments/",
            body("lines", json!({"rrule": lines.join("\n")})),
        )
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "schedule.rrule");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 20"),
        "{e}"
    );
    // twenty are fine
    app.create_deployment(body("lines", json!({"rrule": lines[..20].join("\n")})))
        .await;

    let dates: Vec<String> = (0..101)
        .map(|i| format!("2027{:02}{:02}T090000Z", 1 + i / 28, 1 + i % 28))
        .collect();
    let (s, e) = app
        .post(
            "/api/deployments/",
            body(
                "dates",
                json!({"rrule": format!("RRULE:FREQ=DAILY\nEXDATE:{}", dates.join(","))}),
            ),
        )
        .await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "schedule.rrule");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100"),
        "{e}"
    );
}

/// Holds every schedule computation a request makes until the test lets it go, and says when
/// one is waiting.
fn holding_hook() -> (
    ComputeHook,
    mpsc::Receiver<()>,
    mpsc::SyncSender<()>,
    Arc<AtomicBool>,
) {
    let (entered_tx, entered) = mpsc::sync_channel::<()>(16);
    let (release, release_rx) = mpsc::sync_channel::<()>(16);
    let release_rx = std::sync::Mutex::new(release_rx);
    let armed = Arc::new(AtomicBool::new(false));
    let on = armed.clone();
    let hook = ComputeHook::new(move || {
        if on.load(Ordering::SeqCst) {
            entered_tx.send(()).unwrap();
            // bounded so a broken test fails instead of hanging
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        }
    });
    (hook, entered, release, armed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_go_on_while_a_deployment_write_computes_its_runs() {
    let (hook, entered, release, armed) = holding_hook();
    let (app, _clock) = app_with("2026-03-08T06:00:00Z", move |c| c.compute_hook = hook).await;
    let app = Arc::new(app);
    armed.store(true, Ordering::SeqCst);
    // an admissible rule whose listing is most of the budget
    let rule = "DTSTART:20250801T000000Z\nRRULE:FREQ=MINUTELY;COUNT=1000000000";
    let create = {
        let app = app.clone();
        tokio::spawn(async move {
            app.post("/api/deployments/", body("slow", json!({ "rrule": rule })))
                .await
        })
    };
    // every computation the create makes (validating, listing runs) is held while another
    // write goes through: none of them happens while the write connection is taken
    let mut held = 0;
    while !create.is_finished() {
        let waiting = tokio::task::block_in_place(|| entered.recv_timeout(Duration::from_secs(5)));
        if waiting.is_err() {
            break;
        }
        held += 1;
        let (s, flow) = tokio::time::timeout(
            Duration::from_secs(10),
            app.post("/api/flows/", json!({"name": format!("other-{held}")})),
        )
        .await
        .expect("a flow write waited for a deployment write's computation");
        assert_eq!(s, StatusCode::CREATED, "{flow}");
        release.send(()).unwrap();
    }
    assert!(
        held >= 2,
        "validation and the runs were computed off the writer: {held}"
    );
    let (s, d) = create.await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert!(
        runs(&app, id(&d)).await.len() >= 60,
        "an hour of runs, one a minute"
    );
}

#[tokio::test]
async fn the_scheduler_skips_a_failing_schedule_until_it_changes() {
    let (app, clock) = app_at("2026-03-08T06:00:00Z").await;
    let good = id(&app
        .create_deployment(body("good", json!({"interval": 3600})))
        .await);
    let bad = paused(&app, "bad", json!({"interval": 3600})).await;
    sqlx::query("UPDATE deployment SET schedule = ?, is_schedule_active = 1 WHERE id = ?")
        .bind(json!({ "rrule": EXPENSIVE }).to_string())
        .bind(bad)
        .execute(&app.state.db.write)
        .await
        .unwrap();

    // tried (in both sweeps of the pass), then remembered
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(stats.deployments_failed, 2, "{stats:?}");
    assert_eq!(app.state.failing_schedules.len(), 1);
    // later passes don't compute it again
    clock.advance(chrono::TimeDelta::minutes(10));
    for _ in 0..3 {
        let stats = schedule_once(&app.state).await.unwrap();
        assert_eq!(stats.deployments_failed, 0, "{stats:?}");
        assert_eq!(stats.deployments_skipped, 2, "{stats:?}");
    }
    assert!(runs(&app, good).await.len() >= 3);
    assert!(runs(&app, bad).await.is_empty());
    // after an hour it is tried once more
    clock.advance(chrono::TimeDelta::hours(1));
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(stats.deployments_failed, 2, "{stats:?}");

    // changed behind the API's back (so only the scheduler materialises it): tried at once
    sqlx::query("UPDATE deployment SET schedule = ? WHERE id = ?")
        .bind(json!({"rrule": "FREQ=HOURLY"}).to_string())
        .bind(bad)
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(
        (stats.deployments_failed, stats.deployments_skipped),
        (0, 0),
        "{stats:?}"
    );
    assert!(runs(&app, bad).await.len() >= 3);
    assert!(app.state.failing_schedules.is_empty());
}
