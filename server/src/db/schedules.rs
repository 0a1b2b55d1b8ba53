//! The scheduler's SQL: which deployments are short of runs, inserting scheduled runs in batches
//! (insert-or-ignore on the idempotency key), rescheduling a deployment whose schedule changed,
//! backfills, and renaming overdue runs Late.
//!
//! A scheduled run's idempotency key is `scheduled {deployment_id} {time}` (RFC 3339, UTC), and
//! `(flow_id, idempotency_key)` is unique: whoever inserts a time first wins, every other insert
//! of that time is ignored. That is what makes repeated passes, restarts, concurrent schedulers,
//! rescheduling and backfills safe together.

use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rigel_common::backfill::{BackfillRequest, BackfillResult};
use rigel_common::deployment::{Deployment, FlowRunnerSettings, Parameters};
use rigel_common::flow_run::FlowRun;
use rigel_common::schedule::Schedule;
use rigel_common::validation::FieldError;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::batch::{self, statement};
use super::flow_runs::{default_run_name, FlowRunRow, COLUMNS as RUN_COLUMNS};
use super::{to_json, to_micros, Db};
use crate::error::{ApiError, ApiResult};
use crate::planning::{Horizon, RunsAhead};

/// The name of a Scheduled run that is overdue.
pub const LATE: &str = "Late";

