//! Run times computed for a request before its write: on the blocking pool, never on the async
//! workers nor inside a write transaction (which holds the one write connection, so every other
//! write would wait for it). Computing a schedule's runs is bounded by the schedule work budget
//! (`rigel_common::schedule::MAX_RRULE_WORK`), tens of milliseconds at most, but that is still
//! far too long for either place.

use std::fmt;
use std::sync::Arc;

use rigel_common::schedule::Schedule;

use crate::error::{ApiError, ApiResult};
use crate::planning::{Horizon, RunsAhead};
use crate::AppState;

/// Called on the blocking thread before each computation a request makes (validating a schedule,
/// listing its runs). Tests hold a computation there to check that other writes go on meanwhile;
/// by default it does nothing.
#[derive(Clone, Default)]
pub struct ComputeHook(Option<Arc<dyn Fn() + Send + Sync>>);

impl ComputeHook {
    pub fn new(hook: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(hook)))
    }

    fn call(&self) {
        if let Some(hook) = &self.0 {
            hook();
        }
    }
}

impl fmt::Debug for ComputeHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ComputeHook(set)"
        } else {
            "ComputeHook(none)"
        })
    }
}

/// Runs `compute` on the blocking pool (after the state's [`ComputeHook`]).
pub async fn off_thread<T, F>(state: &AppState, compute: F) -> ApiResult<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let hook = state.config.compute_hook.clone();
    tokio::task::spawn_blocking(move || {
        hook.call();
        compute()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("computing run times failed: {e}")))
}

/// Lists `schedule`'s runs ahead of `horizon.now` off the async workers. A schedule that can't
/// be computed (within its work budget) is a 422 naming its field (`schedule.rrule`).
pub async fn ahead(
    state: &AppState,
    schedule: &Schedule,
    horizon: &Horizon,
) -> ApiResult<RunsAhead> {
    let owned = schedule.clone();
    let horizon = *horizon;
    let times = off_thread(state, move || horizon.ahead(&owned))
        .await?
        .map_err(|e| ApiError::from(e.under("schedule")))?;
    Ok(RunsAhead::new(schedule, times))
}
