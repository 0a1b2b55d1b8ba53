//! Flow runs: creation, reads, filters. State changes are in `run_states.rs`.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rigel_common::deployment::{FlowRunnerSettings, Parameters};
use rigel_common::flow_run::{
    FlowRun, FlowRunCriteria, FlowRunSort, RunDeploymentCriteria, RunFlowCriteria, TimeRange,
};
use rigel_common::state::{State, StateCreate, StateType};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::batch;
use super::run_creations::Request;
use super::run_defaults::DeploymentCache;
use super::{from_json, from_micros, push_in, push_tags_superset, to_micros, Db};
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow, Debug, Clone)]
pub(crate) struct FlowRunRow {
    pub id: Uuid,
    pub name: String,
    pub flow_id: Uuid,
    pub deployment_id: Option<Uuid>,
    pub work_queue_id: Option<Uuid>,
    pub parameters: String,
    pub tags: String,
    pub idempotency_key: Option<String>,
    pub auto_scheduled: bool,
    pub flow_runner: Option<String>,
    pub state_type: String,
    pub state_name: String,
    pub state_timestamp: i64,
    pub state_message: Option<String>,
    pub state_scheduled_time: Option<i64>,
    pub run_count: i64,
    pub expected_start_time: Option<i64>,
    pub next_scheduled_start_time: Option<i64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub total_run_time: i64,
    pub agent_id: Option<Uuid>,
    pub claim_token: Option<Uuid>,
    pub created: i64,
    pub updated: i64,
}

pub(crate) const COLUMNS: &str = "id, name, flow_id, deployment_id, work_queue_id, parameters, \
    tags, idempotency_key, auto_scheduled, flow_runner, state_type, state_name, state_timestamp, \
    state_message, state_scheduled_time, run_count, expected_start_time, \
    next_scheduled_start_time, start_time, end_time, total_run_time, agent_id, claim_token, \
    created, updated";

pub(crate) fn parse_state_type(s: &str) -> ApiResult<StateType> {
    StateType::parse(s).ok_or_else(|| ApiError::Internal(format!("corrupt state type {s:?}")))
}

/// A state from its stored columns (type, name, timestamp, message, scheduled time), as runs
/// and the history tables of flow and task runs keep them.
pub(crate) fn state_from_columns(
    kind: &str,
    name: String,
    timestamp: i64,
    message: Option<String>,
    scheduled_time: Option<i64>,
) -> ApiResult<State> {
    Ok(State {
        kind: parse_state_type(kind)?,
        name,
        timestamp: from_micros(timestamp),
        message,
        scheduled_time: scheduled_time.map(from_micros),
        actor: None,
    })
}

/// The generated name of a run given none, derived from its id.
pub(crate) fn default_run_name(id: &Uuid) -> String {
    let b = id.as_bytes();
    rigel_common::names::run_name(u16::from_be_bytes([b[14], b[15]]))
}

impl FlowRunRow {
    pub fn state(&self) -> ApiResult<State> {
        state_from_columns(
            &self.state_type,
            self.state_name.clone(),
            self.state_timestamp,
            self.state_message.clone(),
            self.state_scheduled_time,
        )
    }

    pub fn into_api(self) -> ApiResult<FlowRun> {
        let state = self.state()?;
        Ok(FlowRun {
            id: self.id,
            created: from_micros(self.created),
            updated: from_micros(self.updated),
            name: self.name,
            flow_id: self.flow_id,
            deployment_id: self.deployment_id,
            work_queue_id: self.work_queue_id,
            parameters: from_json("flow_run.parameters", &self.parameters)?,
            tags: from_json("flow_run.tags", &self.tags)?,
            idempotency_key: self.idempotency_key,
            auto_scheduled: self.auto_scheduled,
            flow_runner: self
                .flow_runner
                .map(|r| from_json("flow_run.flow_runner", &r))
                .transpose()?,
            state,
            run_count: u32::try_from(self.run_count).unwrap_or(u32::MAX),
            expected_start_time: self.expected_start_time.map(from_micros),
            next_scheduled_start_time: self.next_scheduled_start_time.map(from_micros),
            start_time: self.start_time.map(from_micros),
            end_time: self.end_time.map(from_micros),
            total_run_time: self.total_run_time as f64 / 1e6,
            agent_id: self.agent_id,
        })
    }
}

/// Everything needed to insert a run.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub flow_id: Uuid,
    pub deployment_id: Option<Uuid>,
    pub name: Option<String>,
    pub parameters: Parameters,
    pub tags: Vec<String>,
    pub idempotency_key: Option<String>,
    pub auto_scheduled: bool,
    pub flow_runner: Option<FlowRunnerSettings>,
    pub state: StateCreate,
}

