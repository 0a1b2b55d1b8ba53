//! Scheduling passes: the runs of each kind, DST end to end, concurrent passes, and bad rows.

use rigel_server::services::scheduler::schedule_once;

use super::*;

/// Makes a deployment active behind the API's back, so only the scheduler materialises it.
async fn activate_silently(app: &TestApp, deployment: Uuid) {
    sqlx::query("UPDATE deployment SET is_schedule_active = 1 WHERE id = ?")
        .bind(deployment)
        .execute(&app.state.db.write)
        .await
        .unwrap();
}

#[tokio::test]
async fn each_kind_gets_three_runs_and_an_hour_at_once_and_from_the_scheduler() {
    let (app, clock) = app_at("2026-01-01T00:00:00Z").await;
    let hourly = id(&app
        .create_deployment(body("hourly", json!({"interval": 3600})))
        .await);
    let cron = id(&app
        .create_deployment(body("cron", json!({"cron": "*/10 * * * *"})))
        .await);
    let rrule = id(&app
        .create_deployment(body(
            "rrule",
            json!({"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"}),
        ))
        .await);
    let want_hourly = ats(&[
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
        "2026-01-01T03:00:00Z",
    ]);
    let want_cron = ats(&[
        "2026-01-01T00:10:00Z",
        "2026-01-01T00:20:00Z",
        "2026-01-01T00:30:00Z",
        "2026-01-01T00:40:00Z",
        "2026-01-01T00:50:00Z",
        "2026-01-01T01:00:00Z",
    ]);
    let want_rrule = ats(&[
        "2026-01-01T09:00:00Z",
        "2026-01-02T09:00:00Z",
        "2026-01-03T09:00:00Z",
    ]);
    // created with the deployment, before the answer
    assert_eq!(times(&runs(&app, hourly).await), want_hourly);
    assert_eq!(times(&runs(&app, cron).await), want_cron);
    assert_eq!(times(&runs(&app, rrule).await), want_rrule);

    let r = &runs(&app, hourly).await[0];
    assert!(r.auto_scheduled && r.state_type == "SCHEDULED" && r.state_name == "Scheduled");
    let (_, run) = app.get(&format!("/api/flow_runs/{}", r.id)).await;
    assert_eq!(run["parameters"], json!({"n": 1}));
    assert_eq!(run["tags"], json!(["nightly"]));
    assert_eq!(run["flow_runner"]["type"], "universal");
    assert_eq!(run["expected_start_time"], "2026-01-01T01:00:00Z");
    assert_eq!(
        run["idempotency_key"],
        format!("scheduled {hourly} 2026-01-01T01:00:00Z")
    );
    let (_, states) = app.get(&format!("/api/flow_runs/{}/states", r.id)).await;
    assert_eq!(states.as_array().unwrap().len(), 1, "{states}");
    assert_eq!(states[0]["name"], "Scheduled");
    assert_eq!(states[0]["scheduled_time"], "2026-01-01T01:00:00Z");

    // the scheduler makes the same runs from nothing
    sqlx::query("DELETE FROM flow_run")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(stats.runs_created, 12);
    assert_eq!(stats.deployments_failed, 0);
    assert_eq!(times(&runs(&app, hourly).await), want_hourly);
    assert_eq!(times(&runs(&app, cron).await), want_cron);
    assert_eq!(times(&runs(&app, rrule).await), want_rrule);
    assert_eq!(schedule_once(&app.state).await.unwrap().runs_created, 0);

    // time moves on: the horizon follows, continuing after the latest run
    clock.set(at("2026-01-01T02:00:00Z"));
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(
        times(&runs(&app, hourly).await)[3..],
        ats(&["2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z"])
    );
    let cron_times = times(&runs(&app, cron).await);
    // from now on (the hour in between has passed: never created after the fact)
    assert_eq!(cron_times.len(), 6 + 6);
    assert_eq!(cron_times[6], at("2026-01-01T02:10:00Z"));
    assert_eq!(cron_times.last(), Some(&at("2026-01-01T03:00:00Z")));
    assert_eq!(times(&runs(&app, rrule).await), want_rrule, "still 3 ahead");
    assert_eq!(stats.runs_created, 2 + 6);
    assert_eq!(duplicates(&app.state).await, 0);
}

#[tokio::test]
async fn daylight_saving_zones_end_to_end() {
    // New York springs forward on 2026-03-08 at 02:00: the 02:30 run happens at 03:00 EDT
    let (app, _clock) = app_at("2026-03-07T12:00:00Z").await;
    let ny = id(&app
        .create_deployment(body(
            "ny",
            json!({"cron": "30 2 * * *", "timezone": "America/New_York"}),
        ))
        .await);
    assert_eq!(
        times(&runs(&app, ny).await),
        ats(&[
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z",
        ])
    );
    // London springs forward on 2026-03-29: a daily interval keeps local midnight
    let (app, _clock) = app_at("2026-03-28T12:00:00Z").await;
    let london = id(&app
        .create_deployment(body(
            "london",
            json!({"interval": 86400, "timezone": "Europe/London"}),
        ))
        .await);
    assert_eq!(
        times(&runs(&app, london).await),
        ats(&[
            "2026-03-29T00:00:00Z",
            "2026-03-29T23:00:00Z",
            "2026-03-30T23:00:00Z",
        ])
    );
    // and the scheduler computes the same
    sqlx::query("DELETE FROM flow_run")
        .execute(&app.state.db.write)
        .await
        .unwrap();
    schedule_once(&app.state).await.unwrap();
    assert_eq!(
        times(&runs(&app, london).await),
        ats(&[
            "2026-03-29T00:00:00Z",
            "2026-03-29T23:00:00Z",
            "2026-03-30T23:00:00Z",
        ])
    );
}

