//! The background tasks: a periodic refetch (the safety net), the live event stream, a follower
//! for the open run, and one short task per change. They talk to the UI only through channels.

mod fetch;
mod follow;
mod live;
mod perform;

use std::time::Duration;

use chrono::Utc;
use rigel_common::backoff::Backoff;
use rigel_common::client::{ClientError, ClientResult, RigelClient};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use fetch::MAX_LOG_RECORDS;

use crate::access::Access;
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
/// Each refetch first asks who the server takes the TUI for (`GET /api/me`), so the role is
/// known before the first data arrives and is current again after every reconnect (a server
/// restarted with keys, a key revoked); the data is read only when that answered, so a refused
/// key costs one request per attempt (the server slows down addresses that present many).
async fn refetch_loop(
    client: RigelClient,
    refresh: Duration,
    refresh_now: std::sync::Arc<Notify>,
    news: mpsc::Sender<Msg>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), refresh.max(Duration::from_secs(1)));
    // the server's words for a refused key, while it stays refused
    let mut refused: Option<String> = None;
    loop {
        // the role goes first: the data must never be shown with actions it doesn't allow
        let fetched = match access(&client).await {
            Ok(access) => {
                if news.send(Msg::Access(access)).await.is_err() {
                    return;
                }
                fetch::snapshot(&client).await
            }
            Err(e) => Err(e),
        };
        let wait = match fetched {
            Ok(snapshot) => {
                backoff.reset();
                refused = None;
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
                let msg = failure(&e, refused.as_deref());
                refused = match &msg {
                    Msg::KeyRefused(words) => Some(words.clone()),
                    _ => None,
                };
                if news.send(msg).await.is_err() {
                    return;
                }
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = refresh_now.notified() => {}
        }
    }
}

/// The caller's role and key. A server older than API keys has no `GET /api/me` (404): it
/// allows everything, as it always did.
async fn access(client: &RigelClient) -> ClientResult<Access> {
    access_from(client.me().await)
}

fn access_from(me: ClientResult<rigel_common::api_key::Me>) -> ClientResult<Access> {
    match me {
        Ok(me) => Ok(me.into()),
        Err(e) if e.status() == Some(404) => Ok(Access::default()),
        Err(e) => Err(e),
    }
}

/// The news of a failed refetch: a refused key (401) says so in the server's words, since
/// waiting won't help; anything else marks the data stale while retrying. `refused` is the
/// previous attempt's refusal: the 429 a server answers an address that keeps presenting an
/// unknown key means the key is still the problem, not the server.
fn failure(e: &ClientError, refused: Option<&str>) -> Msg {
    match (e.status(), refused) {
        (Some(401), _) => Msg::KeyRefused(e.to_string()),
        (Some(429), Some(words)) => Msg::KeyRefused(words.to_string()),
        _ => Msg::FetchFailed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use rigel_common::api_key::Role;
    use rigel_common::error::{ErrorBody, ErrorCode};

    use super::*;

    fn api_error(status: u16, code: ErrorCode, message: &str) -> ClientError {
        ClientError::Api {
            status,
            body: ErrorBody::new(code, message),
        }
    }

    #[test]
    fn a_server_without_api_me_is_taken_as_admin() {
        let old = api_error(404, ErrorCode::NotFound, "no route for GET /api/me");
        assert_eq!(access_from(Err(old)).unwrap(), Access::default());
        assert_eq!(Access::default().role, Role::Admin);
        let refused = api_error(401, ErrorCode::Unauthorized, "key expired");
        assert_eq!(access_from(Err(refused)).unwrap_err().status(), Some(401));
    }

    #[test]
    fn a_refused_key_is_reported_in_the_servers_words() {
        let refused = api_error(
            401,
            ErrorCode::Unauthorized,
            "the API key is not known to this server",
        );
        assert!(matches!(
            failure(&refused, None),
            Msg::KeyRefused(m) if m == "the API key is not known to this server"
        ));
        let down = api_error(500, ErrorCode::Internal, "internal error");
        assert!(matches!(failure(&down, None), Msg::FetchFailed(_)));
        // slowed down after presenting the unknown key: still the key's refusal
        let slowed = api_error(429, ErrorCode::TooManyRequests, "too many unknown keys");
        assert!(matches!(
            failure(&slowed, Some("the API key is not known")),
            Msg::KeyRefused(m) if m == "the API key is not known"
        ));
        assert!(matches!(failure(&slowed, None), Msg::FetchFailed(_)));
    }
}
