//! The reaper's reads and moves, in one write transaction: runs whose engine went silent, runs
//! claimed by agents that went offline, and claims whose answer never reached their (live) agent.
//! What to do with them is decided here by the rules of the services/reaper.rs doc; when to run a
//! pass, and what to announce after, is the service's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rigel_common::log::{level, LogCreate};
use rigel_common::state::{StateCreate, StateType};
use uuid::Uuid;

use super::flow_runs::{FlowRunRow, COLUMNS};
use super::run_states::{apply, Holder};
use super::{from_micros, Db};
use crate::error::{ApiError, ApiResult};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReapStats {
    pub crashed: u64,
    pub cancelled: u64,
    pub requeued: u64,
    /// Claimed runs their live agent does not hold (the claim's answer was lost).
    pub lost: u64,
}

/// The moments a pass judges by (microseconds, as stored).
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub now: DateTime<Utc>,
    /// Running runs not heard of since are silent.
    pub quiet_since: i64,
    /// Agents not heard of since are offline.
    pub offline_since: i64,
    /// How long after its claim a run must be listed by its live agent.
    pub lost_claim_after_us: i64,
    /// The engine heartbeat timeout, for the messages.
    pub heartbeat_timeout: Duration,
}

/// What a pass moved: counts, the changed rows (for events), what to log on each crashed or
/// cancelled run, and the ids (for the operator's log line).
pub(crate) struct Reaped {
    pub(crate) stats: ReapStats,
    pub(crate) changed: Vec<FlowRunRow>,
    pub(crate) notes: Vec<LogCreate>,
    pub(crate) ids: Vec<Uuid>,
}

/// One pass. Candidates are chosen and moved in one write transaction, so a run that reported in
/// the meantime is not touched.
pub(crate) async fn reap(db: &Db, cutoffs: &Cutoffs) -> ApiResult<Reaped> {
    let Cutoffs {
        now,
        quiet_since,
        offline_since,
        lost_claim_after_us,
        heartbeat_timeout,
    } = *cutoffs;
    let mut stats = ReapStats::default();
    let mut changed: Vec<FlowRunRow> = Vec::new();
    let mut tx = db.begin_write().await?;
    let zombies: Vec<FlowRunRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flow_run WHERE state_type IN ('RUNNING', 'CANCELLING')
         AND state_timestamp < ?1
         AND COALESCE((SELECT last_seen FROM flow_run_heartbeat h WHERE h.flow_run_id = flow_run.id), 0) < ?1
         LIMIT 1000"
    ))
    .bind(quiet_since)
    .fetch_all(&mut *tx)
    .await
    .map_err(ApiError::from)?;
    let timeout = heartbeat_timeout.as_secs_f64();
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
    .map_err(ApiError::from)?;
    for run in &orphans {
        let to = StateCreate::new(StateType::Scheduled)
            .with_message("its agent went offline before starting it; back in the queue");
        let mut to = to;
        to.scheduled_time = run.next_scheduled_start_time.map(from_micros);
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
    .bind(lost_claim_after_us)
    .fetch_all(&mut *tx)
    .await
    .map_err(ApiError::from)?;
    for run in &lost {
        let mut to = StateCreate::new(StateType::Scheduled).with_message(
            "its agent is alive but does not hold it (the claim's answer was lost); back in the \
             queue",
        );
        to.scheduled_time = run.next_scheduled_start_time.map(from_micros);
        changed.push(apply(&mut tx, run, &to, Holder::Release, None, now).await?);
        stats.lost += 1;
    }
    tx.commit().await.map_err(ApiError::from)?;
    let ids = zombies
        .iter()
        .chain(orphans.iter())
        .chain(lost.iter())
        .map(|r| r.id)
        .collect();
    Ok(Reaped {
        stats,
        changed,
        notes,
        ids,
    })
}
