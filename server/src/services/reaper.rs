//! The zombie reaper: a RUNNING run whose engine stopped heartbeating becomes CRASHED (a
//! CANCELLING one, CANCELLED); a PENDING run whose agent went offline before starting it goes
//! back to Scheduled, with its claim token cleared so a late process can't run it. So does a
//! PENDING run whose agent is alive but has not listed it among the runs it holds for
//! `lost_claim_after` since the claim: the claim's answer never reached the agent (a dropped
//! connection), which would otherwise leave the run Pending for good.

use std::time::Duration;

use super::ServiceError;
use crate::db::reaper::{self, Cutoffs, Reaped};
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

pub use crate::db::reaper::ReapStats;

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
    let cutoffs = Cutoffs {
        now: state.now(),
        quiet_since: ago(state, state.config.reaper.run_heartbeat_timeout),
        offline_since: ago(state, state.config.agent_offline_after),
        lost_claim_after_us: i64::try_from(state.config.reaper.lost_claim_after.as_micros())
            .unwrap_or(i64::MAX),
        heartbeat_timeout: state.config.reaper.run_heartbeat_timeout,
    };
    let Reaped {
        stats,
        changed,
        notes,
        ids,
    } = reaper::reap(&state.db, &cutoffs).await?;
    if stats != ReapStats::default() {
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
