//! Run creation, the hottest write. Requests that arrive while earlier ones are being written are
//! written together by one writer job (see `coalesce`): each is checked on its own, then the new
//! runs go in with one multi-row INSERT (runs and history rows in one round trip) instead of a
//! round trip or two each.
//!
//! A request that fails its checks fails alone, and if a multi-row INSERT fails, its rows are
//! rolled back and inserted one by one so that only the offending request sees the error.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use rigel_common::flow_run::{DeploymentRunCreate, FlowRun, FlowRunCreate};
use rigel_common::state::{State, StateType};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::batch;
use super::coalesce::Coalescer;
use super::flow_runs::{self, default_run_name, initial_state, FlowRunRow, NewRun, COLUMNS};
use super::run_defaults::DeploymentCache;
use super::writer::Writer;
use super::{from_micros, to_json, to_micros};
use crate::error::{ApiError, ApiResult};

/// A run creation as the API received it.
pub(crate) enum Request {
    /// `POST /api/flow_runs/`.
    Flow(Box<FlowRunCreate>),
    /// `POST /api/deployments/{id}/create_flow_run`.
    Deployment(Uuid, Box<DeploymentRunCreate>),
}

type Answer = ApiResult<(FlowRun, bool)>;

/// Run creations waiting for the writer: each answered with the run, and `false` when it is an
/// existing run found by its idempotency key.
pub(crate) type RunCreations = Coalescer<(Request, DateTime<Utc>), (FlowRun, bool)>;

pub(crate) fn run_creations(writer: Writer, deployments: Arc<DeploymentCache>) -> RunCreations {
    Coalescer::new("a run creation", writer, move |conn, requests| {
        let deployments = Arc::clone(&deployments);
        Box::pin(async move { create_all(conn, &deployments, requests).await })
    })
}

/// Checks each request and writes the new runs; answers in the order of `requests`. The
/// database's condition (a full disk) fails them all: SQLite may have rolled the transaction
/// back, and what ran after it would be committed on its own.
async fn create_all(
    conn: &mut SqliteConnection,
    deployments: &DeploymentCache,
    requests: Vec<(Request, DateTime<Utc>)>,
) -> ApiResult<Vec<Answer>> {
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(requests.len());
    let mut new: Vec<(usize, NewRun, DateTime<Utc>)> = Vec::new();
    for (i, (request, now)) in requests.into_iter().enumerate() {
        let prepared = match request {
            Request::Flow(body) => flow_runs::prepare_flow_run(conn, deployments, &body).await,
            Request::Deployment(id, body) => {
                flow_runs::prepare_deployment_run(conn, deployments, id, &body).await
            }
        };
        match prepared {
            // an idempotency key needs a look first; such requests are written one at a time
            Ok(run) if run.idempotency_key.is_some() => {
                answers.push(Some(condition(insert(conn, run, now).await)?));
            }
            Ok(run) => {
                answers.push(None);
                new.push((i, run, now));
            }
            Err(e) => answers.push(Some(condition(Err(e))?)),
        }
    }
    for (i, answer) in insert_many(conn, new).await? {
        answers[i] = Some(answer);
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(ApiError::Internal("a run creation was lost".into()))))
        .collect())
}

/// The answer, or the whole job's failure when it is the database's condition.
fn condition<T>(answer: ApiResult<T>) -> ApiResult<ApiResult<T>> {
    match answer {
        Err(e) if e.is_database_condition() => Err(e),
        answer => Ok(answer),
    }
}

/// Inserts a run, or returns the existing one with the same (flow, idempotency key): `false`.
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    run: NewRun,
    now: DateTime<Utc>,
) -> ApiResult<(FlowRun, bool)> {
    if let Some(key) = &run.idempotency_key {
        let existing: Option<FlowRunRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM flow_run WHERE flow_id = ? AND idempotency_key = ?"
        ))
        .bind(run.flow_id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = existing {
            return Ok((row.into_api()?, false));
        }
    }
    let row = Row::new(run, now);
    write_rows(conn, &[&row]).await?;
    Ok((row.into_api(), true))
}

