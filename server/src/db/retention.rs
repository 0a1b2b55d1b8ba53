//! Deleting what is past its retention: the rows to delete are chosen on a reader, and each
//! batch deleted in a short write job, so the writer is never held by a long scan.

use uuid::Uuid;

use super::{to_json, Db};
use crate::error::ApiResult;

const FINISHED: &str = "('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";

/// Ids of up to `limit` log records of runs that finished in `[from, before)` (microseconds).
pub async fn finished_runs_logs(
    db: &Db,
    from: i64,
    before: i64,
    limit: u32,
) -> ApiResult<Vec<i64>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT l.id FROM flow_run r JOIN log l ON l.flow_run_id = r.id
         WHERE r.end_time >= ? AND r.end_time < ? AND r.state_type IN {FINISHED}
         LIMIT ?"
    ))
    .bind(from)
    .bind(before)
    .bind(limit)
    .fetch_all(&db.read)
    .await?)
}

/// Ids of up to `limit` runs that finished before `before`, oldest first.
pub async fn finished_runs(db: &Db, before: i64, limit: u32) -> ApiResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM flow_run WHERE end_time < ? AND state_type IN {FINISHED}
         ORDER BY end_time LIMIT ?"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(&db.read)
    .await?)
}

/// Deletes these log records.
pub async fn delete_logs(db: &Db, ids: Vec<i64>) -> ApiResult<u64> {
    db.writer
        .run(move |conn| {
            Box::pin(async move {
                Ok(
                    sqlx::query("DELETE FROM log WHERE id IN (SELECT value FROM json_each(?))")
                        .bind(to_json(&ids))
                        .execute(conn)
                        .await?
                        .rows_affected(),
                )
            })
        })
        .await
}

/// Deletes up to `limit` log records of these runs; how many it deleted.
pub async fn delete_logs_of(db: &Db, runs: Vec<Uuid>, limit: u32) -> ApiResult<u64> {
    db.writer
        .run(move |conn| {
            Box::pin(async move {
                let mut deleted = 0u64;
                for id in runs {
                    let left = u64::from(limit).saturating_sub(deleted);
                    if left == 0 {
                        break;
                    }
                    deleted += sqlx::query(
                        "DELETE FROM log WHERE id IN
                         (SELECT id FROM log WHERE flow_run_id = ? LIMIT ?)",
                    )
                    .bind(id)
                    .bind(i64::try_from(left).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                }
                Ok(deleted)
            })
        })
        .await
}

/// Deletes these runs (their states, task runs and heartbeats go with them), if still finished.
pub async fn delete_runs(db: &Db, runs: Vec<Uuid>) -> ApiResult<Vec<Uuid>> {
    db.writer
        .run(move |conn| {
            Box::pin(async move {
                let mut deleted = Vec::with_capacity(runs.len());
                for id in runs {
                    let gone = sqlx::query(&format!(
                        "DELETE FROM flow_run WHERE id = ? AND state_type IN {FINISHED}"
                    ))
                    .bind(id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if gone > 0 {
                        deleted.push(id);
                    }
                }
                Ok(deleted)
            })
        })
        .await
}
