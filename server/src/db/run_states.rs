//! State changes of flow runs (and the shared bookkeeping for task runs): applies the decision of
//! `orchestration::decide` and keeps the run's columns and history in step, in one transaction.

use std::collections::HashMap;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use rigel_common::flow_run::FlowRun;
use rigel_common::state::{
    SetState, SetStateDetails, SetStateResult, SetStateStatus, State, StateCreate, StateType,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::flow_runs::{self, FlowRunRow, COLUMNS};
use super::{from_micros, to_micros, Db};
use crate::error::{ApiError, ApiResult};
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
        // as stored (microseconds), so an answer equals what the history and a replay say
        timestamp: from_micros(now_us),
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
        flow_runs::state_from_columns(
            &self.kind,
            self.name,
            self.timestamp,
            self.message,
            self.scheduled_time,
        )
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

/// One run's transition, worked out before it is written.
struct Change {
    id: Uuid,
    state: State,
    times: Times,
    agent_id: Option<Uuid>,
    work_queue_id: Option<Uuid>,
    claim_token: Option<Uuid>,
    transition_id: Option<Uuid>,
}

fn change(
    row: &FlowRunRow,
    to: &StateCreate,
    holder: Holder,
    transition_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<Change> {
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
    let (agent_id, work_queue_id, claim_token) = match holder {
        Holder::Keep => (row.agent_id, row.work_queue_id, row.claim_token),
        Holder::Claim {
            agent_id,
            work_queue_id,
            token,
        } => (agent_id, work_queue_id.or(row.work_queue_id), Some(token)),
        Holder::Release => (None, row.work_queue_id, None),
    };
    Ok(Change {
        id: row.id,
        state,
        times,
        agent_id,
        work_queue_id,
        claim_token,
        transition_id,
    })
}

/// Writes the changes — history rows, then the runs — in one round trip, and returns the
/// updated runs in the order given.
async fn write_changes(
    conn: &mut SqliteConnection,
    changes: &[Change],
    now: DateTime<Utc>,
) -> ApiResult<Vec<FlowRunRow>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO flow_run_state (id, flow_run_id, type, name, timestamp, message,
         scheduled_time, transition_id) ",
    );
    qb.push_values(changes, |mut b, c| {
        b.push_bind(Uuid::now_v7())
            .push_bind(c.id)
            .push_bind(c.state.kind.as_str())
            .push_bind(c.state.name.clone())
            .push_bind(to_micros(c.state.timestamp))
            .push_bind(c.state.message.clone())
            .push_bind(c.state.scheduled_time.map(to_micros))
            .push_bind(c.transition_id);
    });
    // the runs' UPDATE comes last: its RETURNING rows are read only once every statement ran
    qb.push(
        "; WITH v (v_id, v_type, v_name, v_timestamp, v_message, v_scheduled, v_run_count,
         v_start, v_end, v_total, v_expected, v_next, v_agent, v_queue, v_token) AS (",
    );
    qb.push_values(changes, |mut b, c| {
        b.push_bind(c.id)
            .push_bind(c.state.kind.as_str())
            .push_bind(c.state.name.clone())
            .push_bind(to_micros(c.state.timestamp))
            .push_bind(c.state.message.clone())
            .push_bind(c.state.scheduled_time.map(to_micros))
            .push_bind(c.times.run_count)
            .push_bind(c.times.start_time)
            .push_bind(c.times.end_time)
            .push_bind(c.times.total_run_time)
            .push_bind(c.times.expected_start_time)
            .push_bind(c.times.next_scheduled_start_time)
            .push_bind(c.agent_id)
            .push_bind(c.work_queue_id)
            .push_bind(c.claim_token);
    });
    qb.push(
        ") UPDATE flow_run SET state_type = v_type, state_name = v_name,
         state_timestamp = v_timestamp, state_message = v_message,
         state_scheduled_time = v_scheduled, run_count = v_run_count, start_time = v_start,
         end_time = v_end, total_run_time = v_total, expected_start_time = v_expected,
         next_scheduled_start_time = v_next, agent_id = v_agent, work_queue_id = v_queue,
         claim_token = v_token, updated = ",
    )
    .push_bind(to_micros(now))
    .push(format!(
        " FROM v WHERE flow_run.id = v.v_id RETURNING {COLUMNS}"
    ));
    // one statement per batch size: only the single-run form is worth a cache slot
    let rows: Vec<FlowRunRow> = qb
        .build_query_as()
        .persistent(changes.len() == 1)
        .fetch_all(&mut *conn)
        .await?;
    if changes.len() == 1 {
        return Ok(rows);
    }
    let mut by_id: HashMap<Uuid, FlowRunRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    changes
        .iter()
        .map(|c| {
            by_id
                .remove(&c.id)
                .ok_or_else(|| flow_runs::not_found(c.id))
        })
        .collect()
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
    let c = change(row, to, holder, transition_id, now)?;
    write_changes(conn, &[c], now)
        .await?
        .pop()
        .ok_or_else(|| flow_runs::not_found(row.id))
}

/// Like [`apply`] for several runs moving to the same state, in one round trip.
pub(crate) async fn apply_many(
    conn: &mut SqliteConnection,
    runs: &[(FlowRunRow, Holder)],
    to: &StateCreate,
    now: DateTime<Utc>,
) -> ApiResult<Vec<FlowRunRow>> {
    let changes = runs
        .iter()
        .map(|(row, holder)| change(row, to, *holder, None, now))
        .collect::<ApiResult<Vec<_>>>()?;
    write_changes(conn, &changes, now).await
}