/// Inserts the runs, as many per statement as possible; a statement that fails is rolled back
/// and its runs retried one by one, so each failure is answered to its own request.
async fn insert_many(
    conn: &mut SqliteConnection,
    runs: Vec<(usize, NewRun, DateTime<Utc>)>,
) -> ApiResult<Vec<(usize, Answer)>> {
    let mut answers = Vec::with_capacity(runs.len());
    let mut rows: Vec<(usize, Row)> = runs
        .into_iter()
        .map(|(i, run, now)| (i, Row::new(run, now)))
        .collect();
    while !rows.is_empty() {
        let tail = rows.split_off(batch::chunk_len(rows.len(), CHUNK));
        let chunk = std::mem::replace(&mut rows, tail);
        let refs: Vec<&Row> = chunk.iter().map(|(_, r)| r).collect();
        let written = write_rows(conn, &refs).await;
        drop(refs);
        match written {
            Ok(()) => answers.extend(
                chunk
                    .into_iter()
                    .map(|(i, r)| (i, Ok((r.into_api(), true)))),
            ),
            Err(e) if e.is_database_condition() => return Err(e),
            Err(e) if chunk.len() == 1 => {
                answers.extend(chunk.into_iter().map(|(i, _)| i).zip([Err(e)]));
            }
            Err(_) => {
                for (i, row) in chunk {
                    let answer = write_rows(conn, &[&row])
                        .await
                        .map(|()| (row.into_api(), true));
                    answers.push((i, condition(answer)?));
                }
            }
        }
    }
    Ok(answers)
}

/// Most runs per INSERT (shorter remainders are split into powers of two, see `batch`).
const CHUNK: usize = 32;

/// `INSERT_ROWS[k]` writes 2^k runs with their history rows, inside a savepoint so that a
/// failure part-way leaves nothing behind.
static INSERT_ROWS: LazyLock<Vec<String>> = LazyLock::new(|| {
    batch::statements(CHUNK, |n| {
        format!(
            "SAVEPOINT new_runs;
             INSERT INTO flow_run (id, name, flow_id, deployment_id, parameters, tags,
             idempotency_key, auto_scheduled, flow_runner, flow_runner_type, state_type,
             state_name, state_timestamp, state_message, state_scheduled_time, run_count,
             expected_start_time, next_scheduled_start_time, start_time, end_time, created,
             updated) VALUES {};
             INSERT INTO flow_run_state (id, flow_run_id, type, name, timestamp, message,
             scheduled_time, transition_id) VALUES {};
             RELEASE new_runs",
            batch::values(
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                n
            ),
            batch::values("(?, ?, ?, ?, ?, ?, ?, NULL)", n)
        )
    })
});

/// Writes the rows (a power-of-two count up to [`CHUNK`]) in one round trip: all or none.
async fn write_rows(conn: &mut SqliteConnection, rows: &[&Row]) -> ApiResult<()> {
    let sql = batch::statement(&INSERT_ROWS, rows.len())?;
    let mut q = sqlx::query(sql);
    for r in rows {
        q = q
            .bind(r.id)
            .bind(&r.name)
            .bind(r.run.flow_id)
            .bind(r.run.deployment_id)
            .bind(to_json(&r.run.parameters))
            .bind(to_json(&r.run.tags))
            .bind(&r.run.idempotency_key)
            .bind(r.run.auto_scheduled)
            .bind(r.run.flow_runner.as_ref().map(to_json))
            .bind(r.run.flow_runner.as_ref().map(|f| f.kind.as_str()))
            .bind(r.state.kind.as_str())
            .bind(&r.state.name)
            .bind(r.now_us)
            .bind(&r.state.message)
            .bind(r.scheduled)
            .bind(i64::from(r.run_count))
            .bind(r.expected)
            .bind(r.scheduled)
            .bind(r.start_time)
            .bind(r.end_time)
            .bind(r.now_us)
            .bind(r.now_us);
    }
    for r in rows {
        q = q
            .bind(Uuid::now_v7())
            .bind(r.id)
            .bind(r.state.kind.as_str())
            .bind(&r.state.name)
            .bind(r.now_us)
            .bind(&r.state.message)
            .bind(r.scheduled);
    }
    if let Err(e) = q.execute(&mut *conn).await {
        let e = ApiError::from(e);
        // the statement stopped part-way: undo what it wrote and close its savepoint. A full
        // disk may have rolled the whole transaction back, leaving no savepoint: its own
        // error then says why, not the missing savepoint's
        let undone = sqlx::query("ROLLBACK TO new_runs; RELEASE new_runs")
            .execute(&mut *conn)
            .await;
        return match undone {
            Err(undo) if !e.is_database_condition() => Err(undo.into()),
            _ => Err(e),
        };
    }
    Ok(())
}

