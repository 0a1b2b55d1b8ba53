//! Work queues, which runs they offer, and atomic claiming.

use chrono::{DateTime, Utc};
use rigel_common::deployment::{DeploymentCriteria, DeploymentFilter};
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::FlowRun;
use rigel_common::state::{StateCreate, StateType};
use rigel_common::work_queue::{
    ClaimedRun, QueueFilter, QueueHealth, QueueOffer, WorkQueue, WorkQueueCreate, WorkQueueFilter,
    WorkQueueStatus, WorkQueueUpdate,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::flow_runs::{FlowRunRow, COLUMNS as RUN_COLUMNS};
use super::run_states::{apply_many, Holder};
use super::{from_json, from_micros, push_in, push_tags_superset, to_json, to_micros, Db};
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    is_paused: bool,
    concurrency_limit: Option<i64>,
    filter: String,
    last_polled: Option<i64>,
    created: i64,
    updated: i64,
}

impl TryFrom<QueueRow> for WorkQueue {
    type Error = ApiError;
    fn try_from(r: QueueRow) -> ApiResult<WorkQueue> {
        Ok(WorkQueue {
            id: r.id,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
            name: r.name,
            description: r.description,
            is_paused: r.is_paused,
            concurrency_limit: r
                .concurrency_limit
                .map(|l| u32::try_from(l).unwrap_or(u32::MAX)),
            filter: from_json("work_queue.filter", &r.filter)?,
            last_polled: r.last_polled.map(from_micros),
        })
    }
}

const COLUMNS: &str =
    "id, name, description, is_paused, concurrency_limit, filter, last_polled, created, updated";

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format_args!("work queue {id}"))
}

async fn find(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<Option<WorkQueue>> {
    let row: Option<QueueRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM work_queue WHERE id = ?"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(WorkQueue::try_from).transpose()
}

pub async fn create(db: &Db, q: &WorkQueueCreate, now: DateTime<Utc>) -> ApiResult<WorkQueue> {
    let now = to_micros(now);
    let row: QueueRow = sqlx::query_as(&format!(
        "INSERT INTO work_queue (id, name, description, is_paused, concurrency_limit, filter,
         created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&q.name)
    .bind(&q.description)
    .bind(q.is_paused)
    .bind(q.concurrency_limit.map(i64::from))
    .bind(to_json(&q.filter))
    .bind(now)
    .bind(now)
    .fetch_one(&db.write)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => {
            ApiError::Conflict(format!("a work queue named '{}' already exists", q.name))
        }
        other => other,
    })?;
    // agents that registered for this queue name before it existed now belong to it
    sqlx::query(
        "UPDATE agent SET work_queue_id = ? WHERE work_queue_name = ? AND work_queue_id IS NULL",
    )
    .bind(row.id)
    .bind(&q.name)
    .execute(&db.write)
    .await?;
    row.try_into()
}

pub async fn get(db: &Db, id: Uuid) -> ApiResult<WorkQueue> {
    let mut conn = db.read.acquire().await?;
    find(&mut conn, id).await?.ok_or_else(|| not_found(id))
}

pub async fn get_by_name(db: &Db, name: &str) -> ApiResult<WorkQueue> {
    let row: Option<QueueRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM work_queue WHERE name = ?"))
            .bind(name)
            .fetch_optional(&db.read)
            .await?;
    row.map(WorkQueue::try_from)
        .transpose()?
        .ok_or_else(|| ApiError::not_found(format_args!("work queue '{name}'")))
}

