//! The bus's rings, ordering across channels, and per-run log channels.

use super::*;

fn bus(replay: usize, buffer: usize) -> Arc<EventBus> {
    Arc::new(EventBus::starting_at(
        EventsConfig {
            replay_events: replay,
            subscriber_buffer: buffer,
            ..Default::default()
        },
        1,
    ))
}

fn ping(bus: &EventBus, run: Option<Uuid>, kind: EventKind) {
    bus.publish(kind, run, None, &serde_json::json!({}));
}

async fn next(sub: &mut Subscription) -> Option<Shared> {
    tokio::time::timeout(Duration::from_secs(1), sub.next())
        .await
        .expect("an event within a second")
}

#[tokio::test]
async fn ring_evicts_by_count_and_bytes_and_remembers_the_floor() {
    let mut ring = Ring::new(0);
    for id in 1..=5 {
        let e = Arc::new(Published {
            id,
            kind: EventKind::AgentHeartbeat,
            flow_run_id: None,
            deployment_id: None,
            data: "x".repeat(10),
        });
        ring.push(e, 3, 1000);
    }
    assert_eq!(ring.floor, 2);
    assert_eq!(ring.after(3).map(|e| e.id).collect::<Vec<_>>(), [4, 5]);
    let big = Arc::new(Published {
        id: 6,
        kind: EventKind::AgentHeartbeat,
        flow_run_id: None,
        deployment_id: None,
        data: "x".repeat(25),
    });
    ring.push(big, 3, 30);
    assert_eq!(ring.after(0).map(|e| e.id).collect::<Vec<_>>(), [6]);
    assert_eq!(ring.floor, 5);
    assert_eq!(ring.bytes, 25);
}

#[tokio::test]
async fn logs_and_states_of_a_followed_run_arrive_in_id_order() {
    let bus = bus(100, 100);
    let run = Uuid::now_v7();
    let mut sub = bus.subscribe(EventFilter::flow_run(run), None);
    assert_eq!(next(&mut sub).await.unwrap().kind, EventKind::Ready);
    ping(&bus, Some(run), EventKind::Log);
    ping(&bus, Some(run), EventKind::FlowRunState);
    ping(&bus, Some(Uuid::now_v7()), EventKind::FlowRunState);
    ping(&bus, Some(Uuid::now_v7()), EventKind::Log);
    ping(&bus, Some(run), EventKind::Log);
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = next(&mut sub).await.unwrap();
        got.push((e.id, e.kind));
    }
    assert_eq!(
        got,
        [
            (1, EventKind::Log),
            (2, EventKind::FlowRunState),
            (5, EventKind::Log)
        ]
    );
}

#[tokio::test]
async fn logs_of_unfollowed_runs_are_not_kept_in_a_channel() {
    let bus = bus(100, 100);
    let run = Uuid::now_v7();
    {
        let _sub = bus.subscribe(EventFilter::flow_run(run), None);
        assert_eq!(bus.lock().followers.len(), 1);
    }
    assert!(bus.lock().followers.is_empty());
    ping(&bus, Some(run), EventKind::Log);
    assert!(bus.lock().followers.is_empty());
}
