//! `GET /api/events`: the SSE body read from the router in-process, and the typed client over a
//! real socket.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rigel_common::client::RigelClient;
use rigel_common::event::{EventFilter, EventKind, ResetReason};
use rigel_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

use crate::{assert_error, TestApp};

const WAIT: Duration = Duration::from_secs(5);

/// One parsed SSE record.
#[derive(Debug, Clone)]
struct Sse {
    id: u64,
    kind: String,
    data: Value,
}

/// An open event stream read frame by frame.
struct Stream {
    body: Body,
    buf: String,
    /// Comment lines seen (keep-alives).
    comments: usize,
}

impl Stream {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<u64>) -> Stream {
        let mut req = Request::builder().uri(format!("/api/events{query}"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = app
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            body: resp.into_body(),
            buf: String::new(),
            comments: 0,
        }
    }

    /// The next record, or `None` when the stream ended; panics after `WAIT`.
    async fn next(&mut self) -> Option<Sse> {
        tokio::time::timeout(WAIT, self.next_inner())
            .await
            .expect("an event (or the end of the stream) within the timeout")
    }

    async fn next_inner(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let record: String = self.buf.drain(..end + 2).collect();
                let mut sse = Sse {
                    id: 0,
                    kind: String::new(),
                    data: Value::Null,
                };
                let mut has_data = false;
                for line in record.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                        sse.id = v.parse().unwrap();
                    } else if let Some(v) =
                        line.strip_prefix("event: ").or(line.strip_prefix("event:"))
                    {
                        sse.kind = v.to_string();
                    } else if let Some(v) =
                        line.strip_prefix("data: ").or(line.strip_prefix("data:"))
                    {
                        sse.data = serde_json::from_str(v).unwrap();
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(sse);
                }
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
                Some(Err(e)) => panic!("the stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// The next record, which must be of `kind`.
    async fn expect(&mut self, kind: &str) -> Sse {
        let e = self.next().await.expect("the stream ended");
        assert_eq!(e.kind, kind, "{e:?}");
        e
    }

    /// Asserts that nothing arrives for a while.
    async fn expect_quiet(&mut self) {
        if let Ok(e) = tokio::time::timeout(Duration::from_millis(300), self.next_inner()).await {
            panic!("expected no event, got {e:?}");
        }
    }
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

async fn deployment(app: &TestApp, name: &str) -> Uuid {
    uuid(
        &app.create_deployment(TestApp::deployment_body("events-flow", name))
            .await["id"],
    )
}

async fn run_of(app: &TestApp, deployment: Uuid) -> Uuid {
    let (s, run) = app
        .post(
            &format!("/api/deployments/{deployment}/create_flow_run"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    uuid(&run["id"])
}

async fn set_state(app: &TestApp, run: Uuid, kind: &str, token: Option<&Value>) -> Value {
    let mut body = json!({"state": {"type": kind}});
    if let Some(t) = token {
        body["claim_token"] = t.clone();
    }
    let (s, r) = app
        .post(&format!("/api/flow_runs/{run}/set_state"), body)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "ACCEPT", "{r}");
    r
}

async fn log(app: &TestApp, run: Uuid, message: &str) {
    let (s, r) = app
        .post(
            "/api/logs/",
            json!([{"flow_run_id": run, "level": 20, "message": message,
                "timestamp": "2024-05-01T12:00:00Z"}]),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

fn state_of(e: &Sse) -> (String, &str) {
    (
        e.data["flow_run_id"].as_str().unwrap().to_string(),
        e.data["state"]["type"].as_str().unwrap(),
    )
}

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
async fn a_reconnect_gets_what_it_missed() {
    let app = TestApp::new().await;
    let mut first = Stream::open(&app, "?kinds=deployment", None).await;
    first.expect("ready").await;
    deployment(&app, "one").await;
    let seen = first.expect("deployment.created").await;
    drop(first);

    deployment(&app, "two").await;
    let run_of_two = run_of(&app, deployment(&app, "three").await).await;
    let mut again = Stream::open(&app, "?kinds=deployment", Some(seen.id)).await;
    let ready = again.expect("ready").await;
    assert_eq!(ready.id, seen.id);
    assert_eq!(ready.data["replayed"], 2);
    let two = again.expect("deployment.created").await;
    assert_eq!(two.data["deployment"]["name"], "two");
    let three = again.expect("deployment.created").await;
    assert_eq!(three.data["deployment"]["name"], "three");
    assert!(seen.id < two.id && two.id < three.id);
    // then live
    deployment(&app, "four").await;
    let four = again.expect("deployment.created").await;
    assert_eq!(four.data["deployment"]["name"], "four");
    assert!(four.id > three.id + 1, "the run between was not replayed");
    again.expect_quiet().await;

    // a followed run's logs are replayed too, in id order with its states
    log(&app, run_of_two, "missed").await;
    set_state(&app, run_of_two, "PENDING", None).await;
    let mut follow = Stream::open(&app, &format!("?flow_run_id={run_of_two}"), Some(four.id)).await;
    assert_eq!(follow.expect("ready").await.data["replayed"], 2);
    assert_eq!(
        follow.expect("log").await.data["records"][0]["message"],
        "missed"
    );
    follow.expect("flow_run.state").await;
}

#[tokio::test]
async fn a_reconnect_older_than_the_ring_is_told_to_refetch() {
    let app = TestApp::with_config(|c| c.events.replay_events = 2).await;
    let mut s = Stream::open(&app, "", None).await;
    let start = s.expect("ready").await.id;
    for name in ["a", "b", "c", "d"] {
        deployment(&app, name).await;
    }
    drop(s);
    let mut late = Stream::open(&app, "", Some(start)).await;
    let reset = late.expect("reset").await;
    assert_eq!(reset.data["reason"], "too_old");
    assert_eq!(reset.id, start + 4, "the reset points at the newest event");
    deployment(&app, "e").await;
    let e = late.expect("deployment.created").await;
    assert_eq!(e.id, start + 5);

    // within the ring: replayed
    let mut recent = Stream::open(&app, "", Some(start + 3)).await;
    assert_eq!(recent.expect("ready").await.data["replayed"], 2);
    // an id this process never gave out (an earlier server, or the future)
    let mut future = Stream::open(&app, "", Some(start + 1000)).await;
    assert_eq!(future.expect("reset").await.data["reason"], "unknown_id");
    let mut ancient = Stream::open(&app, "", Some(1)).await;
    assert_eq!(ancient.expect("reset").await.data["reason"], "unknown_id");
}

#[tokio::test]
async fn a_lagging_subscriber_is_dropped_and_publishers_never_wait() {
    let app = TestApp::with_config(|c| c.events.subscriber_buffer = 4).await;
    let mut slow = Stream::open(&app, "", None).await;
    slow.expect("ready").await;
    let mut fast = Stream::open(&app, "?kinds=deployment", None).await;
    fast.expect("ready").await;
    let d = deployment(&app, "lag").await;
    fast.expect("deployment.created").await;
    // nobody reads `slow` while 50 writes publish
    let writes = async {
        for i in 0..50 {
            let (s, _) = app
                .patch(
                    &format!("/api/deployments/{d}"),
                    json!({"description": format!("v{i}")}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            // `fast` keeps up
            let e = fast.expect("deployment.updated").await;
            assert_eq!(e.data["deployment"]["description"], format!("v{i}"));
        }
    };
    tokio::time::timeout(WAIT, writes)
        .await
        .expect("publishing never waits for a slow subscriber");
    let reset = slow.expect("reset").await;
    assert_eq!(reset.data["reason"], "lagged");
    assert_eq!(reset.id, app.state.events.last_id());
    assert!(slow.next().await.is_none(), "the lagging stream ends");
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_parameter() {
    let app = TestApp::new().await;
    for (query, field) in [
        ("?kinds=flow_run,nope", "kinds"),
        ("?kinds=log", "kinds"),
        ("?flow_run_id=not-a-uuid", "flow_run_id"),
        ("?deployment_id=42", "deployment_id"),
        ("?kind=flow_run", "query"),
    ] {
        let (s, body) = app.get(&format!("/api/events{query}")).await;
        assert_eq!(
            assert_error(
                s,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error"
            ),
            field,
            "{query}"
        );
    }
    let req = Request::builder()
        .uri("/api/events")
        .header("last-event-id", "yesterday")
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_stream_is_documented_keeps_alive_and_ends_on_shutdown() {
    let app = TestApp::with_config(|c| c.events.keep_alive = Duration::from_millis(50)).await;
    let (_, doc) = app.get("/api/openapi.json").await;
    let get = &doc["paths"]["/api/events"]["get"];
    assert!(
        get["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{get}"
    );
    let params: Vec<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["kinds", "flow_run_id", "deployment_id", "Last-Event-ID"] {
        assert!(params.contains(&p), "{params:?}");
    }

    let mut s = Stream::open(&app, "", None).await;
    s.expect("ready").await;
    // 300 ms of reading an idle stream
    s.expect_quiet().await;
    app.state.shutdown.cancel();
    assert!(s.next().await.is_none(), "the stream ends on shutdown");
    assert!(s.comments >= 2, "keep-alive comments: {}", s.comments);
}

#[tokio::test]
async fn the_client_reconnects_after_a_restart_and_is_told_to_refetch() {
    let dir = tempfile::tempdir().unwrap();
    let config = || ServerConfig {
        run_services: false,
        ..ServerConfig::new(format!("sqlite://{}", dir.path().join("ev.db").display()))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::open(config()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rigel_server::serve_state(state, listener, async {
        let _ = stopped.await;
    }));
    let client = RigelClient::new(format!("http://{addr}/api"));
    let mut events = client.events(EventFilter::default().with_kinds(["deployment"]));
    let ready = tokio::time::timeout(WAIT, events.connected())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ready.kind, EventKind::Ready);
    let spec = serde_json::from_value(TestApp::deployment_body("f", "restart")).unwrap();
    let (d, _) = client.create_deployment(&spec).await.unwrap();
    let created = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(created.kind, EventKind::DeploymentCreated);
    assert_eq!(created.deployment().unwrap().deployment.unwrap().id, d.id);

    // the server stops (the stream ends) and comes back on the same port
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let state = AppState::open(config()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rigel_server::serve_state(state, listener, async {
        let _ = stopped.await;
    }));
    // the client resumes on its own; its last id is from the old process, so it must refetch
    let reset = tokio::time::timeout(WAIT, async {
        loop {
            match events.next().await {
                Some(Ok(e)) => return e,
                Some(Err(_)) => continue,
                None => panic!("the stream gave up"),
            }
        }
    })
    .await
    .expect("reconnected within the timeout");
    assert_eq!(reset.kind, EventKind::Reset);
    assert_eq!(reset.reset().unwrap().reason, ResetReason::UnknownId);
    client.delete_deployment(d.id).await.unwrap();
    let deleted = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(deleted.kind, EventKind::DeploymentDeleted);
    assert!(deleted.id > reset.id);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
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

#[tokio::test]
async fn event_streams_are_capped_and_a_closed_one_frees_its_place() {
    let app = TestApp::with_config(|c| c.events.max_streams = 2).await;
    let first = Stream::open(&app, "", None).await;
    let _second = Stream::open(&app, "", None).await;
    let (status, body) = app.get("/api/events").await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 event streams"));
    drop(first);
    let _third = Stream::open(&app, "", None).await;
}
