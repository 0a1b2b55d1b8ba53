//! The retention service: log records of runs finished more than `logs_after` ago, and runs
//! finished more than `runs_after` ago (with their states, task runs and logs), are deleted in
//! batches of `batch` rows. Each batch is chosen on a reader and deleted in one short write job,
//! and the service yields between batches, so requests never wait long behind it. Runs that are
//! not finished are never touched, whatever their age.
//!
//! SQLite reuses the pages freed for new rows; the file does not shrink (`rigel db backup`
//! writes a compacted copy).

use std::time::Duration;

use super::ServiceError;
use crate::db::{retention, to_micros};
use crate::AppState;

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Time between two passes.
    pub interval: Duration,
    /// Logs of runs finished this long ago are deleted; `None` keeps them.
    pub logs_after: Option<Duration>,
    /// Runs finished this long ago are deleted; `None` keeps them.
    pub runs_after: Option<Duration>,
    /// Rows deleted per write job.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(600),
            logs_after: Some(Duration::from_secs(30 * 86_400)),
            runs_after: Some(Duration::from_secs(90 * 86_400)),
            batch: 1000,
        }
    }
}

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    pub logs: u64,
    pub runs: u64,
}

/// What passes carry over: runs that ended before `logs_done_before` (microseconds) have had
/// their logs deleted already, so the next pass starts there instead of walking every old run.
#[derive(Debug)]
pub struct Progress {
    logs_done_before: i64,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            logs_done_before: i64::MIN,
        }
    }
}

fn cutoff(state: &AppState, after: Duration) -> i64 {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    state
        .now()
        .checked_sub_signed(after)
        .map_or(i64::MIN, to_micros)
}

/// One pass at the state's current time.
pub async fn retain_once(
    state: &AppState,
    progress: &mut Progress,
) -> Result<Deleted, ServiceError> {
    let cfg = &state.config.retention;
    let batch = cfg.batch.max(1);
    let mut deleted = Deleted::default();
    if let Some(after) = cfg.logs_after {
        let before = cutoff(state, after);
        let from = progress.logs_done_before.min(before);
        loop {
            let ids = retention::finished_runs_logs(&state.db, from, before, batch).await?;
            let n = ids.len();
            if n > 0 {
                deleted.logs += retention::delete_logs(&state.db, ids).await?;
            }
            if n < batch as usize || state.shutdown.is_cancelled() {
                if n < batch as usize {
                    progress.logs_done_before = progress.logs_done_before.max(before);
                }
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    if let Some(after) = cfg.runs_after {
        let before = cutoff(state, after);
        loop {
            let runs = retention::finished_runs(&state.db, before, batch.min(200)).await?;
            if runs.is_empty() {
                break;
            }
            // their logs first, a batch at a time: a run may have many
            loop {
                let n = retention::delete_logs_of(&state.db, runs.clone(), batch).await?;
                deleted.logs += n;
                if n < u64::from(batch) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let gone = retention::delete_runs(&state.db, runs).await?;
            deleted.runs += gone.len() as u64;
            if gone.is_empty() || state.shutdown.is_cancelled() {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    if deleted != Deleted::default() {
        tracing::info!(
            logs = deleted.logs,
            runs = deleted.runs,
            "retention deleted old data"
        );
    }
    Ok(deleted)
}
