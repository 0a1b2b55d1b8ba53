//! The database's side of `GET /api/metrics`: counts read when the endpoint is scraped.

use rigel_common::agent::AgentStatus;

use super::agents::Liveness;
use super::Db;
use crate::error::ApiResult;

/// Runs per state type (`SCHEDULED`, `RUNNING`, …); types with no run are left out.
pub async fn runs_by_state(db: &Db) -> ApiResult<Vec<(String, i64)>> {
    // the (state_type, …) index answers this without reading the runs
    Ok(sqlx::query_as(
        "SELECT state_type, COUNT(*) FROM flow_run GROUP BY state_type ORDER BY state_type",
    )
    .fetch_all(&db.read)
    .await?)
}

/// Agents per status, every status listed.
pub async fn agents_by_status(db: &Db, at: &Liveness) -> ApiResult<Vec<(AgentStatus, i64)>> {
    let mut counts = Vec::new();
    for status in [
        AgentStatus::Online,
        AgentStatus::Stale,
        AgentStatus::Offline,
    ] {
        let (from, to) = at.heartbeat_range(status);
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM agent WHERE last_heartbeat >= COALESCE(?, last_heartbeat)
             AND last_heartbeat <= COALESCE(?, last_heartbeat)",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&db.read)
        .await?;
        counts.push((status, n));
    }
    Ok(counts)
}

/// One work queue's backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub name: String,
    /// Scheduled runs it offers that are due (waiting for an agent).
    pub due: u64,
    /// Its runs that agents hold (Pending, Running, Cancelling).
    pub active: u64,
}
