//! The write queue with group commit. Hot writes (run creation, state changes, log batches,
//! claims) are jobs sent over a bounded channel to one task, which runs everything queued (up to
//! [`MAX_BATCH`] jobs) in one transaction: SQLite's cost per write is dominated by the commit, so
//! one commit for many jobs multiplies throughput under load and costs nothing when idle.
//!
//! Each job runs inside its own `SAVEPOINT`: a job that fails rolls back only its own writes and
//! the others still commit. Every job learns its result only after the `COMMIT`, so none reports
//! success for writes that were then lost. The connection is taken from the single-connection
//! write pool per batch, so code that still uses [`super::Db::begin_write`] takes turns with it.

use sqlx::Connection as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};

/// Most jobs committed together. Bounds the latency a job adds to the others of its batch.
pub const MAX_BATCH: usize = 256;

/// Jobs that may wait for the writer; senders beyond that wait for room (backpressure).
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

tokio::task_local! {
    /// Set while the writer runs a job, to refuse nested writes that could only deadlock.
    static IN_WRITE_JOB: ();
}

/// Whether the current task is a write job running on the writer (which holds the one write
/// connection, so waiting for another write from here would wait forever).
pub(crate) fn in_write_job() -> bool {
    IN_WRITE_JOB.try_with(|_| ()).is_ok()
}

pub(crate) fn nested_write() -> ApiError {
    ApiError::Internal("a write job tried to start another write (it would deadlock)".into())
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    stop: CancellationToken,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    stats: Arc<Stats>,
}

mod stats;

pub use stats::Stats;

impl Writer {
    /// Starts the writer task on `pool` (which must have exactly one connection).
    pub fn start(pool: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let stop = CancellationToken::new();
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(run_writer(pool, queue, stop.clone(), Arc::clone(&stats)));
        Self {
            jobs,
            stop,
            task: Arc::new(Mutex::new(Some(task))),
            stats,
        }
    }

    /// What the writer did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Jobs waiting for a batch now.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Runs `job` in the next batch and answers its result once the batch has committed.
    ///
    /// ```ignore
    /// let n = db.writer.run(move |conn| Box::pin(async move {
    ///     Ok(sqlx::query("DELETE FROM log WHERE id < ?").bind(cut).execute(conn).await?.rows_affected())
    /// })).await?;
    /// ```
    ///
    /// The job runs on the writer's connection inside a transaction the writer owns: it must not
    /// begin, commit or roll back itself, and must not wait for another write (that is refused
    /// with an internal error rather than left to deadlock). If the caller stops waiting, the
    /// job still runs.
    pub async fn run<T, F>(&self, job: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
    {
        if in_write_job() {
            return Err(nested_write());
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(TypedJob {
                job,
                reply,
                queued: std::time::Instant::now(),
            }))
            .await
            .map_err(|_| ApiError::Internal("the database writer has stopped".into()))?;
        answer.await.map_err(|_| {
            ApiError::Internal("the database writer dropped a job (it panicked)".into())
        })?
    }

    /// Stops taking jobs, finishes the ones already queued, and waits for the task to end.
    pub async fn stop(&self) {
        self.stop.cancel();
        if let Some(task) = self.task.lock().await.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "the database writer task failed");
            }
        }
    }
}

/// Hands a job's result to its caller; given `Some(failure)` when the batch did not commit.
type Answer = Box<dyn FnOnce(Option<&ApiError>) + Send>;

/// A job after it ran: whether it failed, and how to answer once the batch's fate is known.
struct Ran {
    failed: bool,
    /// The job's error when it is the database's condition (a full disk, a damaged page):
    /// SQLite may have rolled the whole transaction back for it, and then it is the batch's.
    condition: Option<ApiError>,
    answer: Answer,
}

/// A type-erased job, so jobs with different result types share one queue.
trait Job: Send {
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Ran>;
    /// Answers without running (the batch could not start).
    fn fail(self: Box<Self>, failure: &ApiError);
    /// When it was sent to the writer.
    fn queued(&self) -> std::time::Instant;
}

struct TypedJob<F, T> {
    job: F,
    reply: oneshot::Sender<ApiResult<T>>,
    queued: std::time::Instant,
}

impl<F, T> Job for TypedJob<F, T>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Ran> {
        let TypedJob { job, reply, .. } = *self;
        Box::pin(async move {
            let result = job(conn).await;
            let condition = match &result {
                Err(e) if e.is_database_condition() => Some(e.clone()),
                _ => None,
            };
            Ran {
                failed: result.is_err(),
                condition,
                answer: Box::new(move |lost: Option<&ApiError>| {
                    let result = match (lost, result) {
                        (Some(failure), Ok(_)) => Err(failure.clone()),
                        (_, result) => result,
                    };
                    // the caller may have stopped waiting; its job ran all the same
                    let _ = reply.send(result);
                }),
            }
        })
    }

    fn fail(self: Box<Self>, failure: &ApiError) {
        let _ = self.reply.send(Err(failure.clone()));
    }

    fn queued(&self) -> std::time::Instant {
        self.queued
    }
}

/// What the jobs of a batch that failed as a whole are answered: the database's condition when
/// it is one (a full disk, a lock another process held too long, a damaged file: 503 saying so),
/// else an internal error.
fn batch_failure(e: &sqlx::Error) -> ApiError {
    crate::error::database_condition(e)
        .unwrap_or_else(|| ApiError::Internal(format!("the write transaction failed: {e}")))
}

