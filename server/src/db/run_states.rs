//! State changes of flow runs (and the shared bookkeeping for task runs): applies the decision of
//! `orchestration::decide` and keeps the run's columns and history in step, in one transaction.

use chrono::{DateTime, Utc};
use rigel_common::state::{
    SetState, SetStateDetails, SetStateResult, SetStateStatus, State, StateCreate, StateType,
};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::flow_runs::{self, FlowRunRow, COLUMNS};
use super::{from_micros, to_micros, Db};
use crate::error::ApiResult;
use crate::orchestration::{decide, Decision, RunKind, RunSnapshot};

/// The time-keeping columns every run has, before and after a transition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub run_count: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub total_run_time: i64,
    pub expected_start_time: Option<i64>,
    pub next_scheduled_start_time: Option<i64>,
}

/// Fills in the new state's defaults and updates the bookkeeping for `from` → `to`.
pub(crate) fn transition(
    from: &State,
    to: &StateCreate,
    times: &mut Times,
    now: DateTime<Utc>,
) -> State {
    let now_us = to_micros(now);
    let mut state = State {
        kind: to.kind,
        name: to
            .name
            .clone()
            .unwrap_or_else(|| to.kind.default_name().to_string()),
        timestamp: now,
        message: to.message.clone(),
        scheduled_time: to.scheduled_time,
    };
    if from.kind == StateType::Running && to.kind != StateType::Running {
        times.total_run_time += (now_us - to_micros(from.timestamp)).max(0);
    }
    if to.kind == StateType::Running {
        times.run_count += 1;
        times.start_time.get_or_insert(now_us);
    }
    if to.kind.is_terminal() {
        times.end_time = Some(now_us);
    } else {
        times.end_time = None;
    }
    if to.kind == StateType::Scheduled {
        let due = to.scheduled_time.unwrap_or(now);
        state.scheduled_time = Some(due);
        times.next_scheduled_start_time = Some(to_micros(due));
        if times.start_time.is_none() {
            times.expected_start_time = Some(to_micros(due));
        }
    } else if state.scheduled_time.is_none() && matches!(to.kind, StateType::Pending) {
        // a claimed run remembers when it was due (the WAIT rule reads it)
        state.scheduled_time = from.scheduled_time;
    }
    state
}