/// A run's first state, with defaults filled in (SCHEDULED defaults to now).
pub(crate) fn initial_state(s: &StateCreate, now: DateTime<Utc>) -> State {
    let scheduled_time = match s.kind {
        StateType::Scheduled => Some(s.scheduled_time.unwrap_or(now)),
        _ => s.scheduled_time,
    };
    State {
        kind: s.kind,
        name: s
            .name
            .clone()
            .unwrap_or_else(|| s.kind.default_name().to_string()),
        timestamp: now,
        message: s.message.clone(),
        scheduled_time,
        actor: None,
    }
}

pub(crate) async fn find(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<Option<FlowRunRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM flow_run WHERE id = ?"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The runs of `ids` that exist, by id: a query per [`FIND_CHUNK`] runs (fewer are read in
/// power-of-two chunks, whose statements stay prepared).
pub(crate) async fn find_many(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, FlowRunRow>> {
    let mut found = HashMap::with_capacity(ids.len());
    let mut rest = ids;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(batch::chunk_len(rest.len(), FIND_CHUNK));
        let mut q = sqlx::query_as::<_, FlowRunRow>(batch::statement(&FIND_ROWS, chunk.len())?);
        for id in chunk {
            q = q.bind(id);
        }
        found.extend(
            q.fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|r| (r.id, r)),
        );
        rest = tail;
    }
    Ok(found)
}

/// Most runs [`find_many`] reads with one query.
const FIND_CHUNK: usize = 64;

/// `FIND_ROWS[k]` reads 2^k runs by id.
static FIND_ROWS: LazyLock<Vec<String>> = LazyLock::new(|| {
    batch::statements(FIND_CHUNK, |n| {
        let marks = vec!["?"; n].join(", ");
        format!("SELECT {COLUMNS} FROM flow_run WHERE id IN ({marks})")
    })
});

/// Written runs, for their events: a row that does not decode is logged and left out (the
/// write stands; only its announcement is lost).
pub(crate) fn decoded(rows: impl IntoIterator<Item = FlowRunRow>) -> Vec<FlowRun> {
    rows.into_iter()
        .filter_map(|row| {
            let id = row.id;
            row.into_api()
                .inspect_err(
                    |e| tracing::warn!(flow_run = %id, error = %e, "cannot decode a written run"),
                )
                .ok()
        })
        .collect()
}

pub(crate) fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format_args!("flow run {id}"))
}

pub async fn get(db: &Db, id: Uuid) -> ApiResult<FlowRun> {
    let mut conn = db.read.acquire().await?;
    find(&mut conn, id)
        .await?
        .ok_or_else(|| not_found(id))?
        .into_api()
}

fn push_range(qb: &mut QueryBuilder<'_, Sqlite>, col: &str, r: &TimeRange) {
    if let Some(after) = r.after_ {
        qb.push(" AND ")
            .push(col)
            .push(" >= ")
            .push_bind(to_micros(after));
    }
    if let Some(before) = r.before_ {
        qb.push(" AND ")
            .push(col)
            .push(" <= ")
            .push_bind(to_micros(before));
    }
}

/// Appends the WHERE conditions of a run filter (the query must select from `flow_run`).
pub(crate) fn push_criteria(
    qb: &mut QueryBuilder<'_, Sqlite>,
    runs: &FlowRunCriteria,
    deployments: &RunDeploymentCriteria,
    flows: &RunFlowCriteria,
) {
    if let Some(f) = &runs.id {
        push_in(qb, "flow_run.id", &f.any_);
    }
    if let Some(f) = &runs.flow_id {
        push_in(qb, "flow_run.flow_id", &f.any_);
    }
    if let Some(f) = &runs.deployment_id {
        push_in(qb, "flow_run.deployment_id", &f.any_);
    }
    if let Some(f) = &runs.work_queue_id {
        push_in(qb, "flow_run.work_queue_id", &f.any_);
    }
    if let Some(f) = &runs.agent_id {
        push_in(qb, "flow_run.agent_id", &f.any_);
    }
    if let Some(state) = &runs.state {
        if let Some(types) = &state.kind {
            let names: Vec<&'static str> = types.any_.iter().map(|t| t.as_str()).collect();
            push_in(qb, "flow_run.state_type", &names);
        }
        if let Some(names) = &state.name {
            push_in(qb, "flow_run.state_name", &names.any_);
        }
    }
    if let Some(tags) = &runs.tags {
        push_tags_superset(qb, "flow_run.tags", &tags.all_);
    }
    if let Some(r) = &runs.expected_start_time {
        push_range(qb, "flow_run.expected_start_time", r);
    }
    if let Some(r) = &runs.next_scheduled_start_time {
        push_range(qb, "flow_run.next_scheduled_start_time", r);
    }
    if let Some(r) = &runs.start_time {
        push_range(qb, "flow_run.start_time", r);
    }
    if let Some(r) = &runs.end_time {
        push_range(qb, "flow_run.end_time", r);
    }
    if let Some(f) = &deployments.id {
        push_in(qb, "flow_run.deployment_id", &f.any_);
    }
    if let Some(f) = &deployments.name {
        qb.push(" AND flow_run.deployment_id IN (SELECT id FROM deployment WHERE 1");
        push_in(qb, "name", &f.any_);
        qb.push(")");
    }
    if let Some(f) = &flows.id {
        push_in(qb, "flow_run.flow_id", &f.any_);
    }
    if let Some(f) = &flows.name {
        qb.push(" AND flow_run.flow_id IN (SELECT id FROM flow WHERE 1");
        push_in(qb, "name", &f.any_);
        qb.push(")");
    }
}

