//! Reconnecting: what was missed is replayed, or the subscriber is told to refetch.

use super::*;

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
