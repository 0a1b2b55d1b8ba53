//! Task runs: the steps inside a flow run. Same state rules as flow runs, minus claiming.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use rigel_common::state::{SetState, SetStateResult, SetStateStatus, State, StateType};
use rigel_common::task_run::{TaskRun, TaskRunCreate, TaskRunFilter};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::run_states::{accepted, replayed, transition, Times};
use super::{flow_runs, from_micros, to_micros, Db};
use crate::error::{ApiError, ApiResult};
use crate::orchestration::{decide, RunKind, RunSnapshot};

#[derive(sqlx::FromRow)]
struct TaskRunRow {
    id: Uuid,
    flow_run_id: Uuid,
    name: String,
    state_type: String,
    state_name: String,
    state_timestamp: i64,
    state_message: Option<String>,
    state_scheduled_time: Option<i64>,
    run_count: i64,
    start_time: Option<i64>,
    end_time: Option<i64>,
    total_run_time: i64,
    created: i64,
    updated: i64,
}

const COLUMNS: &str = "id, flow_run_id, name, state_type, state_name, state_timestamp, \
    state_message, state_scheduled_time, run_count, start_time, end_time, total_run_time, \
    created, updated";

impl TaskRunRow {
    fn state(&self) -> ApiResult<State> {
        flow_runs::state_from_columns(
            &self.state_type,
            self.state_name.clone(),
            self.state_timestamp,
            self.state_message.clone(),
            self.state_scheduled_time,
        )
    }

    fn into_api(self) -> ApiResult<TaskRun> {
        Ok(TaskRun {
            state: self.state()?,
            id: self.id,
            created: from_micros(self.created),
            updated: from_micros(self.updated),
            flow_run_id: self.flow_run_id,
            name: self.name,
            run_count: u32::try_from(self.run_count).unwrap_or(u32::MAX),
            start_time: self.start_time.map(from_micros),
            end_time: self.end_time.map(from_micros),
            total_run_time: self.total_run_time as f64 / 1e6,
        })
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format_args!("task run {id}"))
}

