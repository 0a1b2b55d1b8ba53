//! The zombie reaper: a RUNNING run whose engine stopped heartbeating becomes CRASHED (a
//! CANCELLING one, CANCELLED); a PENDING run whose agent went offline before starting it goes
//! back to Scheduled, with its claim token cleared so a late process can't run it. So does a
//! PENDING run whose agent is alive but has not listed it among the runs it holds for
//! `lost_claim_after` since the claim: the claim's answer never reached the agent (a dropped
//! connection), which would otherwise leave the run Pending for good.

use std::time::Duration;

use rigel_common::log::{level, LogCreate};
use rigel_common::state::{StateCreate, StateType};
use uuid::Uuid;

use super::ServiceError;
use crate::db::flow_runs::{FlowRunRow, COLUMNS};
use crate::db::run_states::{apply, Holder};
use crate::db::to_micros;
use crate::AppState;

#[derive(Debug, Clone)]
pub struct ReaperConfig {
    /// Time between two passes.
    pub interval: Duration,
    /// A RUNNING run without an engine heartbeat for this long is crashed.
    pub run_heartbeat_timeout: Duration,
    /// A claimed run its (live) agent's heartbeats have not listed for this long after the
    /// claim goes back to Scheduled. Longer than an agent's heartbeat period plus the time an
    /// answer takes, so a heartbeat sent just before the claim's answer arrived never counts.
    pub lost_claim_after: Duration,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            run_heartbeat_timeout: Duration::from_secs(60),
            lost_claim_after: Duration::from_secs(60),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReapStats {
    pub crashed: u64,
    pub cancelled: u64,
    pub requeued: u64,
    /// Claimed runs their live agent does not hold (the claim's answer was lost).
    pub lost: u64,
}

fn ago(state: &AppState, d: Duration) -> i64 {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    to_micros(state.now() - d)
}

/// One pass. Candidates are chosen and moved in one write transaction, so a run that reported in
/// the meantime is not touched.
pub async fn reap_once(state: &AppState) -> Result<ReapStats, ServiceError> {
    // Every write queued before this pass goes first: heartbeats that arrived while the writer
    // was behind are written (and stamped) before the reaper judges anyone silent.
    state.db.writer.run(|_| Box::pin(async { Ok(()) })).await?;
    let now = state.now();
    let quiet_since = ago(state, state.config.reaper.run_heartbeat_timeout);
    let offline_since = ago(state, state.config.agent_offline_after);
    let mut stats = ReapStats::default();
    let mut changed: Vec<FlowRunRow> = Vec::new();
    let mut tx = state.db.begin_write().await?;
    let zombies: Vec<FlowRunRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flow_run WHERE state_type IN ('RUNNING', 'CANCELLING')
         AND state_timestamp < ?1
         AND COALESCE((SELECT last_seen FROM flow_run_heartbeat h WHERE h.flow_run_id = flow_run.id), 0) < ?1
         LIMIT 1000"
    ))
    .bind(quiet_since)
    .fetch_all(&mut *tx)
    .await
    .map_err(crate::error::ApiError::from)?;
    let timeout = state.config.reaper.run_heartbeat_timeout.as_secs_f64();
    // what the run's logs say about its end: nobody else is left to say it
    let mut notes: Vec<LogCreate> = Vec::new();
    for run in &zombies {
        let cancelling = run.state_type == StateType::Cancelling.as_str();
        let to = if cancelling {
            stats.cancelled += 1;
            StateCreate::new(StateType::Cancelled).with_message(format!(
                "cancelled: its engine stopped heartbeating {timeout:.0}s ago"
            ))
        } else {
            stats.crashed += 1;
            StateCreate::new(StateType::Crashed).with_message(format!(
                "no heartbeat from its engine for {timeout:.0}s: the process or its machine died"
            ))
        };
        notes.push(LogCreate {
            flow_run_id: run.id,
            task_run_id: None,
            level: if cancelling {
                level::WARNING
            } else {
                level::ERROR
            },
            timestamp: now,
            message: format!(
                "Flow run {}: {}",
                if cancelling { "cancelled" } else { "crashed" },
                to.message.as_deref().unwrap_or_default()
            ),
        });
        changed.push(apply(&mut tx, run, &to, Holder::Keep, None, now).await?);
    }
    let orphans: Vec<FlowRunRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flow_run WHERE state_type = 'PENDING' AND agent_id IS NOT NULL
         AND COALESCE((SELECT last_heartbeat FROM agent a WHERE a.id = flow_run.agent_id), 0) < ?
         LIMIT 1000"
    ))
    .bind(offline_since)
    .fetch_all(&mut *tx)
    .await
    .map_err(crate::error::ApiError::from)?;
    for run in &orphans {
        let to = StateCreate::new(StateType::Scheduled)
            .with_message("its agent went offline before starting it; back in the queue");
        let mut to = to;
        to.scheduled_time = run.next_scheduled_start_time.map(crate::db::from_micros);
        changed.push(apply(&mut tx, run, &to, Holder::Release, None, now).await?);
        stats.requeued += 1;
    }
    // The agent heartbeats the ids it holds (claimed runs from the moment their claim is
    // answered); `runs_in_flight` holds them as hyphenated text, `flow_run.id` is a blob.
    let lost: Vec<FlowRunRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flow_run WHERE state_type = 'PENDING' AND agent_id IS NOT NULL
         AND EXISTS (SELECT 1 FROM agent a WHERE a.id = flow_run.agent_id
             AND a.last_heartbeat >= ?1 AND a.last_heartbeat > flow_run.state_timestamp + ?2
             AND NOT EXISTS (SELECT 1 FROM json_each(a.runs_in_flight) j
                 WHERE lower(replace(j.value, '-', '')) = lower(hex(flow_run.id))))
         LIMIT 1000"
    ))
    .bind(offline_since)
    .bind(i64::try_from(state.config.reaper.lost_claim_after.as_micros()).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await
    .map_err(crate::error::ApiError::from)?;
    for run in &lost {
        let mut to = StateCreate::new(StateType::Scheduled).with_message(
            "its agent is alive but does not hold it (the claim's answer was lost); back in the \
             queue",
        );
        to.scheduled_time = run.next_scheduled_start_time.map(crate::db::from_micros);
        changed.push(apply(&mut tx, run, &to, Holder::Release, None, now).await?);
        stats.lost += 1;
    }
    tx.commit().await.map_err(crate::error::ApiError::from)?;
    if stats != ReapStats::default() {
        let ids: Vec<Uuid> = zombies
            .iter()
            .chain(orphans.iter())
            .chain(lost.iter())
            .map(|r| r.id)
            .collect();
        tracing::warn!(?stats, ?ids, "reaped runs");
        state.notifier.runs_changed();
        state
            .events
            .runs_moved(&crate::db::flow_runs::decoded(changed));
    }
    if !notes.is_empty() {
        // after the commit, as a client's records would be: a failure costs the line, not the state
        match crate::db::logs::create_batch(&state.db, &notes).await {
            Ok(_) => state.events.logs_posted(&notes),
            Err(e) => tracing::warn!(error = %e, "cannot log why runs were reaped"),
        }
    }
    Ok(stats)
}