pub(crate) async fn insert_history(
    conn: &mut SqliteConnection,
    flow_run_id: Uuid,
    state: &State,
    transition_id: Option<Uuid>,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO flow_run_state (id, flow_run_id, type, name, timestamp, message,
         scheduled_time, transition_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(Uuid::now_v7())
    .bind(flow_run_id)
    .bind(state.kind.as_str())
    .bind(&state.name)
    .bind(to_micros(state.timestamp))
    .bind(&state.message)
    .bind(state.scheduled_time.map(to_micros))
    .bind(transition_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StateRow {
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    timestamp: i64,
    message: Option<String>,
    scheduled_time: Option<i64>,
}

impl StateRow {
    fn into_state(self) -> ApiResult<State> {
        Ok(State {
            kind: flow_runs::parse_state_type(&self.kind)?,
            name: self.name,
            timestamp: from_micros(self.timestamp),
            message: self.message,
            scheduled_time: self.scheduled_time.map(from_micros),
        })
    }
}

/// All states of a run, oldest first. `table`/`column` are constants of this module's callers.
pub(crate) async fn history(
    conn: &mut SqliteConnection,
    table: &'static str,
    column: &'static str,
    id: Uuid,
) -> ApiResult<Vec<State>> {
    let rows: Vec<StateRow> = sqlx::query_as(&format!(
        "SELECT type, name, timestamp, message, scheduled_time FROM {table}
         WHERE {column} = ? ORDER BY timestamp, id"
    ))
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(StateRow::into_state).collect()
}

/// How a transition changes who holds the run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holder {
    Keep,
    /// Claimed: by an agent of a queue (or by a direct PENDING proposal with no agent).
    Claim {
        agent_id: Option<Uuid>,
        work_queue_id: Option<Uuid>,
        token: Uuid,
    },
    Release,
}

/// Writes `to` as the run's new state with its bookkeeping and a history row.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    row: &FlowRunRow,
    to: &StateCreate,
    holder: Holder,
    transition_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<FlowRunRow> {
    let from = row.state()?;
    let mut times = Times {
        run_count: row.run_count,
        start_time: row.start_time,
        end_time: row.end_time,
        total_run_time: row.total_run_time,
        expected_start_time: row.expected_start_time,
        next_scheduled_start_time: row.next_scheduled_start_time,
    };
    let state = transition(&from, to, &mut times, now);
    let (agent_id, queue_id, token) = match holder {
        Holder::Keep => (row.agent_id, row.work_queue_id, row.claim_token),
        Holder::Claim {
            agent_id,
            work_queue_id,
            token,
        } => (agent_id, work_queue_id.or(row.work_queue_id), Some(token)),
        Holder::Release => (None, row.work_queue_id, None),
    };
    let updated: FlowRunRow = sqlx::query_as(&format!(
        "UPDATE flow_run SET state_type = ?, state_name = ?, state_timestamp = ?,
         state_message = ?, state_scheduled_time = ?, run_count = ?, start_time = ?,
         end_time = ?, total_run_time = ?, expected_start_time = ?,
         next_scheduled_start_time = ?, agent_id = ?, work_queue_id = ?, claim_token = ?,
         updated = ? WHERE id = ? RETURNING {COLUMNS}"
    ))
    .bind(state.kind.as_str())
    .bind(&state.name)
    .bind(to_micros(state.timestamp))
    .bind(&state.message)
    .bind(state.scheduled_time.map(to_micros))
    .bind(times.run_count)
    .bind(times.start_time)
    .bind(times.end_time)
    .bind(times.total_run_time)
    .bind(times.expected_start_time)
    .bind(times.next_scheduled_start_time)
    .bind(agent_id)
    .bind(queue_id)
    .bind(token)
    .bind(to_micros(now))
    .bind(row.id)
    .fetch_one(&mut *conn)
    .await?;
    insert_history(conn, row.id, &state, transition_id).await?;
    Ok(updated)
}

/// `POST /api/flow_runs/{id}/set_state`.
pub async fn set_flow_run_state(
    db: &Db,
    id: Uuid,
    proposal: &SetState,
    now: DateTime<Utc>,
) -> ApiResult<SetStateResult> {
    let mut tx = db.begin_write().await?;
    let row = flow_runs::find(&mut tx, id)
        .await?
        .ok_or_else(|| flow_runs::not_found(id))?;
    if let Some(tid) = proposal.transition_id {
        // A retried proposal: answer what the first attempt got.
        let seen: Option<StateRow> = sqlx::query_as(
            "SELECT type, name, timestamp, message, scheduled_time FROM flow_run_state
             WHERE flow_run_id = ? AND transition_id = ?",
        )
        .bind(id)
        .bind(tid)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(seen) = seen {
            let claim_token = (seen.kind == StateType::Pending.as_str())
                .then_some(row.claim_token)
                .flatten();
            return Ok(SetStateResult {
                status: SetStateStatus::Accept,
                state: seen.into_state()?,
                details: SetStateDetails {
                    reason: Some("this transition was already accepted".into()),
                    delay_seconds: None,
                    claim_token,
                },
            });
        }
    }
    let snapshot = RunSnapshot {
        state: row.state()?,
        claim_token: row.claim_token,
        next_scheduled_start_time: row.next_scheduled_start_time.map(from_micros),
    };
    let current = snapshot.state.clone();
    let result = match decide(&snapshot, proposal, now, RunKind::Flow) {
        Decision::Accept(to) => {
            let holder = match to.kind {
                StateType::Pending => Holder::Claim {
                    agent_id: None,
                    work_queue_id: None,
                    token: Uuid::now_v7(),
                },
                StateType::Scheduled => Holder::Release,
                _ => Holder::Keep,
            };
            let updated = apply(&mut tx, &row, &to, holder, proposal.transition_id, now).await?;
            let claim_token = (to.kind == StateType::Pending)
                .then_some(updated.claim_token)
                .flatten();
            SetStateResult {
                status: SetStateStatus::Accept,
                state: updated.state()?,
                details: SetStateDetails {
                    reason: None,
                    delay_seconds: None,
                    claim_token,
                },
            }
        }
        Decision::Reject(reason) => refusal(SetStateStatus::Reject, current, reason, None),
        Decision::Abort(reason) => refusal(SetStateStatus::Abort, current, reason, None),
        Decision::Wait {
            reason,
            delay_seconds,
        } => refusal(SetStateStatus::Wait, current, reason, Some(delay_seconds)),
    };
    tx.commit().await?;
    Ok(result)
}

pub(crate) fn refusal(
    status: SetStateStatus,
    state: State,
    reason: String,
    delay_seconds: Option<f64>,
) -> SetStateResult {
    SetStateResult {
        status,
        state,
        details: SetStateDetails {
            reason: Some(reason),
            delay_seconds,
            claim_token: None,
        },
    }
}
