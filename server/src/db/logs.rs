//! Log records of flow runs. Ingest is a hot path (every running flow ships batches), so a batch
//! is checked with one query per referenced table and written in one transaction with
//! multi-row INSERTs.

use std::collections::{HashMap, HashSet};

use rigel_common::log::{Log, LogCreate, LogFilter, MAX_RUN_LOG_BYTES};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{from_micros, push_in, to_micros, Db};
use crate::error::{ApiError, ApiResult};

/// Rows per INSERT statement: 5 bound values each keeps a statement far below SQLite's
/// variable limit, and full chunks share one cached prepared statement.
const INSERT_CHUNK: usize = 100;

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    flow_run_id: Uuid,
    task_run_id: Option<Uuid>,
    level: i64,
    timestamp: i64,
    message: String,
}

impl From<LogRow> for Log {
    fn from(r: LogRow) -> Log {
        Log {
            id: r.id,
            flow_run_id: r.flow_run_id,
            task_run_id: r.task_run_id,
            level: u8::try_from(r.level).unwrap_or(u8::MAX),
            timestamp: from_micros(r.timestamp),
            message: r.message,
        }
    }
}

/// The distinct values in first-seen order.
fn distinct(ids: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

/// Checks that every record's flow run exists and that every task run belongs to its flow run;
/// the error names the first record at fault.
async fn check_references(conn: &mut SqliteConnection, records: &[LogCreate]) -> ApiResult<()> {
    let run_ids = distinct(records.iter().map(|r| r.flow_run_id));
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT id FROM flow_run WHERE 1");
    push_in(&mut qb, "id", &run_ids);
    let found: Vec<(Uuid,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let found: HashSet<Uuid> = found.into_iter().map(|(id,)| id).collect();
    if let Some((i, r)) = records
        .iter()
        .enumerate()
        .find(|(_, r)| !found.contains(&r.flow_run_id))
    {
        return Err(ApiError::invalid(
            format!("[{i}].flow_run_id"),
            format!("flow run {} does not exist", r.flow_run_id),
        ));
    }

    let task_ids = distinct(records.iter().filter_map(|r| r.task_run_id));
    if task_ids.is_empty() {
        return Ok(());
    }
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new("SELECT id, flow_run_id FROM task_run WHERE 1");
    push_in(&mut qb, "id", &task_ids);
    let owners: Vec<(Uuid, Uuid)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let owners: HashMap<Uuid, Uuid> = owners.into_iter().collect();
    for (i, r) in records.iter().enumerate() {
        let Some(task) = r.task_run_id else { continue };
        match owners.get(&task) {
            None => {
                return Err(ApiError::invalid(
                    format!("[{i}].task_run_id"),
                    format!("task run {task} does not exist"),
                ))
            }
            Some(owner) if *owner != r.flow_run_id => {
                return Err(ApiError::invalid(
                    format!("[{i}].task_run_id"),
                    format!(
                        "task run {task} belongs to flow run {owner}, not {}",
                        r.flow_run_id
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Stores a validated batch atomically: all records or, on any error, none. Returns the count.
pub async fn create_batch(db: &Db, records: &[LogCreate]) -> ApiResult<usize> {
    let records = records.to_vec();
    db.writer
        .run(move |conn| Box::pin(async move { insert_batch(conn, &records).await }))
        .await
}

async fn insert_batch(tx: &mut SqliteConnection, records: &[LogCreate]) -> ApiResult<usize> {
    check_references(&mut *tx, records).await?;
    // each run's total, counted and capped in the same job: a refused batch leaves nothing
    let mut bytes: HashMap<Uuid, i64> = HashMap::new();
    for r in records {
        *bytes.entry(r.flow_run_id).or_default() += r.message.len() as i64;
    }
    for (run, added) in bytes {
        let total: i64 = sqlx::query_scalar(
            "UPDATE flow_run SET log_bytes = log_bytes + ? WHERE id = ? RETURNING log_bytes",
        )
        .bind(added)
        .bind(run)
        .fetch_one(&mut *tx)
        .await?;
        if total > MAX_RUN_LOG_BYTES {
            return Err(ApiError::invalid(
                "",
                format!(
                    "flow run {run} has reached the {} MB of logs a run may keep; later lines are \
                     refused (write less, or to a file of your own)",
                    MAX_RUN_LOG_BYTES / (1024 * 1024)
                ),
            ));
        }
    }
    for chunk in records.chunks(INSERT_CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO log (flow_run_id, task_run_id, level, timestamp, message) ",
        );
        qb.push_values(chunk, |mut row, r| {
            row.push_bind(r.flow_run_id)
                .push_bind(r.task_run_id)
                .push_bind(i64::from(r.level))
                .push_bind(to_micros(r.timestamp))
                .push_bind(&r.message);
        });
        qb.build().execute(&mut *tx).await?;
    }
    Ok(records.len())
}

/// Records matching the filter, oldest first (by id, which is the insertion order).
pub async fn filter(db: &Db, f: &LogFilter) -> ApiResult<Vec<Log>> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT id, flow_run_id, task_run_id, level, timestamp, message FROM log WHERE 1",
    );
    let c = &f.logs;
    if let Some(runs) = &c.flow_run_id {
        push_in(&mut qb, "flow_run_id", &runs.any_);
    }
    if let Some(tasks) = &c.task_run_id {
        push_in(&mut qb, "task_run_id", &tasks.any_);
    }
    if let Some(ge) = c.level.as_ref().and_then(|l| l.ge_) {
        qb.push(" AND level >= ").push_bind(i64::from(ge));
    }
    if let Some(after) = c.after_id {
        qb.push(" AND id > ").push_bind(after);
    }
    if let Some(t) = c.timestamp_after {
        qb.push(" AND timestamp >= ").push_bind(to_micros(t));
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<LogRow> = qb.build_query_as().fetch_all(&db.read).await?;
    Ok(rows.into_iter().map(Log::from).collect())
}