async fn run_writer(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    stop: CancellationToken,
    stats: Arc<Stats>,
) {
    let mut stopping = false;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    loop {
        if batch.is_empty() {
            tokio::select! {
                n = queue.recv_many(&mut batch, MAX_BATCH) => {
                    if n == 0 {
                        // stopped (or every handle dropped) and nothing is left
                        return;
                    }
                }
                () = stop.cancelled(), if !stopping => {
                    // refuse new jobs; the queued ones still run, then recv_many answers 0
                    stopping = true;
                    queue.close();
                    continue;
                }
            }
        } else {
            // jobs carried over from a batch cut short: top up without waiting
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        batch = run_batch(&pool, std::mem::take(&mut batch), &stats).await;
    }
}

/// Runs one batch; returns the jobs it did not get to (the connection failed mid-batch).
///
/// The transaction is opened through sqlx (`begin_with`), not with a raw `BEGIN`: sqlx tracks the
/// connection's transaction state, and a transaction some other user dropped without committing
/// is only rolled back when sqlx next manages one. A raw `BEGIN` would find it still open.
async fn run_batch(pool: &SqlitePool, jobs: Vec<Box<dyn Job>>, stats: &Stats) -> Vec<Box<dyn Job>> {
    stats.began();
    let began = std::time::Instant::now();
    stats.batch_jobs.observe(jobs.len() as f64);
    for job in &jobs {
        stats
            .queue_wait
            .observe_duration(began.saturating_duration_since(job.queued()));
    }
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(error = %reason, "the database writer cannot get its connection");
            let failure = batch_failure(&e);
            jobs.into_iter().for_each(|job| job.fail(&failure));
            stats.ended(Some(&reason));
            return Vec::new();
        }
    };
    // the connection is closed (not returned to the pool) when its state is unknown
    let (carry, close) = 'batch: {
        let mut close = false;
        let begun = conn.begin_with("BEGIN IMMEDIATE").await;
        let mut tx = match begun {
            Ok(tx) => tx,
            Err(e) => {
                // None of the jobs ran. The connection's state is unknown, so it is closed and
                // the batch retried on a fresh one; only repeated failures reach the callers.
                let reason = e.to_string();
                let failures = stats.begin_failures.fetch_add(1, Ordering::Relaxed) + 1;
                if matches!(e, sqlx::Error::InvalidSavePointStatement) {
                    // `Db::begin_write` cannot leave one behind any more: this is a bug
                    tracing::error!(
                        error = %reason,
                        "the write connection came back to the pool inside a transaction nobody \
                         will finish; writes made on it since then are lost when it is closed"
                    );
                }
                if failures >= 3 {
                    tracing::error!(
                        error = %reason,
                        failures,
                        "the database writer cannot begin a transaction; failing the batch"
                    );
                    let failure = batch_failure(&e);
                    jobs.into_iter().for_each(|job| job.fail(&failure));
                    stats.ended(Some(&reason));
                    break 'batch (Vec::new(), true);
                }
                tracing::warn!(
                    error = %reason,
                    failures,
                    "the database writer could not begin a transaction; closing the write \
                     connection and retrying the batch on a fresh one"
                );
                break 'batch (jobs, true);
            }
        };
        stats.begin_failures.store(0, Ordering::Relaxed);
        let mut ran: Vec<Ran> = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        // why the batch failed as a whole: what is logged, and what its jobs are answered
        let mut fatal: Option<(String, ApiError)> = exec(&mut tx, "SAVEPOINT job")
            .await
            .err()
            .map(|e| (e.to_string(), batch_failure(&e)));
        while fatal.is_none() {
            let Some(job) = jobs.next() else { break };
            let outcome = AssertUnwindSafe(IN_WRITE_JOB.scope((), job.run(&mut tx)))
                .catch_unwind()
                .await;
            let (failed, condition) = match outcome {
                Ok(r) => {
                    let outcome = (r.failed, r.condition.clone());
                    ran.push(r);
                    outcome
                }
                Err(_) => {
                    // its reply channel is gone with it: the caller gets an internal error
                    tracing::error!("a database write job panicked; its writes are rolled back");
                    (true, None)
                }
            };
            // The savepoint of the next job is opened in the same round trip as this one ends.
            let step = match (failed, jobs.len() == 0) {
                (false, false) => "RELEASE job; SAVEPOINT job",
                (false, true) => "RELEASE job",
                (true, false) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
                (true, true) => "ROLLBACK TO job; RELEASE job",
            };
            if let Err(e) = exec(&mut tx, step).await {
                // A full disk (or I/O error, or damage) can make SQLite roll back the whole
                // transaction, savepoints included ("no such savepoint"): the batch is lost for
                // the job's reason, which its callers are told instead of an internal error.
                fatal = Some(match condition {
                    Some(failure) => (failure.detail(), failure),
                    None => (e.to_string(), batch_failure(&e)),
                });
            } else if jobs.len() == 0 {
                break;
            }
        }
        let carry: Vec<Box<dyn Job>> = jobs.collect();
        let fatal = match fatal {
            None => match tx.commit().await {
                Ok(()) => None,
                Err(e) => {
                    // a failed COMMIT (a full disk) leaves the connection's state unknown
                    close = true;
                    Some((e.to_string(), batch_failure(&e)))
                }
            },
            Some(fatal) => {
                if let Err(e) = tx.rollback().await {
                    tracing::warn!(error = %e, "closing the write connection after a failed rollback");
                    close = true;
                }
                Some(fatal)
            }
        };
        match fatal {
            None => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.ended(None);
                ran.into_iter().for_each(|r| (r.answer)(None));
            }
            Some((reason, failure)) => {
                stats.ended(Some(&reason));
                tracing::error!(error = %reason, "a batch of database writes failed and was rolled back");
                ran.into_iter().for_each(|r| (r.answer)(Some(&failure)));
            }
        }
        (carry, close)
    };
    if close {
        conn.close_on_drop();
    }
    carry
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(conn).await.map(|_| ())
}

#[cfg(test)]
mod tests;
