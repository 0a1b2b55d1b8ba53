//! API keys table. Keys are stored as SHA-256 digests; the key itself never reaches the database.

use chrono::{DateTime, Utc};
use rigel_common::api_key::{ApiKey, ApiKeyCreate, Role};
use uuid::Uuid;

use super::{from_json, from_micros, to_json, to_micros, Db};
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    role: String,
    queues: String,
    digest: String,
    created: i64,
    expires: Option<i64>,
    last_used: Option<i64>,
    revoked: Option<i64>,
}

/// A key as the server checks it: its listing plus the digest it is found by.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub key: ApiKey,
    pub digest: String,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = ApiError;
    fn try_from(r: KeyRow) -> ApiResult<StoredKey> {
        let role: Role = r
            .role
            .parse()
            .map_err(|e| ApiError::Internal(format!("corrupt api_key.role: {e}")))?;
        Ok(StoredKey {
            key: ApiKey {
                id: r.id,
                name: r.name,
                role,
                queues: from_json("api_key.queues", &r.queues)?,
                created: from_micros(r.created),
                expires: r.expires.map(from_micros),
                last_used: r.last_used.map(from_micros),
                revoked: r.revoked.map(from_micros),
            },
            digest: r.digest,
        })
    }
}

const COLUMNS: &str = "id, name, role, queues, digest, created, expires, last_used, revoked";

/// Stores a new key under `digest`; the name must not belong to a key still in use (409).
pub async fn create(
    db: &Db,
    body: &ApiKeyCreate,
    digest: String,
    now: DateTime<Utc>,
) -> ApiResult<ApiKey> {
    let expires = body.expires_in_seconds.map(|s| {
        let us = (s * 1e6) as i64;
        to_micros(now).saturating_add(us)
    });
    let body = body.clone();
    let row: KeyRow = db
        .writer
        .run(move |conn| {
            Box::pin(async move {
                let taken: Option<(Uuid,)> =
                    sqlx::query_as("SELECT id FROM api_key WHERE name = ? AND revoked IS NULL")
                        .bind(&body.name)
                        .fetch_optional(&mut *conn)
                        .await?;
                if taken.is_some() {
                    return Err(ApiError::Conflict(format!(
                        "an API key named '{}' exists; revoke it first or pick another name",
                        body.name
                    )));
                }
                Ok(sqlx::query_as(&format!(
                    "INSERT INTO api_key (id, name, role, queues, digest, created, expires)
                     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
                ))
                .bind(Uuid::now_v7())
                .bind(&body.name)
                .bind(body.role.as_str())
                .bind(to_json(&body.queues))
                .bind(&digest)
                .bind(to_micros(now))
                .bind(expires)
                .fetch_one(&mut *conn)
                .await?)
            })
        })
        .await?;
    Ok(StoredKey::try_from(row)?.key)
}

/// Every key, newest first; revoked ones included.
pub async fn list(db: &Db) -> ApiResult<Vec<ApiKey>> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_key ORDER BY created DESC, id DESC"
    ))
    .fetch_all(&db.read)
    .await?;
    rows.into_iter()
        .map(|r| StoredKey::try_from(r).map(|k| k.key))
        .collect()
}

/// The keys not revoked (expired ones included: they still mean "this server has keys").
pub async fn unrevoked(db: &Db) -> ApiResult<Vec<StoredKey>> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_key WHERE revoked IS NULL"
    ))
    .fetch_all(&db.read)
    .await?;
    rows.into_iter().map(StoredKey::try_from).collect()
}

/// Revokes a key for good; revoking it again answers it unchanged.
pub async fn revoke(db: &Db, id: Uuid, now: DateTime<Utc>) -> ApiResult<ApiKey> {
    let row: Option<KeyRow> = db
        .writer
        .run(move |conn| {
            Box::pin(async move {
                Ok(sqlx::query_as(&format!(
                    "UPDATE api_key SET revoked = coalesce(revoked, ?) WHERE id = ?
                     RETURNING {COLUMNS}"
                ))
                .bind(to_micros(now))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?)
            })
        })
        .await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("API key {id} not found")))?;
    Ok(StoredKey::try_from(row)?.key)
}

/// Records that a key was used at `at` (called at most about once a minute per key).
pub async fn touch(db: &Db, id: Uuid, at: DateTime<Utc>) -> ApiResult<()> {
    db.writer
        .run(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE api_key SET last_used = max(coalesce(last_used, 0), ?) WHERE id = ?",
                )
                .bind(to_micros(at))
                .bind(id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
}