pub async fn filter(db: &Db, f: &WorkQueueFilter) -> ApiResult<Vec<WorkQueue>> {
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM work_queue WHERE 1"));
    if let Some(ids) = &f.work_queues.id {
        push_in(&mut qb, "id", &ids.any_);
    }
    if let Some(names) = &f.work_queues.name {
        push_in(&mut qb, "name", &names.any_);
    }
    qb.push(" ORDER BY name LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<QueueRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(WorkQueue::try_from).collect()
}

pub async fn update(
    db: &Db,
    id: Uuid,
    patch: &WorkQueueUpdate,
    now: DateTime<Utc>,
) -> ApiResult<WorkQueue> {
    let mut tx = db.begin_write().await?;
    let mut q = find(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
    if let Some(d) = &patch.description {
        q.description.clone_from(d);
    }
    if let Some(p) = patch.is_paused {
        q.is_paused = p;
    }
    if let Some(l) = patch.concurrency_limit {
        q.concurrency_limit = l;
    }
    if let Some(f) = &patch.filter {
        q.filter = f.clone();
    }
    let row: QueueRow = sqlx::query_as(&format!(
        "UPDATE work_queue SET description = ?, is_paused = ?, concurrency_limit = ?, filter = ?,
         updated = ? WHERE id = ? RETURNING {COLUMNS}"
    ))
    .bind(&q.description)
    .bind(q.is_paused)
    .bind(q.concurrency_limit.map(i64::from))
    .bind(to_json(&q.filter))
    .bind(to_micros(now))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.try_into()
}

pub async fn delete(db: &Db, id: Uuid) -> ApiResult<()> {
    let n = sqlx::query("DELETE FROM work_queue WHERE id = ?")
        .bind(id)
        .execute(&db.write)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// `SELECT … FROM flow_run WHERE <the queue offers it>`: Scheduled runs of a deployment that
/// match the queue's filter and are due by `due`.
fn offered<'a>(select: &str, filter: &'a QueueFilter, due: i64) -> QueryBuilder<'a, Sqlite> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(select);
    qb.push(" FROM flow_run WHERE state_type = 'SCHEDULED' AND next_scheduled_start_time <= ")
        .push_bind(due);
    push_matches(&mut qb, filter);
    qb
}

/// ` AND <the run matches the queue's filter>`: the one statement of the filter's meaning, used
/// both for what a queue offers and for which queues offer a run.
fn push_matches<'a>(qb: &mut QueryBuilder<'a, Sqlite>, filter: &'a QueueFilter) {
    qb.push(" AND deployment_id IS NOT NULL");
    push_tags_superset(qb, "flow_run.tags", &filter.tags);
    if let Some(ids) = &filter.deployment_ids {
        push_in(qb, "deployment_id", ids);
    }
    if let Some(types) = &filter.flow_runner_types {
        let types: Vec<&'static str> = types.iter().map(|t| t.as_str()).collect();
        push_in(qb, "flow_runner_type", &types);
    }
}

/// The queues whose filters match run `run_id` whatever its state and time (so a CLI can tell,
/// right after creating a run, whether anything would hand it to an agent), by name.
pub async fn offering(
    db: &Db,
    run_id: Uuid,
    now: DateTime<Utc>,
    ready_window: chrono::Duration,
) -> ApiResult<Vec<QueueOffer>> {
    let mut conn = db.read.acquire().await?;
    let run: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM flow_run WHERE id = ?")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?;
    if run.is_none() {
        return Err(ApiError::not_found(format_args!("flow run {run_id}")));
    }
    let rows: Vec<QueueRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM work_queue ORDER BY name"))
            .fetch_all(&mut *conn)
            .await?;
    let mut offers = Vec::new();
    for row in rows {
        let queue = WorkQueue::try_from(row)?;
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT COUNT(*) FROM flow_run WHERE id = ");
        qb.push_bind(run_id);
        push_matches(&mut qb, &queue.filter);
        let (n,): (i64,) = qb.build_query_as().fetch_one(&mut *conn).await?;
        if n > 0 {
            let status = health(&queue, now, ready_window);
            offers.push(QueueOffer {
                work_queue: queue,
                status,
            });
        }
    }
    Ok(offers)
}

/// Paused, else ready when an agent polled it within `ready_window`, else not ready.
fn health(queue: &WorkQueue, now: DateTime<Utc>, ready_window: chrono::Duration) -> QueueHealth {
    if queue.is_paused {
        QueueHealth::Paused
    } else if queue.last_polled.is_some_and(|t| now - t <= ready_window) {
        QueueHealth::Ready
    } else {
        QueueHealth::NotReady
    }
}

async fn active_runs(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<u64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM flow_run WHERE work_queue_id = ?
         AND state_type IN ('PENDING', 'RUNNING', 'CANCELLING')",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The backlog of the first `max` queues by name (for `GET /api/metrics`).
pub async fn depths(
    db: &Db,
    now: DateTime<Utc>,
    max: u32,
) -> ApiResult<Vec<super::metrics::QueueDepth>> {
    let mut conn = db.read.acquire().await?;
    let rows: Vec<QueueRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM work_queue ORDER BY name LIMIT ?"
    ))
    .bind(i64::from(max))
    .fetch_all(&mut *conn)
    .await?;
    let mut depths = Vec::with_capacity(rows.len());
    for row in rows {
        let queue = WorkQueue::try_from(row)?;
        let mut qb = offered("SELECT COUNT(*)", &queue.filter, to_micros(now));
        let (due,): (i64,) = qb.build_query_as().fetch_one(&mut *conn).await?;
        let active = active_runs(&mut conn, queue.id).await?;
        depths.push(super::metrics::QueueDepth {
            name: queue.name,
            due: u64::try_from(due).unwrap_or(0),
            active,
        });
    }
    Ok(depths)
}