pub async fn filter(db: &Db, f: &rigel_common::flow_run::FlowRunFilter) -> ApiResult<Vec<FlowRun>> {
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM flow_run WHERE 1"));
    push_criteria(&mut qb, &f.flow_runs, &f.deployments, &f.flows);
    qb.push(match f.sort {
        FlowRunSort::ExpectedStartTimeAsc => " ORDER BY expected_start_time ASC, id ASC",
        FlowRunSort::ExpectedStartTimeDesc => " ORDER BY expected_start_time DESC, id DESC",
        // ids are UUIDv7: their order is creation order
        FlowRunSort::CreatedDesc => " ORDER BY id DESC",
        FlowRunSort::EndTimeDesc => " ORDER BY end_time DESC NULLS LAST, id DESC",
    });
    qb.push(" LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<FlowRunRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(FlowRunRow::into_api).collect()
}

/// How many runs match; with `limit`, counting stops there (a count over a large share of the
/// runs visits every one of them, a capped count at most `limit` index entries).
pub async fn count(db: &Db, f: &rigel_common::flow_run::FlowRunCount) -> ApiResult<u64> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(match f.limit {
        Some(_) => "SELECT COUNT(*) FROM (SELECT 1 FROM flow_run WHERE 1",
        None => "SELECT COUNT(*) FROM flow_run WHERE 1",
    });
    push_criteria(&mut qb, &f.flow_runs, &f.deployments, &f.flows);
    if let Some(limit) = f.limit {
        if limit == 0 {
            return Err(ApiError::invalid("limit", "must be at least 1"));
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        qb.push(" LIMIT ").push_bind(limit).push(")");
    }
    let (n,): (i64,) = qb.build_query_as().fetch_one(&db.read).await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub async fn delete(db: &Db, id: Uuid) -> ApiResult<()> {
    let n = sqlx::query("DELETE FROM flow_run WHERE id = ?")
        .bind(id)
        .execute(&db.write)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// The run's states, oldest first.
pub async fn history(db: &Db, id: Uuid) -> ApiResult<Vec<State>> {
    let mut conn = db.read.acquire().await?;
    if find(&mut conn, id).await?.is_none() {
        return Err(not_found(id));
    }
    super::run_states::history(&mut conn, "flow_run_state", "flow_run_id", id).await
}

/// `POST /api/flow_runs/`: a run of a flow, or of a deployment (its parameters, tags and flow
/// runner are the defaults).
pub async fn create(
    db: &Db,
    body: &rigel_common::flow_run::FlowRunCreate,
    now: DateTime<Utc>,
) -> ApiResult<(FlowRun, bool)> {
    let request = Request::Flow(Box::new(body.clone()));
    db.run_creations.submit((request, now)).await
}

/// Checks a `POST /api/flow_runs/` body and fills in the run's defaults.
pub(crate) async fn prepare_flow_run(
    tx: &mut SqliteConnection,
    cache: &DeploymentCache,
    body: &rigel_common::flow_run::FlowRunCreate,
) -> ApiResult<NewRun> {
    let mut run = NewRun {
        flow_id: Uuid::nil(),
        deployment_id: body.deployment_id,
        name: body.name.clone(),
        parameters: body.parameters.clone(),
        tags: body.tags.clone(),
        idempotency_key: body.idempotency_key.clone(),
        auto_scheduled: false,
        flow_runner: body.flow_runner.clone(),
        state: body
            .state
            .clone()
            .unwrap_or_else(|| StateCreate::new(StateType::Scheduled)),
    };
    if let Some(deployment_id) = body.deployment_id {
        let d = cache.get(&mut *tx, deployment_id).await?.ok_or_else(|| {
            ApiError::invalid(
                "deployment_id",
                format!("deployment {deployment_id} does not exist"),
            )
        })?;
        if body.flow_id.is_some_and(|f| f != d.flow_id) {
            return Err(ApiError::invalid(
                "flow_id",
                "does not match the deployment's flow (omit it when giving deployment_id)",
            ));
        }
        run.flow_id = d.flow_id;
        run.parameters = d.run_parameters(&body.parameters);
        check_parameters(d.parameter_schema.as_ref(), &run.parameters)?;
        run.tags = union_tags(&d.tags, &body.tags);
        run.flow_runner = body
            .flow_runner
            .clone()
            .or_else(|| Some(d.flow_runner.clone()));
    } else {
        let flow_id = body.flow_id.ok_or_else(|| {
            ApiError::invalid("flow_id", "give the run's `flow_id` or `deployment_id`")
        })?;
        if super::flows::get(&mut *tx, flow_id).await?.is_none() {
            return Err(ApiError::invalid(
                "flow_id",
                format!("flow {flow_id} does not exist"),
            ));
        }
        run.flow_id = flow_id;
    }
    Ok(run)
}

/// `POST /api/deployments/{id}/create_flow_run`.
pub async fn create_for_deployment(
    db: &Db,
    deployment_id: Uuid,
    body: &rigel_common::flow_run::DeploymentRunCreate,
    now: DateTime<Utc>,
) -> ApiResult<(FlowRun, bool)> {
    let request = Request::Deployment(deployment_id, Box::new(body.clone()));
    db.run_creations.submit((request, now)).await
}

/// Checks a `create_flow_run` body against its deployment and fills in the run's defaults.
pub(crate) async fn prepare_deployment_run(
    tx: &mut SqliteConnection,
    cache: &DeploymentCache,
    deployment_id: Uuid,
    body: &rigel_common::flow_run::DeploymentRunCreate,
) -> ApiResult<NewRun> {
    let d = cache
        .get(&mut *tx, deployment_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("deployment {deployment_id}")))?;
    let parameters = d.run_parameters(&body.parameters);
    check_parameters(d.parameter_schema.as_ref(), &parameters)?;
    let mut state = StateCreate::new(StateType::Scheduled);
    state.scheduled_time = body.scheduled_start_time;
    let run = NewRun {
        flow_id: d.flow_id,
        deployment_id: Some(d.id),
        name: body.name.clone(),
        parameters,
        tags: union_tags(&d.tags, &body.tags),
        idempotency_key: body.idempotency_key.clone(),
        auto_scheduled: false,
        flow_runner: Some(d.flow_runner.clone()),
        state,
    };
    Ok(run)
}

fn union_tags(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for t in b {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// When the flow declares its parameters, the run's (merged) parameters must fit them: no
/// unknown names, the declared types and enums, every required one present.
fn check_parameters(schema: Option<&serde_json::Value>, merged: &Parameters) -> ApiResult<()> {
    match schema {
        Some(schema) => Ok(rigel_common::params::check_parameters(schema, merged)?),
        None => Ok(()),
    }
}

/// Records that the run's process is alive; answers its state and whether the token still holds.
///
/// The time is read from `clock` when the write runs, not when the request arrived: a heartbeat
/// that waited behind a slow write must not look as old as its arrival, or the reaper would crash
/// a healthy run for the server's own delay.
pub async fn heartbeat(
    db: &Db,
    id: Uuid,
    claim_token: Option<Uuid>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
) -> ApiResult<rigel_common::flow_run::RunHeartbeatAnswer> {
    let (row, claim_valid) = db
        .writer
        .run(move |conn| {
            Box::pin(async move {
                let now = clock.now();
                let row = find(&mut *conn, id).await?.ok_or_else(|| not_found(id))?;
                let claim_valid = row.claim_token == claim_token;
                if claim_valid {
                    sqlx::query(
                        "INSERT INTO flow_run_heartbeat (flow_run_id, last_seen) VALUES (?, ?)
                         ON CONFLICT (flow_run_id) DO UPDATE SET last_seen = excluded.last_seen",
                    )
                    .bind(id)
                    .bind(to_micros(now))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok((row, claim_valid))
            })
        })
        .await?;
    Ok(rigel_common::flow_run::RunHeartbeatAnswer {
        state: row.state()?,
        claim_valid,
    })
}
