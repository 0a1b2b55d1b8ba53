//! The scheduler: keeps every active schedule's future runs materialised (see
//! [`SchedulerConfig`](super::SchedulerConfig) for the window).
//!
//! A pass reads active deployments in pages (keyset pagination on id), and only those short of
//! runs: two indexed probes per deployment decide that in SQL, so a pass with nothing to do
//! reads no deployment rows. For a short deployment it continues from its latest materialised
//! time (never from an epoch) and writes the missing runs in batched transactions. It goes over
//! the deployments twice: first every deployment without any future run gets its next run, then
//! every deployment is filled to its horizon, so after a restart or a bulk import each
//! deployment has its next run quickly even when filling all horizons takes longer.
//!
//! Runs are inserted with the idempotency key `scheduled {deployment_id} {time}` and
//! insert-or-ignore, so repeated, concurrent or restarted passes create each run once. A
//! deployment whose schedule can't be read or computed is logged and skipped.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rigel_common::schedule::Schedule;
use uuid::Uuid;

use super::plan::Horizon;
use super::ServiceError;
use crate::db::from_micros;
use crate::db::schedules::{self, Planned, ShortDeployment, Shortage};
use crate::AppState;

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct SchedulerPassStats {
    /// Deployments that got runs.
    pub deployments_scheduled: u64,
    pub runs_created: u64,
    /// Deployments skipped because their schedule or flow runner can't be read or computed.
    pub deployments_failed: u64,
    /// Deployments left alone because a request changed their schedule during the pass (that
    /// request rescheduled them).
    pub deployments_changed: u64,
    /// Time until every deployment without a future run had its next one (the first sweep).
    pub next_runs_elapsed: Duration,
    pub elapsed: Duration,
    /// The pass stopped early because the server is shutting down.
    pub interrupted: bool,
}

/// One pass at the state's current time.
pub async fn schedule_once(state: &AppState) -> Result<SchedulerPassStats, ServiceError> {
    let started = Instant::now();
    let horizon = Horizon::new(state.now(), &state.config.scheduler);
    let mut stats = SchedulerPassStats::default();
    sweep(state, &horizon, Shortage::NoFutureRun, &mut stats).await?;
    stats.next_runs_elapsed = started.elapsed();
    sweep(state, &horizon, Shortage::BelowHorizon, &mut stats).await?;
    stats.elapsed = started.elapsed();
    Ok(stats)
}

async fn sweep(
    state: &AppState,
    horizon: &Horizon,
    shortage: Shortage,
    stats: &mut SchedulerPassStats,
) -> Result<(), ServiceError> {
    let cfg = &state.config.scheduler;
    let page_size = cfg.page_size.max(1);
    // the first sweep only gives each deployment its next run
    let cap = match shortage {
        Shortage::NoFutureRun => 1,
        Shortage::BelowHorizon => usize::MAX,
    };
    let mut cursor = Uuid::nil();
    let mut batch: Vec<Planned> = Vec::new();
    let mut batch_runs = 0;
    loop {
        if state.shutdown.is_cancelled() {
            stats.interrupted = true;
            return Ok(());
        }
        let page =
            schedules::short_deployments(&state.db, shortage, cursor, horizon, page_size).await?;
        let Some(last) = page.last() else { break };
        cursor = last.id;
        let full = page.len() == page_size;
        for d in page {
            match plan(&d, horizon, cap) {
                Ok(Some(p)) => {
                    batch_runs += p.times.len();
                    batch.push(p);
                }
                Ok(None) => {}
                Err(e) => {
                    stats.deployments_failed += 1;
                    tracing::warn!(deployment = %d.id, error = %e, "cannot schedule deployment; skipped");
                }
            }
            if batch_runs >= cfg.runs_per_transaction {
                write(state, &mut batch, horizon.now, stats).await?;
                batch_runs = 0;
                if state.shutdown.is_cancelled() {
                    stats.interrupted = true;
                    return Ok(());
                }
            }
        }
        if !full {
            break;
        }
    }
    write(state, &mut batch, horizon.now, stats).await
}

/// The runs one deployment is missing, or `None` when it has all it needs.
fn plan(d: &ShortDeployment, horizon: &Horizon, cap: usize) -> Result<Option<Planned>, String> {
    let last = d.last.map(from_micros);
    let future = usize::try_from(d.future).unwrap_or(0);
    if horizon.is_covered(last, future) {
        return Ok(None);
    }
    let schedule: Schedule =
        serde_json::from_str(&d.schedule).map_err(|e| format!("corrupt schedule: {e}"))?;
    let times = horizon
        .plan(&schedule, last, future, cap)
        .map_err(|e| format!("cannot compute run times: {e}"))?;
    if times.is_empty() {
        return Ok(None);
    }
    Ok(Some(Planned {
        template: d.template()?,
        schedule: d.schedule.clone(),
        times,
    }))
}

async fn write(
    state: &AppState,
    batch: &mut Vec<Planned>,
    now: DateTime<Utc>,
    stats: &mut SchedulerPassStats,
) -> Result<(), ServiceError> {
    if batch.is_empty() {
        return Ok(());
    }
    let written = schedules::write_planned(&state.db, batch, now).await?;
    stats.deployments_scheduled += batch.len() as u64 - written.changed;
    stats.deployments_changed += written.changed;
    stats.runs_created += written.runs;
    batch.clear();
    if written.runs > 0 {
        state.notifier.runs_changed();
        state.events.runs_created(&written.created);
    }
    Ok(())
}
