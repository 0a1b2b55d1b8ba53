//! The audit table: writes made through the API, by key.

use chrono::{DateTime, Utc};
use rigel_common::api_key::AuditEntry;
use uuid::Uuid;

use super::{from_micros, to_micros, Db};
use crate::error::ApiResult;

/// Records one write.
pub async fn record(
    db: &Db,
    at: DateTime<Utc>,
    actor: Option<String>,
    action: &'static str,
    object_id: Option<Uuid>,
    detail: Option<String>,
) -> ApiResult<()> {
    db.writer
        .run(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO audit (at, actor, action, object_id, detail) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(to_micros(at))
                .bind(actor)
                .bind(action)
                .bind(object_id)
                .bind(detail)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
}

/// The newest `limit` writes (of `actor` only, when given) older than entry `before`.
pub async fn list(
    db: &Db,
    actor: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> ApiResult<Vec<AuditEntry>> {
    type Row = (
        i64,
        i64,
        Option<String>,
        String,
        Option<Uuid>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, actor, action, object_id, detail FROM audit
         WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(actor)
    .bind(before)
    .bind(limit)
    .fetch_all(&db.read)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, actor, action, object_id, detail)| AuditEntry {
            id,
            at: from_micros(at),
            actor,
            action,
            object_id,
            detail,
        })
        .collect())
}