/// `scheduled {deployment_id} {time}`, the time in RFC 3339 UTC (`2026-01-01T09:00:00Z`).
pub fn idempotency_key(deployment_id: Uuid, at: DateTime<Utc>) -> String {
    format!(
        "scheduled {deployment_id} {}",
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

/// What a deployment's scheduled runs are made of (JSON columns as stored).
#[derive(Debug, Clone)]
pub struct RunTemplate {
    pub deployment_id: Uuid,
    pub flow_id: Uuid,
    pub parameters: String,
    pub tags: String,
    pub flow_runner: String,
    pub flow_runner_type: &'static str,
}

impl RunTemplate {
    pub fn of(d: &Deployment) -> Self {
        Self {
            deployment_id: d.id,
            flow_id: d.flow_id,
            parameters: to_json(&rigel_common::params::effective_parameters(
                d.parameter_schema.as_ref(),
                &d.parameters,
                &Default::default(),
            )),
            tags: to_json(&d.tags),
            flow_runner: to_json(&d.flow_runner),
            flow_runner_type: d.flow_runner.kind.as_str(),
        }
    }
}

// ---- batched inserts

/// Rows per multi-row INSERT (shorter remainders are split into powers of two, see `batch`).
const CHUNK: usize = 64;

fn chunk_len(remaining: usize) -> usize {
    batch::chunk_len(remaining, CHUNK)
}

/// `sql[k]` inserts 2^k rows (k = 0..=6).
fn statements(head: &str, row: &str, tail: &str) -> Vec<String> {
    batch::statements(CHUNK, |n| {
        format!("{head} {} {tail}", batch::values(row, n))
    })
}

static INSERT_RUNS: LazyLock<Vec<String>> = LazyLock::new(|| {
    statements(
        "INSERT INTO flow_run (id, name, flow_id, deployment_id, parameters, tags,
         idempotency_key, auto_scheduled, flow_runner, flow_runner_type, state_type, state_name,
         state_timestamp, state_scheduled_time, expected_start_time, next_scheduled_start_time,
         created, updated) VALUES",
        "(?, ?, ?, ?, ?, ?, ?, 1, ?, ?, 'SCHEDULED', 'Scheduled', ?, ?, ?, ?, ?, ?)",
        &format!("ON CONFLICT (flow_id, idempotency_key) DO NOTHING RETURNING {RUN_COLUMNS}"),
    )
});

static INSERT_HISTORY: LazyLock<Vec<String>> = LazyLock::new(|| {
    statements(
        "INSERT INTO flow_run_state (id, flow_run_id, type, name, timestamp, scheduled_time)
         VALUES",
        "(?, ?, 'SCHEDULED', ?, ?, ?)",
        "",
    )
});

/// Inserts Scheduled runs (auto-scheduled, state Scheduled at their time, with a history row
/// each), ignoring times that already have a run. Returns the new runs as written, in schedule
/// order.
pub(crate) async fn insert_runs(
    conn: &mut SqliteConnection,
    rows: &[(&RunTemplate, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> ApiResult<Vec<FlowRunRow>> {
    let now_us = to_micros(now);
    let mut inserted: Vec<FlowRunRow> = Vec::with_capacity(rows.len());
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        rest = tail;
        let mut q = sqlx::query_as::<_, FlowRunRow>(statement(&INSERT_RUNS, chunk.len())?);
        for (t, at) in chunk {
            let id = Uuid::now_v7();
            let name = default_run_name(&id);
            let at_us = to_micros(*at);
            q = q
                .bind(id)
                .bind(name)
                .bind(t.flow_id)
                .bind(t.deployment_id)
                .bind(t.parameters.as_str())
                .bind(t.tags.as_str())
                .bind(idempotency_key(t.deployment_id, *at))
                .bind(t.flow_runner.as_str())
                .bind(t.flow_runner_type)
                .bind(now_us)
                .bind(at_us)
                .bind(at_us)
                .bind(at_us)
                .bind(now_us)
                .bind(now_us);
        }
        inserted.extend(q.fetch_all(&mut *conn).await?);
    }
    // RETURNING rows come in no promised order
    inserted.sort_by_key(|r| (r.next_scheduled_start_time, r.id));
    let history: Vec<(Uuid, Option<i64>)> = inserted
        .iter()
        .map(|r| (r.id, r.next_scheduled_start_time))
        .collect();
    insert_history(conn, "Scheduled", &history, now_us).await?;
    Ok(inserted)
}

/// History rows for runs that just entered a SCHEDULED state named `name`: (run id, its
/// scheduled time).
async fn insert_history(
    conn: &mut SqliteConnection,
    name: &str,
    rows: &[(Uuid, Option<i64>)],
    now_us: i64,
) -> ApiResult<()> {
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        rest = tail;
        let mut q = sqlx::query(statement(&INSERT_HISTORY, chunk.len())?);
        for (run_id, at_us) in chunk {
            q = q
                .bind(Uuid::now_v7())
                .bind(*run_id)
                .bind(name)
                .bind(now_us)
                .bind(*at_us);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

// ---- the scheduler's reads and writes

/// An active deployment that is short of runs, as the scheduler reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShortDeployment {
    pub id: Uuid,
    pub flow_id: Uuid,
    /// The schedule column as stored (parsed by the scheduler, compared again before writing).
    pub schedule: String,
    pub parameters: String,
    /// The declared parameters, whose defaults the runs take (JSON as stored).
    pub parameter_schema: Option<String>,
    pub tags: String,
    pub flow_runner: String,
    /// The latest time of its auto-scheduled runs (µs), if it has any.
    pub last: Option<i64>,
    /// How many of its auto-scheduled runs are after now.
    pub future: i64,
}

impl ShortDeployment {
    /// The template for its runs; the flow runner column must parse (its type is a column too).
    pub fn template(&self) -> Result<RunTemplate, String> {
        let runner: FlowRunnerSettings = serde_json::from_str(&self.flow_runner)
            .map_err(|e| format!("corrupt flow_runner: {e}"))?;
        let parameters = match &self.parameter_schema {
            None => self.parameters.clone(),
            Some(schema) => {
                let schema: serde_json::Value = serde_json::from_str(schema)
                    .map_err(|e| format!("corrupt parameter_schema: {e}"))?;
                let given: Parameters = serde_json::from_str(&self.parameters)
                    .map_err(|e| format!("corrupt parameters: {e}"))?;
                to_json(&rigel_common::params::effective_parameters(
                    Some(&schema),
                    &given,
                    &Parameters::new(),
                ))
            }
        };
        Ok(RunTemplate {
            deployment_id: self.id,
            flow_id: self.flow_id,
            parameters,
            tags: self.tags.clone(),
            flow_runner: self.flow_runner.clone(),
            flow_runner_type: runner.kind.as_str(),
        })
    }
}

/// Which deployments a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortage {
    /// Those without any future run: they get their next run first.
    NoFutureRun,
    /// Those whose runs don't reach the minimum horizon or are fewer than the minimum.
    BelowHorizon,
}

/// Up to `limit` active deployments with `id > after`, in id order, that are short of runs
/// (keyset pagination: pass the last id of a page to get the next). Reads through the read pool.
///
/// The partial indexes of migration 0003 keep this cheap when nothing is short: the scan walks
/// only active scheduled deployments and probes each one's runs twice, without reading its row.
pub async fn short_deployments(
    db: &Db,
    shortage: Shortage,
    after: Uuid,
    horizon: &Horizon,
    limit: usize,
) -> ApiResult<Vec<ShortDeployment>> {
    let now = to_micros(horizon.now);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match shortage {
        Shortage::NoFutureRun => {
            sqlx::query_as(
                "SELECT d.id, d.flow_id, d.schedule, d.parameters, d.parameter_schema, d.tags,
                 d.flow_runner,
                 NULL AS last, 0 AS future
                 FROM deployment d
                 WHERE d.schedule IS NOT NULL AND d.is_schedule_active = 1 AND d.id > ?1
                 AND NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.deployment_id = d.id
                     AND r.auto_scheduled = 1 AND r.next_scheduled_start_time > ?2)
                 ORDER BY d.id LIMIT ?3",
            )
            .bind(after)
            .bind(now)
            .bind(limit)
            .fetch_all(&db.read)
            .await?
        }
        Shortage::BelowHorizon => {
            let offset = i64::try_from(horizon.min_runs.saturating_sub(1)).unwrap_or(i64::MAX);
            let max_offset = i64::try_from(horizon.max_runs.saturating_sub(1)).unwrap_or(i64::MAX);
            sqlx::query_as(
                "SELECT d.id, d.flow_id, d.schedule, d.parameters, d.parameter_schema, d.tags,
                 d.flow_runner,
                 (SELECT r.next_scheduled_start_time FROM flow_run r
                     WHERE r.deployment_id = d.id AND r.auto_scheduled = 1
                     ORDER BY r.next_scheduled_start_time DESC LIMIT 1) AS last,
                 (SELECT COUNT(*) FROM flow_run r WHERE r.deployment_id = d.id
                     AND r.auto_scheduled = 1 AND r.next_scheduled_start_time > ?2) AS future
                 FROM deployment d
                 WHERE d.schedule IS NOT NULL AND d.is_schedule_active = 1 AND d.id > ?1
                 AND (NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.deployment_id = d.id
                         AND r.auto_scheduled = 1 AND r.next_scheduled_start_time >= ?3)
                     OR (SELECT r.next_scheduled_start_time FROM flow_run r
                         WHERE r.deployment_id = d.id AND r.auto_scheduled = 1
                         AND r.next_scheduled_start_time > ?2
                         ORDER BY r.next_scheduled_start_time LIMIT 1 OFFSET ?4) IS NULL)
                 AND (SELECT r.next_scheduled_start_time FROM flow_run r
                     WHERE r.deployment_id = d.id AND r.auto_scheduled = 1
                     AND r.next_scheduled_start_time > ?2
                     ORDER BY r.next_scheduled_start_time LIMIT 1 OFFSET ?6) IS NULL
                 ORDER BY d.id LIMIT ?5",
            )
            .bind(after)
            .bind(now)
            .bind(to_micros(horizon.min_end))
            .bind(offset)
            .bind(limit)
            .bind(max_offset)
            .fetch_all(&db.read)
            .await?
        }
    };
    Ok(rows)
}

/// Run times planned for one deployment, from the schedule text it was read with.
#[derive(Debug, Clone)]
pub struct Planned {
    pub template: RunTemplate,
    pub schedule: String,
    pub times: Vec<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct Written {
    pub runs: u64,
    /// The runs created, as written, for their events (a row that does not decode is left out
    /// and logged).
    pub created: Vec<FlowRun>,
    /// Deployments skipped because their schedule changed (or was paused or deleted) since they
    /// were read; the change rescheduled them itself.
    pub changed: u64,
}

/// Writes planned runs in one transaction. Each deployment's schedule is compared with the one
/// it was planned from first, inside the transaction: a request that changed it in between has
/// already rescheduled it, and runs of the old schedule must not come back.
pub async fn write_planned(db: &Db, planned: &[Planned], now: DateTime<Utc>) -> ApiResult<Written> {
    let mut tx = db.begin_write().await?;
    let mut rows: Vec<(&RunTemplate, DateTime<Utc>)> = Vec::new();
    let mut written = Written::default();
    for p in planned {
        let current: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT schedule FROM deployment WHERE id = ? AND is_schedule_active = 1",
        )
        .bind(p.template.deployment_id)
        .fetch_optional(&mut *tx)
        .await?;
        if current.and_then(|(s,)| s).as_deref() == Some(p.schedule.as_str()) {
            rows.extend(p.times.iter().map(|t| (&p.template, *t)));
        } else {
            written.changed += 1;
        }
    }
    let inserted = insert_runs(&mut tx, &rows, now).await?;
    tx.commit().await?;
    written.runs = inserted.len() as u64;
    written.created = super::flow_runs::decoded(inserted);
    Ok(written)
}

// ---- schedule changes

/// The condition for "a scheduled run that is not yet due and untouched": still named
/// Scheduled (not Late, not AwaitingRetry or another name someone gave it), never claimed.
const NOT_DUE: &str = "auto_scheduled = 1 AND state_type = 'SCHEDULED'
    AND state_name = 'Scheduled' AND next_scheduled_start_time > ?";

/// After a deployment's schedule or its active flag changed (in the transaction that changed
/// it): deletes its auto-scheduled runs that are not yet due and still Scheduled, then, when the
/// schedule is active, materialises the new schedule from now. Late runs, claimed runs and runs
/// made by hand are kept. Returns how many runs were created.
///
/// Nothing is computed here: the runs are picked from `ahead`, computed before the transaction.
/// Without them, or when they belong to another schedule (a concurrent request changed it after
/// they were computed), no runs are created and the scheduler's next pass materialises them.
pub(crate) async fn reschedule(
    conn: &mut SqliteConnection,
    d: &Deployment,
    horizon: &Horizon,
    ahead: Option<&RunsAhead>,
) -> ApiResult<u64> {
    let now = to_micros(horizon.now);
    sqlx::query(&format!(
        "DELETE FROM flow_run WHERE deployment_id = ? AND {NOT_DUE}"
    ))
    .bind(d.id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let Some(schedule) = d.schedule.as_ref().filter(|_| d.is_schedule_active) else {
        return Ok(0);
    };
    // runs that survived (claimed ahead of time) still count against the horizon
    let (future,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM flow_run WHERE deployment_id = ? AND auto_scheduled = 1
         AND next_scheduled_start_time > ?",
    )
    .bind(d.id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let Some(ahead) = ahead.filter(|a| a.belong_to(schedule)) else {
        tracing::info!(deployment = %d.id,
            "schedule changed while its runs were computed; the scheduler will create them");
        return Ok(0);
    };
    let times = horizon.pick(&ahead.times, usize::try_from(future).unwrap_or(0));
    let template = RunTemplate::of(d);
    let rows: Vec<_> = times.into_iter().map(|t| (&template, t)).collect();
    Ok(insert_runs(conn, &rows, horizon.now).await?.len() as u64)
}

/// After a deployment's parameters, tags or flow runner changed (schedule unchanged): its runs
/// that are not yet due take the new values and keep their ids.
pub(crate) async fn refresh_not_due(
    conn: &mut SqliteConnection,
    d: &Deployment,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let t = RunTemplate::of(d);
    sqlx::query(&format!(
        "UPDATE flow_run SET parameters = ?, tags = ?, flow_runner = ?, flow_runner_type = ?,
         updated = ? WHERE deployment_id = ? AND {NOT_DUE}"
    ))
    .bind(&t.parameters)
    .bind(&t.tags)
    .bind(&t.flow_runner)
    .bind(t.flow_runner_type)
    .bind(to_micros(now))
    .bind(d.id)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Before a deployment is deleted: its runs that never started (SCHEDULED, manual ones and
/// Late ones included) go with it. Started and finished runs stay, without a deployment.
pub(crate) async fn delete_unstarted(
    conn: &mut SqliteConnection,
    deployment_id: Uuid,
) -> ApiResult<()> {
    sqlx::query("DELETE FROM flow_run WHERE deployment_id = ? AND state_type = 'SCHEDULED'")
        .bind(deployment_id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- backfill

/// The times a backfill creates, listed before its write transaction.
#[derive(Debug, Clone)]
pub struct BackfillTimes {
    /// The schedule they were listed from.
    pub schedule: Schedule,
    pub times: Vec<DateTime<Utc>>,
    /// The first time past `max_runs`, if there is one.
    pub next_time: Option<DateTime<Utc>>,
}

impl BackfillTimes {
    /// Lists `schedule`'s runs in `[start_time, end_time]`, at most `max_runs` (a computation
    /// bounded by the schedule work budget: run it off the async workers).
    pub fn list(schedule: Schedule, req: &BackfillRequest) -> Result<Self, FieldError> {
        let max_runs = usize::try_from(req.max_runs).unwrap_or(usize::MAX);
        // next_runs lists times strictly after its start; the window's start is inclusive
        let after = req.start_time - TimeDelta::nanoseconds(1);
        let mut times = schedule.next_runs(after, req.end_time, max_runs.saturating_add(1))?;
        let next_time = if times.len() > max_runs {
            times.pop()
        } else {
            None
        };
        Ok(Self {
            schedule,
            times,
            next_time,
        })
    }
}

/// 409: a backfill of a deployment without a schedule.
pub fn no_schedule_to_backfill(d: &Deployment) -> ApiError {
    ApiError::Conflict(format!(
        "deployment '{}/{}' has no schedule to backfill",
        d.flow_name, d.name
    ))
}

/// `POST /api/deployments/{id}/schedule`: creates the runs `planned` lists (the schedule's runs
/// in the requested window, listed before this transaction), whether the schedule is active or
/// paused. Times that already have a run are left alone. A schedule changed since the times were
/// listed is a 409 (the caller may try again).
pub async fn backfill(
    db: &Db,
    id: Uuid,
    planned: &BackfillTimes,
    now: DateTime<Utc>,
) -> ApiResult<BackfillResult> {
    let mut tx = db.begin_write().await?;
    let d = super::deployments::find(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("deployment {id}")))?;
    let schedule = d
        .schedule
        .as_ref()
        .ok_or_else(|| no_schedule_to_backfill(&d))?;
    if to_json(schedule) != to_json(&planned.schedule) {
        return Err(ApiError::Conflict(format!(
            "the schedule of deployment '{}/{}' changed during the backfill; try again",
            d.flow_name, d.name
        )));
    }
    let template = RunTemplate::of(&d);
    let rows: Vec<_> = planned.times.iter().map(|t| (&template, *t)).collect();
    let runs = insert_runs(&mut tx, &rows, now).await?;
    tx.commit().await?;
    Ok(BackfillResult {
        existing: u32::try_from(planned.times.len() - runs.len()).unwrap_or(u32::MAX),
        runs: runs
            .into_iter()
            .map(FlowRunRow::into_api)
            .collect::<ApiResult<_>>()?,
        next_time: planned.next_time,
    })
}

// ---- late runs

/// Renames up to `limit` runs that are still named Scheduled and were due before `cutoff` to
/// Late (type stays SCHEDULED, so queues still offer them), with a history row each. One
/// conditional UPDATE under the write lock: a run an agent claimed in the meantime is no longer
/// SCHEDULED and is not touched. Returns the renamed runs.
pub(crate) async fn mark_late(
    db: &Db,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> ApiResult<Vec<FlowRunRow>> {
    let mut tx = db.begin_write().await?;
    let now_us = to_micros(now);
    let cutoff_us = to_micros(cutoff);
    let renamed: Vec<FlowRunRow> = sqlx::query_as(&format!(
        // The inner SELECT walks only runs still named Scheduled (the partial index), never the
        // Late ones that pile up; the outer conditions (`+` keeps them off the indexes, so the
        // rows are found by id) repeat it for the rows being written.
        "UPDATE flow_run SET state_name = 'Late', state_timestamp = ?1, state_message = NULL,
         updated = ?1
         WHERE id IN (SELECT id FROM flow_run INDEXED BY flow_run_scheduled_due
             WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled'
             AND next_scheduled_start_time < ?2
             ORDER BY next_scheduled_start_time LIMIT ?3)
         AND +state_type = 'SCHEDULED' AND +state_name = 'Scheduled'
         AND +next_scheduled_start_time < ?2
         RETURNING {RUN_COLUMNS}"
    ))
    .bind(now_us)
    .bind(cutoff_us)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    let history: Vec<(Uuid, Option<i64>)> = renamed
        .iter()
        .map(|r| (r.id, r.state_scheduled_time))
        .collect();
    insert_history(&mut tx, LATE, &history, now_us).await?;
    tx.commit().await?;
    Ok(renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_rfc3339_utc() {
        let id = Uuid::nil();
        let at: DateTime<Utc> = "2026-01-01T10:00:00+01:00".parse().unwrap();
        assert_eq!(
            idempotency_key(id, at),
            "scheduled 00000000-0000-0000-0000-000000000000 2026-01-01T09:00:00Z"
        );
    }

    #[test]
    fn chunks_are_powers_of_two() {
        assert_eq!(chunk_len(1), 1);
        assert_eq!(chunk_len(63), 32);
        assert_eq!(chunk_len(64), 64);
        assert_eq!(chunk_len(1000), 64);
        assert_eq!(INSERT_RUNS.len(), 7);
        assert!(statement(&INSERT_RUNS, 64).is_ok());
    }
}
