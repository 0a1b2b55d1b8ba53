//! Live updates from the server's event stream (`GET /api/events`). Run state changes arrive in
//! small batches (one screen update per batch, not per event); deployments, queues and agents
//! one by one. The stream reconnects on its own; while it is down the header says so and the
//! periodic refetch carries on. A `reset` (events were lost) triggers a refetch at once.

use std::sync::Arc;
use std::time::Duration;

use rigel_common::client::RigelClient;
use rigel_common::event::{Event, EventFilter, EventKind, FlowRunStateEvent};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::msg::Msg;

/// Run events are gathered this long before the screen hears of them.
const BATCH: Duration = Duration::from_millis(100);

pub async fn live_loop(client: RigelClient, refresh_now: Arc<Notify>, news: mpsc::Sender<Msg>) {
    let filter =
        EventFilter::default().with_kinds(["flow_run", "deployment", "work_queue", "agent"]);
    let mut events = client.events(filter);
    let mut runs: Vec<FlowRunStateEvent> = Vec::new();
    let mut flush_at: Option<Instant> = None;
    let mut live = false;
    loop {
        let item = tokio::select! {
            item = events.next() => item,
            _ = sleep_until(flush_at) => {
                flush_at = None;
                if news.send(Msg::RunEvents(std::mem::take(&mut runs))).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let msg = match item {
            // the stream gave up for good (e.g. a server without it): refetching carries on
            None => {
                let _ = news.send(Msg::Live(false)).await;
                return;
            }
            Some(Err(_)) => {
                if !live {
                    continue;
                }
                live = false;
                // the server may be gone: find out now rather than at the next refetch
                refresh_now.notify_one();
                Msg::Live(false)
            }
            Some(Ok(event)) => match route(event, &refresh_now) {
                Routed::Run(e) => {
                    runs.push(*e);
                    flush_at.get_or_insert_with(|| Instant::now() + BATCH);
                    continue;
                }
                Routed::Msg(msg) => {
                    if matches!(msg, Msg::Live(true)) {
                        live = true;
                    }
                    msg
                }
                Routed::Nothing => continue,
            },
        };
        if news.send(msg).await.is_err() {
            return;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

enum Routed {
    Run(Box<FlowRunStateEvent>),
    Msg(Msg),
    Nothing,
}

fn route(event: Event, refresh_now: &Notify) -> Routed {
    match event.kind {
        EventKind::Ready => Routed::Msg(Msg::Live(true)),
        EventKind::Reset => {
            refresh_now.notify_one();
            Routed::Msg(Msg::Live(true))
        }
        EventKind::FlowRunState => event
            .flow_run_state()
            .map_or(Routed::Nothing, |e| Routed::Run(Box::new(e))),
        EventKind::DeploymentCreated
        | EventKind::DeploymentUpdated
        | EventKind::DeploymentDeleted => event.deployment().map_or(Routed::Nothing, |e| {
            Routed::Msg(Msg::Deployment(Box::new(e)))
        }),
        EventKind::WorkQueueCreated | EventKind::WorkQueueUpdated | EventKind::WorkQueueDeleted => {
            event
                .work_queue()
                .map_or(Routed::Nothing, |e| Routed::Msg(Msg::Queue(Box::new(e))))
        }
        EventKind::AgentHeartbeat | EventKind::AgentStatus => event
            .agent()
            .map_or(Routed::Nothing, |e| Routed::Msg(Msg::Agent(Box::new(e)))),
        EventKind::Log => Routed::Nothing,
    }
}
