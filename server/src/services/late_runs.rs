//! The late-runs service: a Scheduled run more than `LateRunsConfig::after` past its time is
//! renamed Late. Its type stays SCHEDULED, so queues still offer it; the rename is one
//! conditional UPDATE, so a run claimed in the meantime is never overwritten.

use chrono::{DateTime, TimeDelta, Utc};

use super::ServiceError;
use crate::db::{flow_runs, schedules};
use crate::AppState;

/// One pass at the state's current time; returns how many runs became Late.
pub async fn mark_late_once(state: &AppState) -> Result<u64, ServiceError> {
    let cfg = &state.config.late_runs;
    let now = state.now();
    let cutoff = TimeDelta::from_std(cfg.after)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let batch = cfg.batch_size.max(1);
    let mut total = 0;
    loop {
        let renamed = schedules::mark_late(&state.db, cutoff, now, batch).await?;
        let n = renamed.len();
        total += n as u64;
        state.events.runs_moved(&flow_runs::decoded(renamed));
        if n < batch || state.shutdown.is_cancelled() {
            return Ok(total);
        }
    }
}