/// The runs the queue would hand out now, without claiming them.
pub async fn preview(
    db: &Db,
    id: Uuid,
    scheduled_before: DateTime<Utc>,
    limit: u32,
) -> ApiResult<Vec<FlowRun>> {
    let queue = get(db, id).await?;
    let mut qb = offered(
        &format!("SELECT {RUN_COLUMNS}"),
        &queue.filter,
        to_micros(scheduled_before),
    );
    qb.push(" ORDER BY next_scheduled_start_time, id LIMIT ")
        .push_bind(i64::from(limit));
    let rows: Vec<FlowRunRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(FlowRunRow::into_api).collect()
}

pub async fn status(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
    ready_window: chrono::Duration,
) -> ApiResult<WorkQueueStatus> {
    let queue = get(db, id).await?;
    let mut conn = db.read.acquire().await?;
    let mut qb = offered("SELECT COUNT(*)", &queue.filter, to_micros(now));
    let (late,): (i64,) = qb.build_query_as().fetch_one(&mut *conn).await?;
    let active = active_runs(&mut conn, id).await?;
    Ok(WorkQueueStatus {
        status: health(&queue, now, ready_window),
        late_runs: u64::try_from(late).unwrap_or(0),
        last_polled: queue.last_polled,
        active_runs: active,
        concurrency_limit: queue.concurrency_limit,
    })
}