#[tokio::test]
async fn repeated_and_concurrent_passes_create_each_run_once() {
    // small pages and transactions, so the passes interleave across many of them
    let (app, clock) = app_with("2026-01-01T00:00:00Z", |c| {
        c.scheduler.page_size = 3;
        c.scheduler.runs_per_transaction = 10;
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let schedule = match i % 3 {
            0 => json!({"interval": 600}),
            1 => json!({"cron": "*/15 * * * *"}),
            _ => json!({"rrule": "FREQ=MINUTELY;INTERVAL=20"}),
        };
        ids.push(paused(&app, &format!("d{i}"), schedule).await);
    }
    for d in &ids {
        activate_silently(&app, *d).await;
    }
    let (a, b) = tokio::join!(schedule_once(&app.state), schedule_once(&app.state));
    let created = a.unwrap().runs_created + b.unwrap().runs_created;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flow_run")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(created, total as u64);
    // 6 (every 10 min), 4 (every 15 min), 3 (every 20 min) each
    assert_eq!(total, 4 * 6 + 3 * 4 + 3 * 3);
    assert_eq!(duplicates(&app.state).await, 0);
    for _ in 0..3 {
        assert_eq!(schedule_once(&app.state).await.unwrap().runs_created, 0);
    }
    for _ in 0..5 {
        clock.advance(chrono::Duration::minutes(7));
        let (a, b, c) = tokio::join!(
            schedule_once(&app.state),
            schedule_once(&app.state),
            schedule_once(&app.state)
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
    }
    assert_eq!(duplicates(&app.state).await, 0);
    for d in &ids {
        let rs = runs(&app, *d).await;
        let last = rs.last().unwrap().time();
        assert!(last >= at("2026-01-01T01:35:00Z"), "{d}: {last}");
    }
}

#[tokio::test]
async fn a_corrupt_schedule_does_not_stop_the_others() {
    let (app, _clock) = app_with("2026-01-01T00:00:00Z", |c| c.scheduler.page_size = 2).await;
    let bad_json = paused(&app, "a-bad-json", json!({"interval": 3600})).await;
    let bad_zone = paused(&app, "b-bad-zone", json!({"interval": 3600})).await;
    let bad_runner = paused(&app, "c-bad-runner", json!({"interval": 3600})).await;
    let good = paused(&app, "d-good", json!({"interval": 3600})).await;
    for (d, column, value) in [
        (bad_json, "schedule", r#"{"interval": "#),
        (
            bad_zone,
            "schedule",
            r#"{"cron": "* * * * *", "timezone": "Mars/Olympus_Mons"}"#,
        ),
        (bad_runner, "flow_runner", "[1, 2"),
    ] {
        sqlx::query(&format!("UPDATE deployment SET {column} = ? WHERE id = ?"))
            .bind(value)
            .bind(d)
            .execute(&app.state.db.write)
            .await
            .unwrap();
    }
    for d in [bad_json, bad_zone, bad_runner, good] {
        activate_silently(&app, d).await;
    }
    let stats = schedule_once(&app.state).await.unwrap();
    assert_eq!(
        stats.deployments_failed, 6,
        "three, in both sweeps: {stats:?}"
    );
    assert_eq!(runs(&app, good).await.len(), 3);
    for d in [bad_json, bad_zone, bad_runner] {
        assert!(runs(&app, d).await.is_empty());
    }
}

#[tokio::test]
async fn a_schedule_changed_during_a_pass_is_not_overwritten() {
    let (app, _clock) = app_at("2026-01-01T00:00:00Z").await;
    let d = paused(&app, "d", json!({"interval": 3600})).await;
    activate_silently(&app, d).await;
    // read as the scheduler would, then change the schedule before writing
    let horizon =
        rigel_server::planning::Horizon::new(app.state.now(), &app.state.config.scheduler);
    let page = rigel_server::db::schedules::short_deployments(
        &app.state.db,
        rigel_server::db::schedules::Shortage::BelowHorizon,
        Uuid::nil(),
        &horizon,
        10,
    )
    .await
    .unwrap();
    assert_eq!(page.len(), 1);
    app.patch(
        &format!("/api/deployments/{d}"),
        json!({"schedule": {"interval": 1800}}),
    )
    .await;
    let planned = rigel_server::db::schedules::Planned {
        template: page[0].template().unwrap(),
        schedule: page[0].schedule.clone(),
        times: vec![at("2026-01-01T05:00:00Z")],
    };
    let written =
        rigel_server::db::schedules::write_planned(&app.state.db, &[planned], app.state.now())
            .await
            .unwrap();
    assert_eq!((written.runs, written.changed), (0, 1));
    assert_eq!(
        times(&runs(&app, d).await),
        ats(&[
            "2026-01-01T00:30:00Z",
            "2026-01-01T01:00:00Z",
            "2026-01-01T01:30:00Z",
        ])
    );
}
