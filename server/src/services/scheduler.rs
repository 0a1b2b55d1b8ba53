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
//! insert-or-ignore, so repeated, concurrent or restarted passes create each run once.
//!
//! Run times are computed on the blocking pool, a page at a time, never on the async workers
//! nor inside the write transaction. A deployment whose schedule can't be read or computed
//! (within the schedule work budget) is logged once and remembered in [`FailingSchedules`]:
//! later passes skip it without computing anything until the deployment changes, or for
//! [`RETRY_FAILED_AFTER`].

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use rigel_common::schedule::Schedule;
use uuid::Uuid;

use super::ServiceError;
use crate::db::from_micros;
use crate::db::schedules::{self, Planned, ShortDeployment, Shortage};
use crate::planning::Horizon;
use crate::AppState;

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct SchedulerPassStats {
    /// Deployments that got runs.
    pub deployments_scheduled: u64,
    pub runs_created: u64,
    /// Deployments skipped because their schedule or flow runner can't be read or computed.
    pub deployments_failed: u64,
    /// Deployments left alone without computing anything because they failed in an earlier
    /// pass and have not changed since (see [`FailingSchedules`]).
    pub deployments_skipped: u64,
    /// Deployments left alone because a request changed their schedule during the pass (that
    /// request rescheduled them).
    pub deployments_changed: u64,
    /// Time until every deployment without a future run had its next one (the first sweep).
    pub next_runs_elapsed: Duration,
    pub elapsed: Duration,
    /// The pass stopped early because the server is shutting down.
    pub interrupted: bool,
}

/// How long a failing deployment that has not changed is skipped before it is tried again (a
/// schedule's cost depends a little on the time: a rule with `COUNT` walks from its start).
pub const RETRY_FAILED_AFTER: TimeDelta = TimeDelta::hours(1);

/// Deployments the scheduler could not plan, so that it does not redo (and re-log) the same
/// failing work every pass. Kept in memory: a restart tries each once more.
#[derive(Debug, Default)]
pub struct FailingSchedules(Mutex<HashMap<Uuid, Failure>>);

#[derive(Debug, Clone, Copy)]
struct Failure {
    /// Of the fields planning reads; another value means the deployment changed.
    fingerprint: u64,
    since: DateTime<Utc>,
}

impl FailingSchedules {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Failure>> {
        // the map is only ever replaced or extended whole: a panic can't leave it half-written
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many deployments are being skipped.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The failures of one pass: those it still skips and those it found.
struct PassFailures {
    /// As they were when the pass began, minus those due for a retry.
    known: HashMap<Uuid, Failure>,
    found: HashMap<Uuid, Failure>,
}

impl PassFailures {
    fn skips(&mut self, d: &ShortDeployment) -> bool {
        match self.known.get(&d.id) {
            Some(f) if f.fingerprint == fingerprint(d) => {
                self.found.insert(d.id, *f);
                true
            }
            _ => false,
        }
    }
}

/// A hash of what planning a deployment reads.
fn fingerprint(d: &ShortDeployment) -> u64 {
    let mut h = DefaultHasher::new();
    (
        &d.schedule,
        &d.parameters,
        &d.parameter_schema,
        &d.tags,
        &d.flow_runner,
    )
        .hash(&mut h);
    h.finish()
}

/// One pass at the state's current time.
pub async fn schedule_once(state: &AppState) -> Result<SchedulerPassStats, ServiceError> {
    let started = Instant::now();
    let horizon = Horizon::new(state.now(), &state.config.scheduler);
    let mut stats = SchedulerPassStats::default();
    let mut failures = PassFailures {
        known: state.failing_schedules.lock().clone(),
        found: HashMap::new(),
    };
    failures.known.retain(|_, f| {
        f.since
            .checked_add_signed(RETRY_FAILED_AFTER)
            .is_some_and(|retry| horizon.now < retry)
    });
    let mut result = sweep(
        state,
        &horizon,
        Shortage::NoFutureRun,
        &mut failures,
        &mut stats,
    )
    .await;
    stats.next_runs_elapsed = started.elapsed();
    if result.is_ok() {
        result = sweep(
            state,
            &horizon,
            Shortage::BelowHorizon,
            &mut failures,
            &mut stats,
        )
        .await;
    }
    let mut failing = state.failing_schedules.lock();
    if result.is_ok() && !stats.interrupted {
        // a complete pass saw every deployment still short of runs: forget the others
        *failing = failures.found;
    } else {
        failing.extend(failures.found);
    }
    drop(failing);
    result?;
    stats.elapsed = started.elapsed();
    Ok(stats)
}

async fn sweep(
    state: &AppState,
    horizon: &Horizon,
    shortage: Shortage,
    failures: &mut PassFailures,
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
        let mut to_plan = Vec::with_capacity(page.len());
        for d in page {
            if failures.skips(&d) {
                stats.deployments_skipped += 1;
            } else {
                to_plan.push(d);
            }
        }
        for (d, planned) in plan_page(to_plan, *horizon, cap).await? {
            match planned {
                Ok(Some(p)) => {
                    batch_runs += p.times.len();
                    batch.push(p);
                }
                Ok(None) => {}
                Err(e) => {
                    stats.deployments_failed += 1;
                    let failure = Failure {
                        fingerprint: fingerprint(&d),
                        since: horizon.now,
                    };
                    // once per failure, not once per sweep
                    if failures.found.insert(d.id, failure).is_none() {
                        tracing::warn!(deployment = %d.id, error = %e,
                            "cannot schedule deployment; skipped until it changes");
                    }
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

/// Plans a page of deployments on the blocking pool.
async fn plan_page(
    page: Vec<ShortDeployment>,
    horizon: Horizon,
    cap: usize,
) -> Result<Vec<(ShortDeployment, Result<Option<Planned>, String>)>, ServiceError> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || {
        page.into_iter()
            .map(|d| {
                let planned = plan(&d, &horizon, cap);
                (d, planned)
            })
            .collect()
    })
    .await
    .map_err(|e| {
        ServiceError::from(crate::error::ApiError::Internal(format!(
            "planning failed: {e}"
        )))
    })
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