/// A new run as it is written, so that the answer needs no read back.
struct Row {
    id: Uuid,
    name: String,
    run: NewRun,
    state: State,
    now_us: i64,
    scheduled: Option<i64>,
    expected: i64,
    run_count: u32,
    start_time: Option<i64>,
    end_time: Option<i64>,
}

impl Row {
    fn new(run: NewRun, now: DateTime<Utc>) -> Self {
        let id = Uuid::now_v7();
        // times at the stored precision, so the answer equals what later reads return
        let now_us = to_micros(now);
        let mut state = initial_state(&run.state, from_micros(now_us));
        let scheduled = state.scheduled_time.map(to_micros);
        state.scheduled_time = scheduled.map(from_micros);
        let name = run.name.clone().unwrap_or_else(|| default_run_name(&id));
        let (start_time, run_count, end_time) = match state.kind {
            StateType::Running => (Some(now_us), 1, None),
            k if k.is_terminal() => (None, 0, Some(now_us)),
            _ => (None, 0, None),
        };
        Self {
            id,
            name,
            run,
            state,
            now_us,
            scheduled,
            expected: scheduled.unwrap_or(now_us),
            run_count,
            start_time,
            end_time,
        }
    }

    fn into_api(self) -> FlowRun {
        let now = from_micros(self.now_us);
        FlowRun {
            id: self.id,
            created: now,
            updated: now,
            name: self.name,
            flow_id: self.run.flow_id,
            deployment_id: self.run.deployment_id,
            work_queue_id: None,
            parameters: self.run.parameters,
            tags: self.run.tags,
            idempotency_key: self.run.idempotency_key,
            auto_scheduled: self.run.auto_scheduled,
            flow_runner: self.run.flow_runner,
            state: self.state,
            run_count: self.run_count,
            expected_start_time: Some(from_micros(self.expected)),
            next_scheduled_start_time: self.scheduled.map(from_micros),
            start_time: self.start_time.map(from_micros),
            end_time: self.end_time.map(from_micros),
            total_run_time: 0.0,
            agent_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use rigel_common::state::StateCreate;

    use super::*;
    use crate::db::testing;

    fn new_run(flow_id: Uuid) -> NewRun {
        NewRun {
            flow_id,
            deployment_id: None,
            name: None,
            parameters: Default::default(),
            tags: vec!["t".into()],
            idempotency_key: None,
            auto_scheduled: false,
            flow_runner: None,
            state: StateCreate::new(StateType::Scheduled),
        }
    }

    /// A multi-row INSERT that fails is retried row by row: only the bad row's request fails.
    #[tokio::test]
    async fn a_failing_row_fails_only_its_own_request() {
        let (_dir, db) = testing::scratch_db().await;
        let flow = testing::a_flow(&db).await;
        let missing = Uuid::now_v7();
        let now = Utc::now();
        // 37 rows: a chunk of 32 holding the bad one, then 4 and 1
        let runs: Vec<(usize, NewRun, DateTime<Utc>)> = (0..37)
            .map(|i| (i, new_run(if i == 7 { missing } else { flow }), now))
            .collect();
        let answers = db
            .writer
            .run(move |conn| Box::pin(async move { insert_many(conn, runs).await }))
            .await
            .unwrap();
        assert_eq!(answers.len(), 37);
        let mut ids = Vec::new();
        for (i, answer) in answers {
            if i == 7 {
                assert!(matches!(answer, Err(ApiError::Conflict(_))), "{answer:?}");
            } else {
                let (run, created) = answer.unwrap();
                assert!(created);
                assert_eq!(run.flow_id, flow);
                ids.push(run.id);
            }
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM flow_run")
            .fetch_one(&db.read)
            .await
            .unwrap();
        let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM flow_run_state")
            .fetch_one(&db.read)
            .await
            .unwrap();
        assert_eq!((stored, history), (36, 36));
        for id in ids {
            let run = flow_runs::get(&db, id).await.unwrap();
            assert_eq!(run.tags, vec!["t".to_string()]);
        }
        db.close().await;
    }
}