async fn find(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<Option<TaskRunRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM task_run WHERE id = ?"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

async fn insert_history(
    conn: &mut SqliteConnection,
    task_run_id: Uuid,
    state: &State,
    transition_id: Option<Uuid>,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO task_run_state (id, task_run_id, type, name, timestamp, message,
         scheduled_time, transition_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(Uuid::now_v7())
    .bind(task_run_id)
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

pub async fn create(db: &Db, body: &TaskRunCreate, now: DateTime<Utc>) -> ApiResult<TaskRun> {
    let body = body.clone();
    let row = db
        .writer
        .run(move |conn| Box::pin(async move { create_in(conn, &body, now).await }))
        .await?;
    // decoded outside the writer, which other writes are waiting for
    row.into_api()
}

async fn create_in(
    tx: &mut SqliteConnection,
    body: &TaskRunCreate,
    now: DateTime<Utc>,
) -> ApiResult<TaskRunRow> {
    if flow_runs::find(&mut *tx, body.flow_run_id).await?.is_none() {
        return Err(ApiError::invalid(
            "flow_run_id",
            format!("flow run {} does not exist", body.flow_run_id),
        ));
    }
    let initial = body
        .state
        .clone()
        .unwrap_or_else(|| rigel_common::state::StateCreate::new(StateType::Pending));
    let state = flow_runs::initial_state(&initial, now);
    let id = Uuid::now_v7();
    let now_us = to_micros(now);
    let running = state.kind == StateType::Running;
    let row: TaskRunRow = sqlx::query_as(&format!(
        "INSERT INTO task_run (id, flow_run_id, name, state_type, state_name, state_timestamp,
         state_message, state_scheduled_time, run_count, start_time, end_time, created, updated)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(body.flow_run_id)
    .bind(&body.name)
    .bind(state.kind.as_str())
    .bind(&state.name)
    .bind(now_us)
    .bind(&state.message)
    .bind(state.scheduled_time.map(to_micros))
    .bind(i64::from(running))
    .bind(running.then_some(now_us))
    .bind(state.kind.is_terminal().then_some(now_us))
    .bind(now_us)
    .bind(now_us)
    .fetch_one(&mut *tx)
    .await?;
    insert_history(tx, id, &state, None).await?;
    Ok(row)
}

pub async fn get(db: &Db, id: Uuid) -> ApiResult<TaskRun> {
    let mut conn = db.read.acquire().await?;
    find(&mut conn, id)
        .await?
        .ok_or_else(|| not_found(id))?
        .into_api()
}

pub async fn filter(db: &Db, f: &TaskRunFilter) -> ApiResult<Vec<TaskRun>> {
    let rows: Vec<TaskRunRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM task_run WHERE flow_run_id = ? ORDER BY created, id LIMIT ? OFFSET ?"
    ))
    .bind(f.flow_run_id)
    .bind(i64::from(f.limit))
    .bind(i64::from(f.offset))
    .fetch_all(&db.read)
    .await?;
    rows.into_iter().map(TaskRunRow::into_api).collect()
}

pub async fn history(db: &Db, id: Uuid) -> ApiResult<Vec<State>> {
    let mut conn = db.read.acquire().await?;
    if find(&mut conn, id).await?.is_none() {
        return Err(not_found(id));
    }
    super::run_states::history(&mut conn, "task_run_state", "task_run_id", id).await
}

pub async fn set_state(
    db: &Db,
    id: Uuid,
    proposal: &SetState,
    now: DateTime<Utc>,
) -> ApiResult<SetStateResult> {
    let proposal = proposal.clone();
    db.writer
        .run(move |conn| Box::pin(async move { set_state_in(conn, id, &proposal, now).await }))
        .await
}

async fn set_state_in(
    tx: &mut SqliteConnection,
    id: Uuid,
    proposal: &SetState,
    now: DateTime<Utc>,
) -> ApiResult<SetStateResult> {
    let row = find(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    let current = row.state()?;
    let snapshot = RunSnapshot {
        state: current.clone(),
        claim_token: None,
        next_scheduled_start_time: None,
    };
    // a retried proposal gets what its first attempt got (looked up only when it cannot simply
    // go ahead: refused, or stopped by the unique index on (task run, transition id))
    let tid = proposal.transition_id;
    let to = match accepted(decide(&snapshot, proposal, now, RunKind::Task), &current) {
        ControlFlow::Continue(to) => to,
        ControlFlow::Break(refused) => {
            return replayed(tx, RunKind::Task, id, tid, None, Ok(refused)).await
        }
    };
    let mut times = Times {
        run_count: row.run_count,
        start_time: row.start_time,
        end_time: row.end_time,
        total_run_time: row.total_run_time,
        expected_start_time: None,
        next_scheduled_start_time: None,
    };
    let state = transition(&current, &to, &mut times, now);
    // the history row first: a replay stops here, before the run is touched
    match insert_history(tx, id, &state, tid).await {
        Ok(()) => {}
        Err(e @ ApiError::Conflict(_)) => {
            return replayed(tx, RunKind::Task, id, tid, None, Err(e)).await
        }
        Err(e) => return Err(e),
    }
    sqlx::query(
        "UPDATE task_run SET state_type = ?, state_name = ?, state_timestamp = ?,
         state_message = ?, state_scheduled_time = ?, run_count = ?, start_time = ?,
         end_time = ?, total_run_time = ?, updated = ? WHERE id = ?",
    )
    .bind(state.kind.as_str())
    .bind(&state.name)
    .bind(to_micros(state.timestamp))
    .bind(&state.message)
    .bind(state.scheduled_time.map(to_micros))
    .bind(times.run_count)
    .bind(times.start_time)
    .bind(times.end_time)
    .bind(times.total_run_time)
    .bind(to_micros(now))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(SetStateResult {
        status: SetStateStatus::Accept,
        state,
        details: Default::default(),
    })
}
