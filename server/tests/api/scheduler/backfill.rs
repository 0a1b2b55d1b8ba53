//! Backfills: creating the runs of a window once, and bad backfill requests.

use axum::http::StatusCode;

use crate::assert_error;

use super::*;

#[tokio::test]
async fn backfill_creates_a_window_once() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = paused(&app, "d", json!({"cron": "0 * * * *"})).await;
    let path = format!("/api/deployments/{d}/schedule");
    let window = json!({"start_time": "2025-12-31T20:00:00Z", "end_time": "2025-12-31T23:00:00Z"});
    let (s, r) = app.post(&path, window.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let got: Vec<&str> = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["next_scheduled_start_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "2025-12-31T20:00:00Z",
            "2025-12-31T21:00:00Z",
            "2025-12-31T22:00:00Z",
            "2025-12-31T23:00:00Z"
        ]
    );
    assert_eq!(r["existing"], 0);
    assert_eq!(r["runs"][0]["auto_scheduled"], true);
    assert_eq!(r["runs"][0]["state"]["name"], "Scheduled");
    assert_eq!(r["runs"][0]["parameters"], json!({"n": 1}));
    assert!(r.get("next_time").is_none(), "{r}");
    let (s, again) = app.post(&path, window).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["runs"], json!([]));
    assert_eq!(again["existing"], 4);
    // overlapping and cut short by max_runs: says where to continue
    let (s, r) = app
        .post(
            &path,
            json!({"start_time": "2025-12-31T22:00:00Z", "end_time": "2026-01-01T03:00:00Z",
                "max_runs": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["existing"], 2);
    assert_eq!(r["runs"].as_array().unwrap().len(), 1);
    assert_eq!(
        r["runs"][0]["next_scheduled_start_time"],
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(r["next_time"], "2026-01-01T01:00:00Z");
    assert_eq!(runs(&app, d).await.len(), 5);
    // the scheduler, once resumed, does not repeat backfilled times
    app.post(
        &format!("/api/deployments/{d}/set_schedule_active"),
        json!({}),
    )
    .await;
    let (s, r) = app
        .post(
            &path,
            json!({"start_time": "2026-01-01T00:30:00Z", "end_time": "2026-01-01T05:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["existing"], 3, "01:00-03:00 came from the schedule");
    assert_eq!(r["runs"].as_array().unwrap().len(), 2);
    assert_eq!(duplicates(&app.state).await, 0);
}

#[tokio::test]
async fn backfill_input_errors() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = paused(&app, "d", json!({"cron": "0 * * * *"})).await;
    let path = format!("/api/deployments/{d}/schedule");
    for (body, field) in [
        (
            json!({"start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "end_time",
        ),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "end_time",
        ),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z",
                "max_runs": 0}),
            "max_runs",
        ),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z",
                "max_runs": 1001}),
            "max_runs",
        ),
        (
            json!({"start_time": "yesterday", "end_time": "2026-01-02T00:00:00Z"}),
            "start_time",
        ),
        (json!({"start_time": "2026-01-01T00:00:00Z"}), ""),
        (
            json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z",
                "limit": 3}),
            "limit",
        ),
    ] {
        let (s, e) = app.post(&path, body.clone()).await;
        let got = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
        if !field.is_empty() {
            assert_eq!(got, field, "{body}: {e}");
        }
    }
    let ok = json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"});
    let (s, e) = app
        .post(
            &format!("/api/deployments/{}/schedule", Uuid::now_v7()),
            ok.clone(),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let plain = id(&app
        .create_deployment(TestApp::deployment_body("etl", "unscheduled"))
        .await);
    let (s, e) = app
        .post(&format!("/api/deployments/{plain}/schedule"), ok)
        .await;
    assert_error(s, &e, StatusCode::CONFLICT, "conflict");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no schedule"),
        "{e}"
    );
}

/// Every run copies the deployment's parameters: a backfill that would write more than 8 MiB
/// of them is refused before anything is written, naming how many runs fit.
#[tokio::test]
async fn a_backfill_copies_at_most_eight_mib_of_parameters() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let mut b = body("big", json!({"cron": "* * * * *"}));
    b["is_schedule_active"] = json!(false);
    // 200,000 characters of parameters (a little more as JSON): 41 runs fit in 8 MiB
    b["parameters"] = json!({"blob": "x".repeat(200_000)});
    let d = id(&app.create_deployment(b).await);
    let path = format!("/api/deployments/{d}/schedule");
    let window = |max_runs: u32| {
        json!({"start_time": "2025-12-31T00:00:00Z", "end_time": "2025-12-31T23:00:00Z",
               "max_runs": max_runs})
    };
    let (s, e) = app.post(&path, window(1000)).await;
    let field = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "max_runs");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 41 runs"), "{message}");
    assert_eq!(runs(&app, d).await.len(), 0, "nothing was written");

    let (s, r) = app.post(&path, window(41)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["runs"].as_array().unwrap().len(), 41);
    // a window holding fewer runs than max_runs is judged on what it holds
    let few = json!({"start_time": "2025-12-30T00:00:00Z", "end_time": "2025-12-30T00:09:00Z",
                     "max_runs": 1000});
    let (s, r) = app.post(&path, few).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["runs"].as_array().unwrap().len(), 10);
}
