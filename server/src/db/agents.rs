//! Agents table: registrations and heartbeats. An agent's status is not stored; it is derived
//! from the heartbeat's age each time the agent is read, so it can never go out of date.

use chrono::{DateTime, Utc};
use rigel_common::agent::{Agent, AgentCreate, AgentFilter, AgentStatus};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::{from_json, from_micros, push_in, to_json, to_micros, Db};
use crate::error::{ApiError, ApiResult};
use crate::ServerConfig;

/// The moment an agent is judged at, and the heartbeat ages that make it stale and offline.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub now: DateTime<Utc>,
    stale_after_us: i64,
    offline_after_us: i64,
}

impl Liveness {
    /// Judged now, by the configured clock and thresholds.
    pub fn from_config(config: &ServerConfig) -> Self {
        let micros = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self {
            now: config.now(),
            stale_after_us: micros(config.agent_stale_after),
            offline_after_us: micros(config.agent_offline_after),
        }
    }

    /// The status of an agent whose last heartbeat was at `last_heartbeat` (microseconds).
    pub fn status(&self, last_heartbeat: i64) -> AgentStatus {
        let age = to_micros(self.now).saturating_sub(last_heartbeat);
        if age <= self.stale_after_us {
            AgentStatus::Online
        } else if age <= self.offline_after_us {
            AgentStatus::Stale
        } else {
            AgentStatus::Offline
        }
    }

    /// The heartbeats (microseconds, inclusive bounds) that give `status`; `None` is unbounded.
    /// Must agree with [`Liveness::status`].
    pub(crate) fn heartbeat_range(&self, status: AgentStatus) -> (Option<i64>, Option<i64>) {
        let now = to_micros(self.now);
        let online_from = now.saturating_sub(self.stale_after_us);
        let stale_from = now.saturating_sub(self.offline_after_us);
        match status {
            AgentStatus::Online => (Some(online_from), None),
            AgentStatus::Stale => (Some(stale_from), Some(online_from - 1)),
            AgentStatus::Offline => (None, Some(stale_from - 1)),
        }
    }
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: Uuid,
    name: String,
    work_queue_id: Option<Uuid>,
    work_queue_name: String,
    hostname: Option<String>,
    pid: Option<i64>,
    version: Option<String>,
    started: i64,
    last_heartbeat: i64,
    runs_in_flight: String,
}

impl AgentRow {
    fn into_agent(self, at: &Liveness) -> ApiResult<Agent> {
        let age_us = to_micros(at.now).saturating_sub(self.last_heartbeat).max(0);
        Ok(Agent {
            id: self.id,
            status: at.status(self.last_heartbeat),
            heartbeat_age_seconds: age_us as f64 / 1e6,
            name: self.name,
            work_queue_id: self.work_queue_id,
            work_queue_name: self.work_queue_name,
            hostname: self.hostname,
            pid: self.pid.and_then(|p| u32::try_from(p).ok()),
            version: self.version,
            started: from_micros(self.started),
            last_heartbeat: from_micros(self.last_heartbeat),
            runs_in_flight: from_json("agent.runs_in_flight", &self.runs_in_flight)?,
        })
    }
}

const COLUMNS: &str = "id, name, work_queue_id, work_queue_name, hostname, pid, version, \
    started, last_heartbeat, runs_in_flight";

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!(
        "agent {id} not found; an agent that was removed must register again"
    ))
}

/// Registers a new agent. The queue is linked by id when it exists; the name is always kept so
/// an agent can register before its queue is created.
/// `api_key_id` is the key it registered with (what an `agent` key may act on follows from it).
pub async fn register(
    db: &Db,
    spec: &AgentCreate,
    at: &Liveness,
    api_key_id: Option<Uuid>,
) -> ApiResult<Agent> {
    let now = to_micros(at.now);
    let row: AgentRow = sqlx::query_as(&format!(
        "INSERT INTO agent (id, name, work_queue_id, work_queue_name, hostname, pid, version,
             started, last_heartbeat, runs_in_flight, api_key_id)
         VALUES (?, ?, (SELECT id FROM work_queue WHERE name = ?), ?, ?, ?, ?, ?, ?, '[]', ?)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&spec.name)
    .bind(&spec.work_queue_name)
    .bind(&spec.work_queue_name)
    .bind(&spec.hostname)
    .bind(spec.pid.map(i64::from))
    .bind(&spec.version)
    .bind(now)
    .bind(now)
    .bind(api_key_id)
    .fetch_one(&db.write)
    .await?;
    row.into_agent(at)
}

