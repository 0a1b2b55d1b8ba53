//! Follows the open run: its state, task runs and new log records. The run's own event stream
//! (its state changes and log batches) triggers a read at once; a poll — every second while the
//! stream is down, every few seconds while it is up, slower once the run has finished — is the
//! safety net. Records are always read through the API, so each has its id and none is shown twice.

use std::time::Duration;

use rigel_common::client::RigelClient;
use rigel_common::event::{EventFilter, EventKind};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::fetch;
use crate::msg::Msg;

/// Polls after a finished run's last records settle (late log batches still arrive briefly).
const FINISHED_POLL: Duration = Duration::from_secs(10);
const ACTIVE_POLL: Duration = Duration::from_secs(1);
/// While the run's events arrive, polling is only the safety net.
const EVENTS_POLL: Duration = Duration::from_secs(5);

pub async fn follow_loop(
    client: RigelClient,
    mut target: watch::Receiver<Option<Uuid>>,
    news: mpsc::Sender<Msg>,
) {
    loop {
        let current = *target.borrow_and_update();
        let Some(run_id) = current else {
            if target.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut cursor: Option<i64> = None;
        let mut first = true;
        let mut polls_since_finished = 0u32;
        let mut events = client.events(EventFilter::flow_run(run_id));
        let mut events_live = false;
        loop {
            let mut finished = false;
            if let Ok(details) = fetch::run_details(&client, run_id).await {
                finished = details.run.state.kind.is_terminal();
                if news.send(Msg::RunDetails(Box::new(details))).await.is_err() {
                    return;
                }
            }
            if let Ok(logs) = fetch::logs_after(&client, run_id, cursor).await {
                if first || !logs.is_empty() {
                    cursor = logs.last().map(|l| l.id).or(cursor);
                    let msg = Msg::Logs {
                        run_id,
                        logs,
                        reset: first,
                    };
                    first = false;
                    if news.send(msg).await.is_err() {
                        return;
                    }
                }
            }
            polls_since_finished = if finished {
                polls_since_finished + 1
            } else {
                0
            };
            let pause = if polls_since_finished > 3 {
                FINISHED_POLL
            } else if events_live {
                EVENTS_POLL
            } else {
                ACTIVE_POLL
            };
            let wake = tokio::time::Instant::now() + pause;
            let mut switch = false;
            // wait for the poll time, an event of the run, or another run to follow
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    item = events.next() => match item {
                        Some(Ok(e)) if e.kind == EventKind::Ready => events_live = true,
                        Some(Ok(_)) => {
                            events_live = true;
                            break;
                        }
                        Some(Err(_)) => events_live = false,
                        None => {
                            events_live = false;
                            tokio::time::sleep_until(wake).await;
                            break;
                        }
                    },
                    changed = target.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        switch = true;
                        break;
                    }
                }
            }
            if switch {
                break;
            }
        }
    }
}
