//! Requests of one kind that arrive while earlier ones are being written are written together,
//! by one writer job. With one connection to SQLite, round trips between the async side and the
//! connection's thread — not SQL — are what limit the rate, and a job for many requests can
//! read and write them with a few multi-row statements instead of a few statements each.
//!
//! Every request still gets its own answer, sent only after the writer's commit; the job must
//! answer each request on its own (a request that fails fails alone).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::BoxFuture;
use sqlx::SqliteConnection;
use tokio::sync::oneshot;

use super::writer::{in_write_job, nested_write, Writer};
use crate::error::{ApiError, ApiResult};

/// Writes a group of requests; answers them in the order given, one answer each. An `Err`
/// fails the whole group: its writes are rolled back and every request gets that error.
type WriteGroup<R, A> = Box<
    dyn for<'c> Fn(&'c mut SqliteConnection, Vec<R>) -> BoxFuture<'c, ApiResult<Vec<ApiResult<A>>>>
        + Send
        + Sync,
>;

/// Requests waiting for the writer, and how to write them.
pub struct Coalescer<R, A> {
    what: &'static str,
    pending: Mutex<Vec<(R, oneshot::Sender<ApiResult<A>>)>>,
    writer: Writer,
    write: WriteGroup<R, A>,
}

impl<R, A> std::fmt::Debug for Coalescer<R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("what", &self.what)
            .field(
                "pending",
                &self.pending.lock().map_or(0, |pending| pending.len()),
            )
            .finish()
    }
}

impl<R: Send + 'static, A: Send + 'static> Coalescer<R, A> {
    /// `what` names the requests in errors ("a run creation").
    pub(crate) fn new<F>(what: &'static str, writer: Writer, write: F) -> Self
    where
        F: for<'c> Fn(
                &'c mut SqliteConnection,
                Vec<R>,
            ) -> BoxFuture<'c, ApiResult<Vec<ApiResult<A>>>>
            + Send
            + Sync
            + 'static,
    {
        Self {
            what,
            pending: Mutex::new(Vec::new()),
            writer,
            write: Box::new(write),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Vec<(R, oneshot::Sender<ApiResult<A>>)>> {
        // pushes and takes cannot leave the vector half-changed
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `request` with whatever else is pending when the writer gets to it; answers once
    /// that is committed.
    pub(crate) async fn submit(self: &Arc<Self>, request: R) -> ApiResult<A> {
        let answer = self.submit_many(vec![request]).await.pop();
        answer.unwrap_or_else(|| Err(self.lost()))
    }

    /// [`Self::submit`] for several requests, kept together and in order (one job writes
    /// them all); answers in their order.
    pub(crate) async fn submit_many(self: &Arc<Self>, requests: Vec<R>) -> Vec<ApiResult<A>> {
        if in_write_job() {
            // the job that would write them waits for this one: it would never run
            return requests.iter().map(|_| Err(nested_write())).collect();
        }
        if requests.is_empty() {
            return Vec::new();
        }
        let mut answers = Vec::with_capacity(requests.len());
        let first = {
            let mut pending = self.pending();
            let first = pending.is_empty();
            for request in requests {
                let (reply, answer) = oneshot::channel();
                pending.push((request, reply));
                answers.push(answer);
            }
            first
        };
        if first {
            // A task of its own, so that the requests it carries are answered even if the
            // request that started it goes away.
            tokio::spawn(Arc::clone(self).write_pending());
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.await.unwrap_or_else(|_| Err(self.lost())));
        }
        results
    }

    fn lost(&self) -> ApiError {
        ApiError::Internal(format!("{} was lost unanswered", self.what))
    }

    /// One writer job for everything pending when the writer gets to it.
    async fn write_pending(self: Arc<Self>) {
        type Replies<A> = Arc<Mutex<Vec<oneshot::Sender<ApiResult<A>>>>>;
        let ran = Arc::new(AtomicBool::new(false));
        let replies: Replies<A> = Arc::default();
        let this = Arc::clone(&self);
        let (job_ran, job_replies) = (Arc::clone(&ran), Arc::clone(&replies));
        let result = self
            .writer
            .run(move |conn| {
                Box::pin(async move {
                    job_ran.store(true, Ordering::Release);
                    let taken = std::mem::take(&mut *this.pending());
                    let (requests, senders): (Vec<R>, Vec<_>) = taken.into_iter().unzip();
                    *job_replies.lock().unwrap_or_else(PoisonError::into_inner) = senders;
                    (this.write)(conn, requests).await
                })
            })
            .await;
        let senders = std::mem::take(&mut *replies.lock().unwrap_or_else(PoisonError::into_inner));
        match result {
            Ok(answers) => {
                let mut answers = answers.into_iter();
                for reply in senders {
                    let answer = answers.next().unwrap_or_else(|| Err(self.lost()));
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                // Not run at all (the writer stopped): what is pending is this job's, since
                // no other job is started while something is pending.
                let senders = if ran.load(Ordering::Acquire) {
                    senders
                } else {
                    std::mem::take(&mut *self.pending())
                        .into_iter()
                        .map(|(_, reply)| reply)
                        .collect()
                };
                for reply in senders {
                    // each its own copy of what failed: a full disk or a lock held elsewhere
                    // stays a 503 for every request of the batch, not a 500
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