/// Records a heartbeat in one statement; links the queue if it was created since registration.
/// The heartbeat is stamped by `clock` when it is written, not when it arrived: one queued
/// behind a slow write must not make a live agent look silent (its runs would be requeued).
pub async fn heartbeat(
    db: &Db,
    id: Uuid,
    runs_in_flight: &[Uuid],
    at: &Liveness,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
) -> ApiResult<Agent> {
    let runs_in_flight = to_json(&runs_in_flight);
    let row: Option<AgentRow> = db
        .writer
        .run(move |conn| {
            Box::pin(async move {
                let now = to_micros(clock.now());
                Ok(sqlx::query_as(&format!(
                    "UPDATE agent SET last_heartbeat = ?, runs_in_flight = ?,
                         work_queue_id = COALESCE(work_queue_id,
                             (SELECT q.id FROM work_queue q WHERE q.name = agent.work_queue_name))
                     WHERE id = ? RETURNING {COLUMNS}"
                ))
                .bind(now)
                .bind(runs_in_flight)
                .bind(id)
                .fetch_optional(conn)
                .await?)
            })
        })
        .await?;
    // decoded outside the writer, which other writes are waiting for
    row.ok_or_else(|| not_found(id))?.into_agent(at)
}

pub async fn get(db: &Db, id: Uuid, at: &Liveness) -> ApiResult<Agent> {
    let row: Option<AgentRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM agent WHERE id = ?"))
            .bind(id)
            .fetch_optional(&db.read)
            .await?;
    row.ok_or_else(|| not_found(id))?.into_agent(at)
}

/// Agents matching the filter, newest heartbeat first. Status is turned into heartbeat-time
/// bounds, so it is filtered in SQL and paging stays correct.
pub async fn filter(db: &Db, f: &AgentFilter, at: &Liveness) -> ApiResult<Vec<Agent>> {
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM agent WHERE 1"));
    if let Some(ids) = &f.agents.id {
        push_in(&mut qb, "id", &ids.any_);
    }
    if let Some(names) = &f.agents.work_queue_name {
        push_in(&mut qb, "work_queue_name", &names.any_);
    }
    if let Some(statuses) = &f.agents.status {
        // one OR per distinct status: `any_` may repeat one up to MAX_ANY times, and SQLite
        // refuses an expression that deep
        let mut distinct: Vec<AgentStatus> = Vec::new();
        for status in &statuses.any_ {
            if !distinct.contains(status) {
                distinct.push(*status);
            }
        }
        qb.push(" AND (0");
        for status in &distinct {
            qb.push(" OR (1");
            let (from, to) = at.heartbeat_range(*status);
            if let Some(from) = from {
                qb.push(" AND last_heartbeat >= ").push_bind(from);
            }
            if let Some(to) = to {
                qb.push(" AND last_heartbeat <= ").push_bind(to);
            }
            qb.push(")");
        }
        qb.push(")");
    }
    qb.push(" ORDER BY last_heartbeat DESC, id DESC LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<AgentRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(|r| r.into_agent(at)).collect()
}

pub async fn delete(db: &Db, id: Uuid) -> ApiResult<()> {
    let n = sqlx::query("DELETE FROM agent WHERE id = ?")
        .bind(id)
        .execute(&db.write)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_sql_bounds_agree() {
        let at = Liveness {
            now: from_micros(1_000_000_000),
            stale_after_us: 30_000_000,
            offline_after_us: 120_000_000,
        };
        let now = to_micros(at.now);
        for age in [
            -5,
            0,
            29_999_999,
            30_000_000,
            30_000_001,
            119_999_999,
            120_000_000,
            120_000_001,
        ] {
            let hb = now - age;
            let status = at.status(hb);
            for s in [
                AgentStatus::Online,
                AgentStatus::Stale,
                AgentStatus::Offline,
            ] {
                let (from, to) = at.heartbeat_range(s);
                let inside = from.is_none_or(|f| hb >= f) && to.is_none_or(|t| hb <= t);
                assert_eq!(inside, s == status, "age {age}us: {s:?} vs {status:?}");
            }
        }
        assert_eq!(at.status(now - 30_000_000), AgentStatus::Online);
        assert_eq!(at.status(now - 120_000_000), AgentStatus::Stale);
        assert_eq!(at.status(now - 120_000_001), AgentStatus::Offline);
    }
}