/// Claims up to `limit` offered runs due by `due` (oldest first) for `agent_id`, within the
/// queue's concurrency limit: they move to PENDING with fresh claim tokens. Records the poll.
pub async fn claim(
    db: &Db,
    id: Uuid,
    agent_id: Uuid,
    limit: u32,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<ClaimedRun>> {
    // Finding what the queue offers may examine every due run its filter turns down (a tag
    // filter over a backlog of other queues' runs): that scan runs on a reader, and the writer
    // only re-checks and claims the runs found, by id. Claimers racing for the same runs see
    // more candidates than they take, and look again when every one was taken by another: an
    // empty answer must mean the queue offers nothing (or is paused, or at its concurrency
    // limit), never "others were quicker" — an agent that asks without waiting would take the
    // first for the second. Each round lost means another claimer took runs, so the rounds end
    // with the backlog; the cap only guards against a bug.
    let mut rounds = 0;
    loop {
        let candidates = claim_candidates(db, id, limit, due).await?;
        let looked_at = candidates.len();
        // even with no candidate: it records the poll and checks the agent
        let claimed = claim_these(db, id, agent_id, limit, due, now, candidates).await?;
        rounds += 1;
        if !claimed.is_empty() || looked_at == 0 || rounds >= CLAIM_ROUNDS || closed(db, id).await?
        {
            return Ok(claimed);
        }
    }
}

/// Most rounds of a claim whose candidates were all taken by others.
const CLAIM_ROUNDS: usize = 256;

/// Whether the queue takes no claim now: paused, or at its concurrency limit.
async fn closed(db: &Db, id: Uuid) -> ApiResult<bool> {
    let mut conn = db.read.acquire().await?;
    let Some(queue) = find(&mut conn, id).await? else {
        return Ok(true);
    };
    Ok(queue.is_paused
        || match queue.concurrency_limit {
            Some(max) => active_runs(&mut conn, id).await? >= u64::from(max),
            None => false,
        })
}

/// Candidates read per run asked for, so that claimers served in the same write batch each
/// find runs left over by the ones before them.
const CANDIDATES_PER_RUN: u32 = 4;

/// The ids of the runs the queue offers now, in claim order (on a reader; empty when the queue
/// is paused or gone, which the claim itself reports).
async fn claim_candidates(
    db: &Db,
    id: Uuid,
    limit: u32,
    due: DateTime<Utc>,
) -> ApiResult<Vec<Uuid>> {
    let mut conn = db.read.acquire().await?;
    let Some(queue) = find(&mut conn, id).await? else {
        return Ok(Vec::new());
    };
    if queue.is_paused {
        return Ok(Vec::new());
    }
    let mut qb = offered("SELECT id", &queue.filter, to_micros(due));
    qb.push(" ORDER BY next_scheduled_start_time, id LIMIT ")
        .push_bind(i64::from(limit.saturating_mul(CANDIDATES_PER_RUN)));
    let ids: Vec<(Uuid,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Claims for `agent_id`, in one write job, up to `limit` of `candidates` that the queue still
/// offers (still Scheduled and due, still matching its filter, within its concurrency limit).
/// Records the poll even when nothing is taken.
pub async fn claim_these(
    db: &Db,
    id: Uuid,
    agent_id: Uuid,
    limit: u32,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    candidates: Vec<Uuid>,
) -> ApiResult<Vec<ClaimedRun>> {
    let claimed = db
        .writer
        .run(move |conn| {
            Box::pin(
                async move { claim_in(conn, id, agent_id, limit, due, now, &candidates).await },
            )
        })
        .await?;
    // decoded outside the writer, which other writes are waiting for
    let runs = claimed
        .into_iter()
        .map(|(row, claim_token)| Ok((row.into_api()?, claim_token)))
        .collect::<ApiResult<Vec<_>>>()?;
    // their deployments, read once each, so their engines need not ask
    let mut ids: Vec<Uuid> = runs.iter().filter_map(|(r, _)| r.deployment_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let filter = DeploymentFilter {
        deployments: DeploymentCriteria {
            id: Some(AnyFilter::new(ids.iter().copied())),
            ..Default::default()
        },
        limit: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        ..Default::default()
    };
    // the runs are claimed already: whatever happens here, the agent must hear of them
    let deployments = if ids.is_empty() {
        Vec::new()
    } else {
        super::deployments::filter(db, &filter)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "claimed runs go out without their deployments");
                Vec::new()
            })
    };
    Ok(runs
        .into_iter()
        .map(|(flow_run, claim_token)| ClaimedRun {
            deployment: deployments
                .iter()
                .find(|d| Some(d.id) == flow_run.deployment_id)
                .cloned(),
            flow_run,
            claim_token,
            run_token: None,
        })
        .collect())
}

async fn claim_in(
    tx: &mut SqliteConnection,
    id: Uuid,
    agent_id: Uuid,
    limit: u32,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    candidates: &[Uuid],
) -> ApiResult<Vec<(FlowRunRow, Uuid)>> {
    let queue = find(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    let agent: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM agent WHERE id = ?")
        .bind(agent_id)
        .fetch_optional(&mut *tx)
        .await?;
    if agent.is_none() {
        return Err(ApiError::invalid(
            "agent_id",
            format!("no agent {agent_id} is registered; register with POST /api/agents/ first"),
        ));
    }
    sqlx::query("UPDATE work_queue SET last_polled = ? WHERE id = ?")
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let mut take = u64::from(limit);
    if let Some(max) = queue.concurrency_limit {
        let active = active_runs(&mut *tx, id).await?;
        take = take.min(u64::from(max).saturating_sub(active));
    }
    if queue.is_paused || take == 0 {
        return Ok(Vec::new());
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // by id (the `+` keeps the state/time index out of it, so no other due run is examined),
    // with every condition of `offered` checked again
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "SELECT {RUN_COLUMNS} FROM flow_run WHERE +state_type = 'SCHEDULED' \
         AND +next_scheduled_start_time <= "
    ));
    qb.push_bind(to_micros(due));
    push_in(&mut qb, "id", candidates);
    push_matches(&mut qb, &queue.filter);
    qb.push(" ORDER BY next_scheduled_start_time, id LIMIT ")
        .push_bind(i64::try_from(take).unwrap_or(i64::MAX));
    let rows: Vec<FlowRunRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
    let pending = StateCreate::new(StateType::Pending);
    let runs: Vec<(FlowRunRow, Holder)> = rows
        .into_iter()
        .map(|row| {
            let holder = Holder::Claim {
                agent_id: Some(agent_id),
                work_queue_id: Some(id),
                token: Uuid::now_v7(),
            };
            (row, holder)
        })
        .collect();
    let updated = apply_many(&mut *tx, &runs, &pending, now).await?;
    // each run now carries its claim token
    Ok(updated
        .into_iter()
        .filter_map(|row| row.claim_token.map(|token| (row, token)))
        .collect())
}

/// The earliest time after `after` that a Scheduled run of a deployment becomes due (a claimer
/// with nothing to take sleeps until then).
pub async fn next_due(db: &Db, after: DateTime<Utc>) -> ApiResult<Option<DateTime<Utc>>> {
    let (t,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(next_scheduled_start_time) FROM flow_run
         WHERE state_type = 'SCHEDULED' AND next_scheduled_start_time > ?",
    )
    .bind(to_micros(after))
    .fetch_one(&db.read)
    .await?;
    Ok(t.map(from_micros))
}
