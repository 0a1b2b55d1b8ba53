//! Deployments table.

use rigel_common::deployment::{
    Deployment, DeploymentCount, DeploymentCreate, DeploymentFilter, DeploymentSort,
    DeploymentUpdate, FlowRunnerSettings,
};
use rigel_common::deployment::{DeploymentCriteria, Parameters};
use rigel_common::flow::FlowCriteria;
use rigel_common::flow_data::FlowData;
use rigel_common::schedule::Schedule;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{
    blocks, flows, from_json, from_micros, push_in, push_tags_superset, schedules, to_json,
    to_micros, Db,
};
use crate::error::{ApiError, ApiResult};
use crate::planning::{Horizon, RunsAhead};

#[derive(sqlx::FromRow)]
struct DeploymentRow {
    id: Uuid,
    flow_id: Uuid,
    flow_name: String,
    name: String,
    description: Option<String>,
    flow_data: String,
    schedule: Option<String>,
    is_schedule_active: bool,
    parameters: String,
    parameter_schema: Option<String>,
    tags: String,
    flow_runner: String,
    work_queue_name: Option<String>,
    created: i64,
    updated: i64,
}

impl TryFrom<DeploymentRow> for Deployment {
    type Error = ApiError;
    fn try_from(r: DeploymentRow) -> ApiResult<Deployment> {
        Ok(Deployment {
            id: r.id,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
            name: r.name,
            flow_id: r.flow_id,
            flow_name: r.flow_name,
            description: r.description,
            flow_data: from_json("deployment.flow_data", &r.flow_data)?,
            schedule: r
                .schedule
                .map(|s| from_json("deployment.schedule", &s))
                .transpose()?,
            is_schedule_active: r.is_schedule_active,
            parameters: from_json("deployment.parameters", &r.parameters)?,
            parameter_schema: r
                .parameter_schema
                .map(|s| from_json("deployment.parameter_schema", &s))
                .transpose()?,
            tags: from_json("deployment.tags", &r.tags)?,
            flow_runner: from_json("deployment.flow_runner", &r.flow_runner)?,
            work_queue_name: r.work_queue_name,
        })
    }
}

const SELECT: &str = "SELECT d.id, d.flow_id, f.name AS flow_name, d.name, d.description, \
    d.flow_data, d.schedule, d.is_schedule_active, d.parameters, d.parameter_schema, d.tags, \
    d.flow_runner, d.work_queue_name, d.created, d.updated \
    FROM deployment d JOIN flow f ON f.id = d.flow_id";

