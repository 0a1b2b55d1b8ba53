//! What the stream carries: a run's states and logs in order, filters by run and kind, the
//! server's own passes, and no secrets.

use super::*;

#[tokio::test]
async fn a_run_from_creation_to_completion_in_order() {
    let app = TestApp::new().await;
    let mut events = Stream::open(&app, "", None).await;
    let ready = events.expect("ready").await;
    assert_eq!(ready.data["replayed"], 0);

    let d = deployment(&app, "lifecycle").await;
    let (s, q) = app
        .post("/api/work_queues/", json!({"name": "default"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let (s, agent) = app
        .post(
            "/api/agents/",
            json!({"name": "a1", "work_queue_name": "default"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let run = run_of(&app, d).await;
    let (s, claimed) = app
        .post(
            &format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap()),
            json!({"agent_id": agent["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{claimed}");
    let token = &claimed[0]["claim_token"];
    set_state(&app, run, "RUNNING", Some(token)).await;
    let (s, _) = app
        .post(
            &format!("/api/agents/{}/heartbeat", agent["id"].as_str().unwrap()),
            json!({"runs_in_flight": [run]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    set_state(&app, run, "COMPLETED", Some(token)).await;

    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(events.next().await.unwrap());
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deployment.created",
            "work_queue.created",
            "agent.status",
            "flow_run.state",
            "flow_run.state",
            "flow_run.state",
            "agent.heartbeat",
            "flow_run.state",
        ]
    );
    // ids are consecutive after the ready event's
    for (i, e) in seen.iter().enumerate() {
        assert_eq!(e.id, ready.id + 1 + i as u64, "{e:?}");
    }
    assert_eq!(seen[0].data["deployment"]["name"], "lifecycle");
    assert_eq!(seen[2].data["change"], "registered");
    let states: Vec<&str> = [3, 4, 5, 7].iter().map(|&i| state_of(&seen[i]).1).collect();
    assert_eq!(states, ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]);
    assert_eq!(seen[3].data["new_run"], true);
    assert_eq!(seen[4].data["new_run"], false);
    for i in [3, 4, 5, 7] {
        assert_eq!(state_of(&seen[i]).0, run.to_string());
        assert_eq!(seen[i].data["deployment_id"], d.to_string());
        assert!(seen[i].data["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    assert_eq!(seen[4].data["agent_id"], agent["id"]);
    // an event is a summary of the run, so the TUI can update a row without a fetch
    assert!(seen[7].data["end_time"].is_string(), "{:?}", seen[7]);
    // logs are not broadcast to subscribers that don't follow the run
    log(&app, run, "hello").await;
    events.expect_quiet().await;
}

#[tokio::test]
async fn following_a_run_gets_its_states_and_logs_only() {
    let app = TestApp::new().await;
    let d = deployment(&app, "followed").await;
    let other_d = deployment(&app, "other").await;
    let run = run_of(&app, d).await;
    let other = run_of(&app, other_d).await;
    let mut follow = Stream::open(&app, &format!("?flow_run_id={run}"), None).await;
    follow.expect("ready").await;
    let mut by_deployment = Stream::open(&app, &format!("?deployment_id={other_d}"), None).await;
    by_deployment.expect("ready").await;

    log(&app, other, "not mine").await;
    log(&app, run, "first line").await;
    set_state(&app, other, "PENDING", None).await;
    set_state(&app, run, "PENDING", None).await;
    log(&app, run, "second line").await;
    app.patch(
        &format!("/api/deployments/{other_d}"),
        json!({"description": "changed"}),
    )
    .await;

    let e = follow.expect("log").await;
    assert_eq!(e.data["flow_run_id"], run.to_string());
    assert_eq!(e.data["records"][0]["message"], "first line");
    let s = follow.expect("flow_run.state").await;
    assert_eq!(state_of(&s), (run.to_string(), "PENDING"));
    let e2 = follow.expect("log").await;
    assert_eq!(e2.data["records"][0]["message"], "second line");
    assert!(e.id < s.id && s.id < e2.id);
    follow.expect_quiet().await;

    // a deployment filter: that deployment's runs and the deployment itself, no logs
    let s = by_deployment.expect("flow_run.state").await;
    assert_eq!(state_of(&s), (other.to_string(), "PENDING"));
    let u = by_deployment.expect("deployment.updated").await;
    assert_eq!(u.data["deployment"]["description"], "changed");
    by_deployment.expect_quiet().await;
}

#[tokio::test]
async fn kinds_filter_by_name_and_prefix() {
    let app = TestApp::new().await;
    let mut deployments = Stream::open(&app, "?kinds=deployment", None).await;
    deployments.expect("ready").await;
    let mut updates = Stream::open(&app, "?kinds=deployment.deleted,flow_run", None).await;
    updates.expect("ready").await;
    let d = deployment(&app, "kinds").await;
    run_of(&app, d).await;
    app.delete(&format!("/api/deployments/{d}")).await;

    deployments.expect("deployment.created").await;
    let deleted = deployments.expect("deployment.deleted").await;
    assert_eq!(deleted.data["deployment_id"], d.to_string());
    assert!(deleted.data.get("deployment").is_none());
    deployments.expect_quiet().await;
    updates.expect("flow_run.state").await;
    updates.expect("deployment.deleted").await;
    updates.expect_quiet().await;
}

#[tokio::test]
async fn the_servers_own_passes_announce_the_runs_they_change() {
    use rigel_server::clock::ManualClock;
    use rigel_server::services::{late_runs, reaper, scheduler};
    let clock = ManualClock::new("2026-06-01T12:00:00Z".parse().unwrap());
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| {
        cfg.clock = std::sync::Arc::new(c);
        cfg.reaper.run_heartbeat_timeout = Duration::from_secs(30);
    })
    .await;
    // every 10 minutes: creating it materialises its first hour
    let mut body = TestApp::deployment_body("events-flow", "every-10-minutes");
    body["schedule"] = json!({"interval": 600});
    let d = uuid(&app.create_deployment(body).await["id"]);
    let mut events = Stream::open(&app, "", None).await;
    events.expect("ready").await;

    // half an hour on, the scheduler's pass tops the hour up: an event for each new run
    clock.advance(chrono::Duration::minutes(30));
    let created = scheduler::schedule_once(&app.state)
        .await
        .unwrap()
        .runs_created;
    assert!(created > 0);
    for _ in 0..created {
        let e = events.expect("flow_run.state").await;
        assert_eq!(state_of(&e).1, "SCHEDULED", "{e:?}");
        assert_eq!(e.data["new_run"], true);
        assert_eq!(e.data["deployment_id"], d.to_string());
    }
    // the runs due in the last half hour, unclaimed, become Late
    let late = late_runs::mark_late_once(&app.state).await.unwrap();
    assert!(late > 0);
    for _ in 0..late {
        let e = events.expect("flow_run.state").await;
        assert_eq!(e.data["state"]["name"], "Late", "{e:?}");
        assert_eq!(e.data["new_run"], false);
    }
    events.expect_quiet().await;

    // a run whose engine went quiet is crashed by the reaper, and that is announced too
    let (_, q) = app
        .post("/api/work_queues/", json!({"name": "default"}))
        .await;
    let (_, agent) = app
        .post(
            "/api/agents/",
            json!({"name": "a1", "work_queue_name": "default"}),
        )
        .await;
    let (s, claimed) = app
        .post(
            &format!("/api/work_queues/{}/claim", q["id"].as_str().unwrap()),
            json!({"agent_id": agent["id"], "limit": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{claimed}");
    let run = uuid(&claimed[0]["flow_run"]["id"]);
    set_state(&app, run, "RUNNING", Some(&claimed[0]["claim_token"])).await;
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(300), events.next_inner()).await
    {}
    clock.advance(chrono::Duration::seconds(31));
    app.post(
        &format!("/api/agents/{}/heartbeat", agent["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(reaper::reap_once(&app.state).await.unwrap().crashed, 1);
    let e = loop {
        let e = events.next().await.expect("the stream ended");
        if e.kind == "flow_run.state" {
            break e;
        }
    };
    assert_eq!(state_of(&e), (run.to_string(), "CRASHED"));
}

#[tokio::test]
async fn deployment_events_carry_no_runner_env_values() {
    let app = TestApp::new().await;
    let mut stream = Stream::open(&app, "?kinds=deployment", None).await;
    stream.expect("ready").await;
    let mut body = TestApp::deployment_body("etl", "nightly");
    body["flow_runner"] = json!({"type": "subprocess", "config": {"env": {"TOKEN": "s3cret"}}});
    app.create_deployment(body).await;
    let event = stream.expect("deployment.created").await;
    let env = &event.data["deployment"]["flow_runner"]["config"]["env"];
    assert_eq!(env, &json!({"TOKEN": "***"}), "{}", event.data);
}