/// `POST /api/flow_runs/{id}/set_state`. With the answer comes the run as this call updated it,
/// for its state event: `None` when the state did not change (a refusal, or a replayed
/// transition answered as before) or the updated run cannot be decoded (logged).
pub async fn set_flow_run_state(
    db: &Db,
    id: Uuid,
    proposal: &SetState,
    now: DateTime<Utc>,
) -> ApiResult<(SetStateResult, Option<FlowRun>)> {
    let proposal = proposal.clone();
    let (result, updated) = db
        .writer
        .run(move |conn| {
            Box::pin(async move { set_flow_run_state_in(conn, id, &proposal, now).await })
        })
        .await?;
    // decoded outside the writer, which other writes are waiting for; a failure costs the event
    // only, never the answer
    Ok((result, flow_runs::decoded(updated).pop()))
}

async fn set_flow_run_state_in(
    tx: &mut SqliteConnection,
    id: Uuid,
    proposal: &SetState,
    now: DateTime<Utc>,
) -> ApiResult<(SetStateResult, Option<FlowRunRow>)> {
    let row = flow_runs::find(&mut *tx, id)
        .await?
        .ok_or_else(|| flow_runs::not_found(id))?;
    let snapshot = RunSnapshot {
        state: row.state()?,
        claim_token: row.claim_token,
        next_scheduled_start_time: row.next_scheduled_start_time.map(from_micros),
    };
    let decision = decide(&snapshot, proposal, now, RunKind::Flow);
    // A retried proposal gets what its first attempt got. It is looked up only when this one
    // cannot simply go ahead: refused (the first attempt moved the run on), or stopped by the
    // unique index on (run, transition id) when written — one query less for every first try.
    let to = match accepted(decision, &snapshot.state) {
        ControlFlow::Continue(to) => to,
        ControlFlow::Break(refused) => {
            let tid = proposal.transition_id;
            let answer = replayed(tx, RunKind::Flow, id, tid, row.claim_token, Ok(refused));
            return Ok((answer.await?, None));
        }
    };
    let holder = match to.kind {
        StateType::Pending => Holder::Claim {
            agent_id: None,
            work_queue_id: None,
            token: Uuid::now_v7(),
        },
        StateType::Scheduled => Holder::Release,
        _ => Holder::Keep,
    };
    let updated = match apply(tx, &row, &to, holder, proposal.transition_id, now).await {
        Ok(updated) => updated,
        Err(e @ ApiError::Conflict(_)) => {
            let tid = proposal.transition_id;
            let answer = replayed(tx, RunKind::Flow, id, tid, row.claim_token, Err(e));
            return Ok((answer.await?, None));
        }
        Err(e) => return Err(e),
    };
    let claim_token = (to.kind == StateType::Pending)
        .then_some(updated.claim_token)
        .flatten();
    let result = SetStateResult {
        status: SetStateStatus::Accept,
        state: updated.state()?,
        details: SetStateDetails {
            reason: None,
            delay_seconds: None,
            claim_token,
        },
    };
    Ok((result, Some(updated)))
}

/// The answer to a proposal whose `transition_id` was accepted before: the state it set then
/// (with `claim_token` when that state was a claim) — or, when it was not, `otherwise`.
pub(crate) async fn replayed(
    tx: &mut SqliteConnection,
    kind: RunKind,
    run_id: Uuid,
    transition_id: Option<Uuid>,
    claim_token: Option<Uuid>,
    otherwise: ApiResult<SetStateResult>,
) -> ApiResult<SetStateResult> {
    let Some(tid) = transition_id else {
        return otherwise;
    };
    let (table, run_column) = match kind {
        RunKind::Flow => ("flow_run_state", "flow_run_id"),
        RunKind::Task => ("task_run_state", "task_run_id"),
    };
    let seen: Option<StateRow> = sqlx::query_as(&format!(
        "SELECT type, name, timestamp, message, scheduled_time FROM {table}
         WHERE {run_column} = ? AND transition_id = ?"
    ))
    .bind(run_id)
    .bind(tid)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(seen) = seen else { return otherwise };
    let state = seen.into_state()?;
    Ok(SetStateResult {
        status: SetStateStatus::Accept,
        details: SetStateDetails {
            reason: Some("this transition was already accepted".into()),
            delay_seconds: None,
            claim_token: claim_token.filter(|_| state.kind == StateType::Pending),
        },
        state,
    })
}

/// Goes on with the state the rules accepted, or — when they refused — stops with the answer
/// that leaves the run in its `current` state.
pub(crate) fn accepted(
    decision: Decision,
    current: &State,
) -> ControlFlow<SetStateResult, StateCreate> {
    let (status, reason, delay_seconds) = match decision {
        Decision::Accept(to) => return ControlFlow::Continue(to),
        Decision::Reject(reason) => (SetStateStatus::Reject, reason, None),
        Decision::Abort(reason) => (SetStateStatus::Abort, reason, None),
        Decision::Wait {
            reason,
            delay_seconds,
        } => (SetStateStatus::Wait, reason, Some(delay_seconds)),
    };
    ControlFlow::Break(SetStateResult {
        status,
        state: current.clone(),
        details: SetStateDetails {
            reason: Some(reason),
            delay_seconds,
            claim_token: None,
        },
    })
}