pub(crate) async fn find(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<Option<Deployment>> {
    let row: Option<DeploymentRow> = sqlx::query_as(&format!("{SELECT} WHERE d.id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(Deployment::try_from).transpose()
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format_args!("deployment {id}"))
}

/// Checks that a `blockstorage` flow_data points at an existing block; returns that block's id.
async fn storage_block(
    conn: &mut SqliteConnection,
    flow_data: &FlowData,
) -> ApiResult<Option<Uuid>> {
    let Some(r) = flow_data.validate().map_err(|e| e.under("flow_data"))? else {
        return Ok(None);
    };
    if blocks::find(conn, r.block_id).await?.is_none() {
        return Err(ApiError::invalid(
            "flow_data.blob",
            format!("storage block {} does not exist", r.block_id),
        ));
    }
    Ok(Some(r.block_id))
}

/// A deployment after a write, and what the write did to its runs.
#[derive(Debug, Clone)]
pub struct Saved {
    pub deployment: Deployment,
    /// Created rather than updated.
    pub created: bool,
    /// Runs materialised because the schedule was created, changed or resumed.
    pub runs_created: u64,
}

/// The stored fields whose change touches the deployment's scheduled runs, as JSON text.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct RunFields {
    schedule: Option<String>,
    is_schedule_active: bool,
    parameters: String,
    tags: String,
    flow_runner: String,
}

impl RunFields {
    fn of(d: &Deployment) -> Self {
        Self {
            schedule: d.schedule.as_ref().map(to_json),
            is_schedule_active: d.is_schedule_active,
            parameters: to_json(&d.parameters),
            tags: to_json(&d.tags),
            flow_runner: to_json(&d.flow_runner),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Existing {
    id: Uuid,
    #[sqlx(flatten)]
    before: RunFields,
}

/// Brings a deployment's runs in line with a write, in the write's transaction: a new, changed,
/// paused or resumed schedule is rescheduled at once (from `ahead`, its runs computed before the
/// transaction); new parameters, tags or flow runner reach the runs not yet due. An identical
/// schedule leaves the runs (and their ids) alone.
async fn sync_runs(
    conn: &mut SqliteConnection,
    before: Option<&RunFields>,
    after: &Deployment,
    horizon: &Horizon,
    ahead: Option<&RunsAhead>,
) -> ApiResult<u64> {
    let now_fields = RunFields::of(after);
    let Some(before) = before else {
        return schedules::reschedule(conn, after, horizon, ahead).await;
    };
    if before.schedule != now_fields.schedule
        || before.is_schedule_active != now_fields.is_schedule_active
    {
        return schedules::reschedule(conn, after, horizon, ahead).await;
    }
    if (&before.parameters, &before.tags, &before.flow_runner)
        != (
            &now_fields.parameters,
            &now_fields.tags,
            &now_fields.flow_runner,
        )
    {
        schedules::refresh_not_due(conn, after, horizon.now).await?;
    }
    Ok(0)
}

/// Creates the deployment, or updates the one with the same flow and name (same id). On update,
/// an absent `is_schedule_active` keeps the current value, so redeploying does not undo a pause.
/// Its scheduled runs follow in the same transaction (see `sync_runs`), taken from `ahead`: the
/// runs of `spec.schedule` (normalised), computed before.
pub async fn upsert(
    db: &Db,
    spec: &DeploymentCreate,
    horizon: &Horizon,
    ahead: Option<&RunsAhead>,
) -> ApiResult<Saved> {
    let mut tx = db.begin_write().await?;
    let flow_id = match (&spec.flow_id, &spec.flow_name) {
        (Some(id), _) => {
            flows::get(&mut tx, *id)
                .await?
                .ok_or_else(|| ApiError::invalid("flow_id", format!("flow {id} does not exist")))?
                .id
        }
        (None, Some(name)) => flows::upsert_by_name(&mut tx, name, &[]).await?.0.id,
        (None, None) => {
            return Err(ApiError::invalid(
                "flow_id",
                "give the flow as `flow_id` or `flow_name`",
            ))
        }
    };
    let block_id = storage_block(&mut tx, &spec.flow_data).await?;
    let existing: Option<Existing> = sqlx::query_as(
        "SELECT id, schedule, is_schedule_active, parameters, tags, flow_runner
         FROM deployment WHERE flow_id = ? AND name = ?",
    )
    .bind(flow_id)
    .bind(&spec.name)
    .fetch_optional(&mut *tx)
    .await?;
    let now = to_micros(horizon.now);
    let schedule = spec.schedule.clone().map(Schedule::normalized);
    let runner = spec.flow_runner.clone().unwrap_or_default();
    let (id, created) = match &existing {
        Some(Existing { id, before }) => {
            let id = *id;
            let active = spec.is_schedule_active.unwrap_or(before.is_schedule_active);
            sqlx::query(
                "UPDATE deployment SET description = ?, flow_data = ?, storage_block_id = ?,
                 schedule = ?, is_schedule_active = ?, parameters = ?, parameter_schema = ?,
                 tags = ?, flow_runner = ?, work_queue_name = ?, updated = ? WHERE id = ?",
            )
            .bind(&spec.description)
            .bind(to_json(&spec.flow_data))
            .bind(block_id)
            .bind(schedule.as_ref().map(to_json))
            .bind(active)
            .bind(to_json(&spec.parameters))
            .bind(spec.parameter_schema.as_ref().map(to_json))
            .bind(to_json(&spec.tags))
            .bind(to_json(&runner))
            .bind(&spec.work_queue_name)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            (id, false)
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO deployment (id, flow_id, name, description, flow_data,
                 storage_block_id, schedule, is_schedule_active, parameters, parameter_schema,
                 tags, flow_runner, work_queue_name, created, updated)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(flow_id)
            .bind(&spec.name)
            .bind(&spec.description)
            .bind(to_json(&spec.flow_data))
            .bind(block_id)
            .bind(schedule.as_ref().map(to_json))
            .bind(spec.is_schedule_active.unwrap_or(true))
            .bind(to_json(&spec.parameters))
            .bind(spec.parameter_schema.as_ref().map(to_json))
            .bind(to_json(&spec.tags))
            .bind(to_json(&runner))
            .bind(&spec.work_queue_name)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            (id, true)
        }
    };
    let deployment = find(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
    let before = existing.as_ref().map(|e| &e.before);
    let runs_created = sync_runs(&mut tx, before, &deployment, horizon, ahead).await?;
    tx.commit().await?;
    Ok(Saved {
        deployment,
        created,
        runs_created,
    })
}

pub async fn get(db: &Db, id: Uuid) -> ApiResult<Deployment> {
    let mut conn = db.read.acquire().await?;
    find(&mut conn, id).await?.ok_or_else(|| not_found(id))
}

pub async fn get_by_name(db: &Db, flow: &str, name: &str) -> ApiResult<Deployment> {
    let row: Option<DeploymentRow> =
        sqlx::query_as(&format!("{SELECT} WHERE f.name = ? AND d.name = ?"))
            .bind(flow)
            .bind(name)
            .fetch_optional(&db.read)
            .await?;
    row.map(Deployment::try_from)
        .transpose()?
        .ok_or_else(|| ApiError::not_found(format_args!("deployment '{flow}/{name}'")))
}

fn push_criteria(
    qb: &mut QueryBuilder<'_, Sqlite>,
    flows: &FlowCriteria,
    deps: &DeploymentCriteria,
) {
    if let Some(ids) = &flows.id {
        push_in(qb, "f.id", &ids.any_);
    }
    if let Some(names) = &flows.name {
        push_in(qb, "f.name", &names.any_);
    }
    if let Some(tags) = &flows.tags {
        push_tags_superset(qb, "f.tags", &tags.all_);
    }
    if let Some(ids) = &deps.id {
        push_in(qb, "d.id", &ids.any_);
    }
    if let Some(names) = &deps.name {
        push_in(qb, "d.name", &names.any_);
    }
    if let Some(tags) = &deps.tags {
        push_tags_superset(qb, "d.tags", &tags.all_);
    }
    if let Some(active) = &deps.is_schedule_active {
        qb.push(" AND d.is_schedule_active = ")
            .push_bind(active.eq_);
    }
}

pub async fn filter(db: &Db, f: &DeploymentFilter) -> ApiResult<Vec<Deployment>> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!("{SELECT} WHERE 1"));
    push_criteria(&mut qb, &f.flows, &f.deployments);
    qb.push(match f.sort {
        DeploymentSort::NameAsc => " ORDER BY d.name ASC, f.name ASC",
        DeploymentSort::NameDesc => " ORDER BY d.name DESC, f.name DESC",
        DeploymentSort::CreatedAsc => " ORDER BY d.created ASC, d.id ASC",
        DeploymentSort::CreatedDesc => " ORDER BY d.created DESC, d.id DESC",
        DeploymentSort::UpdatedAsc => " ORDER BY d.updated ASC, d.id ASC",
        DeploymentSort::UpdatedDesc => " ORDER BY d.updated DESC, d.id DESC",
    });
    qb.push(" LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<DeploymentRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(Deployment::try_from).collect()
}

pub async fn count(db: &Db, f: &DeploymentCount) -> ApiResult<u64> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT COUNT(*) FROM deployment d JOIN flow f ON f.id = d.flow_id WHERE 1",
    );
    push_criteria(&mut qb, &f.flows, &f.deployments);
    let (n,): (i64,) = qb.build_query_as().fetch_one(&db.read).await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Applies the fields present in `patch`; the scheduled runs follow in the same transaction,
/// taken from `ahead` (see [`schedule_after`] for when they are needed).
pub async fn update(
    db: &Db,
    id: Uuid,
    patch: &DeploymentUpdate,
    horizon: &Horizon,
    ahead: Option<&RunsAhead>,
) -> ApiResult<Saved> {
    let mut tx = db.begin_write().await?;
    let mut d = find(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
    let before = RunFields::of(&d);
    if let Some(description) = &patch.description {
        d.description.clone_from(description);
    }
    if let Some(tags) = &patch.tags {
        d.tags.clone_from(tags);
    }
    if let Some(parameters) = &patch.parameters {
        d.parameters.clone_from(parameters);
    }
    if let Some(schedule) = &patch.schedule {
        d.schedule = schedule.clone().map(Schedule::normalized);
    }
    if let Some(active) = patch.is_schedule_active {
        d.is_schedule_active = active;
    }
    if let Some(runner) = &patch.flow_runner {
        d.flow_runner = runner.clone();
    }
    write_mutable_fields(&mut tx, &d, horizon.now).await?;
    let d = find(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
    let runs_created = sync_runs(&mut tx, Some(&before), &d, horizon, ahead).await?;
    tx.commit().await?;
    Ok(Saved {
        deployment: d,
        created: false,
        runs_created,
    })
}

async fn write_mutable_fields(
    conn: &mut SqliteConnection,
    d: &Deployment,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE deployment SET description = ?, tags = ?, parameters = ?, schedule = ?,
         is_schedule_active = ?, flow_runner = ?, updated = ? WHERE id = ?",
    )
    .bind(&d.description)
    .bind(to_json(&d.tags))
    .bind(to_json::<Parameters>(&d.parameters))
    .bind(d.schedule.as_ref().map(to_json))
    .bind(d.is_schedule_active)
    .bind(to_json::<FlowRunnerSettings>(&d.flow_runner))
    .bind(to_micros(now))
    .bind(d.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The schedule whose runs `patch` makes the deployment (currently `current`) materialise, if
/// any: a new schedule, or the current one resumed. `None` when the patch reschedules nothing
/// (a paused or removed schedule, or fields other than the schedule), so a stored schedule is
/// not recomputed for a description change.
pub fn schedule_after(current: &Deployment, patch: &DeploymentUpdate) -> Option<Schedule> {
    let active = patch
        .is_schedule_active
        .unwrap_or(current.is_schedule_active);
    if !active {
        return None;
    }
    match &patch.schedule {
        Some(schedule) => schedule.clone().map(Schedule::normalized),
        None if !current.is_schedule_active => current.schedule.clone(),
        None => None,
    }
}

/// Deletes the deployment and, in the same transaction, its runs that never started; runs that
/// started or finished stay (without a deployment).
pub async fn delete(db: &Db, id: Uuid) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    schedules::delete_unstarted(&mut tx, id).await?;
    let n = sqlx::query("DELETE FROM deployment WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(not_found(id));
    }
    tx.commit().await?;
    Ok(())
}
