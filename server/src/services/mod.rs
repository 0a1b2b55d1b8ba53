//! Background services started by `serve_state`: the scheduler, which keeps every active
//! schedule's future runs materialised, and the late-runs marker. Each loop sleeps on the state's
//! shutdown token as well as its interval, so the server stops at once.
//!
//! Every pass is also a plain function (`scheduler::schedule_once`, `late_runs::mark_late_once`)
//! that reads time from the state's clock, so tests drive them with a `ManualClock` instead of
//! sleeping.

pub mod late_runs;
pub use crate::planning::SchedulerConfig;
pub mod reaper;
pub mod retention;
pub mod run_times;
pub mod scheduler;

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::AppState;

/// When Scheduled runs are renamed Late.
#[derive(Debug, Clone)]
pub struct LateRunsConfig {
    /// Time between two passes.
    pub interval: Duration,
    /// A run this long past its scheduled time is Late.
    pub after: Duration,
    /// Runs renamed per transaction, at most. Renaming rewrites each whole row (tags and
    /// parameters included), so this bounds how long other writes wait: 5,000 runs of 49
    /// 200-character tags held the writer ~1.7 s; 500 hold it well under 250 ms.
    pub batch_size: usize,
}

impl Default for LateRunsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            after: Duration::from_secs(15),
            batch_size: 500,
        }
    }
}

/// What went wrong in a service pass (logged by the loop, which then carries on).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServiceError(String);

impl From<ApiError> for ServiceError {
    fn from(e: ApiError) -> Self {
        match e {
            // the detail of an internal error is what the log needs
            ApiError::Internal(detail) => ServiceError(detail),
            other => ServiceError(other.to_string()),
        }
    }
}

/// Starts every service; each stops when `state.shutdown` is cancelled.
pub fn spawn_all(state: &AppState) -> Vec<JoinHandle<()>> {
    let scheduler = state.clone();
    let late = state.clone();
    let reap = state.clone();
    let retain = state.clone();
    let progress = std::sync::Arc::new(tokio::sync::Mutex::new(retention::Progress::default()));
    vec![
        tokio::spawn(run_every(
            "retention",
            state.config.retention.interval,
            state.clone(),
            move || {
                let state = retain.clone();
                let progress = std::sync::Arc::clone(&progress);
                async move {
                    retention::retain_once(&state, &mut *progress.lock().await).await?;
                    Ok(())
                }
            },
        )),
        tokio::spawn(run_every(
            "zombie reaper",
            state.config.reaper.interval,
            state.clone(),
            move || {
                let state = reap.clone();
                async move {
                    reaper::reap_once(&state).await?;
                    Ok(())
                }
            },
        )),
        tokio::spawn(run_every(
            "scheduler",
            state.config.scheduler.interval,
            state.clone(),
            move || {
                let state = scheduler.clone();
                async move {
                    let stats = scheduler::schedule_once(&state).await?;
                    if stats.runs_created > 0 || stats.deployments_failed > 0 {
                        tracing::debug!(
                            runs = stats.runs_created,
                            deployments = stats.deployments_scheduled,
                            failed = stats.deployments_failed,
                            elapsed_ms = stats.elapsed.as_millis() as u64,
                            "scheduler pass"
                        );
                    }
                    Ok(())
                }
            },
        )),
        tokio::spawn(run_every(
            "late runs",
            state.config.late_runs.interval,
            state.clone(),
            move || {
                let state = late.clone();
                async move {
                    let n = late_runs::mark_late_once(&state).await?;
                    if n > 0 {
                        tracing::debug!(runs = n, "marked runs late");
                    }
                    Ok(())
                }
            },
        )),
    ]
}

/// Runs `pass` now and then `interval` after each pass ends, until shutdown. A failed pass is
/// logged; the next one runs as usual.
async fn run_every<F, Fut>(name: &'static str, interval: Duration, state: AppState, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ServiceError>>,
{
    loop {
        if state.shutdown.is_cancelled() {
            return;
        }
        if let Err(e) = pass().await {
            tracing::error!(service = name, error = %e, "service pass failed");
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
