//! The background tasks: a periodic refetch (the safety net), the live event stream, a follower
//! for the open run, and one short task per change. They talk to the UI only through channels.

mod fetch;
mod follow;
mod live;
mod perform;

use std::time::Duration;

use chrono::Utc;
use rigel_common::client::RigelClient;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use fetch::MAX_LOG_RECORDS;

use crate::msg::{Msg, Request};
use crate::store::Store;

/// Handles to the background tasks; dropping it stops them.
pub struct Worker {
    pub requests: mpsc::Sender<Request>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the tasks; news arrives on `news`.
pub fn spawn(client: RigelClient, refresh: Duration, news: mpsc::Sender<Msg>) -> Worker {
    let (requests, mut inbox) = mpsc::channel::<Request>(64);
    let refresh_now = std::sync::Arc::new(Notify::new());
    let (follow_tx, follow_rx) = watch::channel::<Option<Uuid>>(None);
    let mut tasks = vec![
        tokio::spawn(refetch_loop(
            client.clone(),
            refresh,
            refresh_now.clone(),
            news.clone(),
        )),
        tokio::spawn(follow::follow_loop(client.clone(), follow_rx, news.clone())),
    ];
    tasks.push(tokio::spawn(live::live_loop(
        client.clone(),
        refresh_now.clone(),
        news.clone(),
    )));
    tasks.push(tokio::spawn(async move {
        while let Some(request) = inbox.recv().await {
            match request {
                Request::Refresh => refresh_now.notify_one(),
                Request::Follow(run) => {
                    let _ = follow_tx.send(run);
                }
                Request::LoadDeployment(id) => {
                    let (client, news) = (client.clone(), news.clone());
                    tokio::spawn(async move {
                        if let Ok((recent, upcoming)) = fetch::deployment_runs(&client, id).await {
                            let _ = news
                                .send(Msg::DeploymentRuns {
                                    deployment_id: id,
                                    recent,
                                    upcoming,
                                })
                                .await;
                        }
                    });
                }
                Request::Perform(change) => {
                    let (client, news, refresh_now) =
                        (client.clone(), news.clone(), refresh_now.clone());
                    tokio::spawn(async move {
                        let outcome = perform::perform(&client, change).await;
                        let _ = news.send(Msg::Done(outcome)).await;
                        refresh_now.notify_one();
                    });
                }
            }
        }
    }));
    Worker { requests, tasks }
}

/// Refetches everything every `refresh`, or at once when asked; after a failure retries sooner
/// (1 s, 2 s, 4 s … up to `refresh`), so the screen recovers on its own when the server is back.
async fn refetch_loop(
    client: RigelClient,
    refresh: Duration,
    refresh_now: std::sync::Arc<Notify>,
    news: mpsc::Sender<Msg>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match fetch::snapshot(&client).await {
            Ok(snapshot) => {
                backoff = Duration::from_secs(1);
                // indexing 10 000 deployments takes a moment: keep it off the async threads
                let store =
                    tokio::task::spawn_blocking(move || Store::build(snapshot, Utc::now())).await;
                if let Ok(store) = store {
                    if news.send(Msg::Snapshot(Box::new(store))).await.is_err() {
                        return;
                    }
                }
                refresh
            }
            Err(e) => {
                if news.send(Msg::FetchFailed(e.to_string())).await.is_err() {
                    return;
                }
                let wait = backoff.min(refresh);
                backoff = (backoff * 2).min(refresh);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = refresh_now.notified() => {}
        }
    }
}
