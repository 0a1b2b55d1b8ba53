//! Storage blocks and the bytes `server` blocks keep.

use chrono::Utc;
use rigel_common::block::{Block, BlockFilter, BlockType};
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{from_json, from_micros, push_in, to_micros, Db};
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow)]
struct BlockRow {
    id: Uuid,
    name: String,
    #[sqlx(rename = "type")]
    kind: String,
    config: String,
    is_default: bool,
    created: i64,
    updated: i64,
}

impl TryFrom<BlockRow> for Block {
    type Error = ApiError;
    fn try_from(r: BlockRow) -> ApiResult<Block> {
        Ok(Block {
            id: r.id,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
            name: r.name,
            kind: serde_json::from_value(serde_json::Value::String(r.kind))
                .map_err(|e| ApiError::Internal(format!("corrupt block type: {e}")))?,
            config: from_json("block.config", &r.config)?,
            is_default: r.is_default,
        })
    }
}

const COLUMNS: &str = "id, name, type, config, is_default, created, updated";

/// JSON with object keys sorted at every level, so equal configs give equal text.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// A name for a block created without one: its type and a short hash of its config.
fn derived_name(kind: BlockType, config: &str) -> String {
    let digest = Sha256::digest(config.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", kind.as_str())
}

/// Creates a block, or returns the existing block with the same type and config (`false`).
pub async fn create(
    db: &Db,
    name: Option<&str>,
    kind: BlockType,
    config: &serde_json::Value,
) -> ApiResult<(Block, bool)> {
    let config = canonical_json(config);
    let mut tx = db.begin_write().await?;
    let existing: Option<BlockRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM block WHERE type = ? AND config = ?"
    ))
    .bind(kind.as_str())
    .bind(&config)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = existing {
        return Ok((row.try_into()?, false));
    }
    let name = name.map_or_else(|| derived_name(kind, &config), str::to_string);
    let taken: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM block WHERE name = ?")
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(ApiError::Conflict(format!(
            "a storage block named '{name}' already exists with a different configuration"
        )));
    }
    let now = to_micros(Utc::now());
    let row: BlockRow = sqlx::query_as(&format!(
        "INSERT INTO block (id, name, type, config, is_default, created, updated)
         VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&name)
    .bind(kind.as_str())
    .bind(&config)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((row.try_into()?, true))
}

pub async fn find(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<Option<Block>> {
    let row: Option<BlockRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM block WHERE id = ?"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(Block::try_from).transpose()
}

pub async fn get(db: &Db, id: Uuid) -> ApiResult<Block> {
    let mut conn = db.read.acquire().await?;
    find(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("storage block {id}")))
}

pub async fn get_default(db: &Db) -> ApiResult<Block> {
    let row: Option<BlockRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM block WHERE is_default = 1"))
            .fetch_optional(&db.read)
            .await?;
    row.map(Block::try_from)
        .transpose()?
        .ok_or_else(|| ApiError::NotFound("no default storage block is set".to_string()))
}

pub async fn filter(db: &Db, f: &BlockFilter) -> ApiResult<Vec<Block>> {
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM block WHERE 1"));
    if let Some(ids) = &f.blocks.id {
        push_in(&mut qb, "id", &ids.any_);
    }
    if let Some(names) = &f.blocks.name {
        push_in(&mut qb, "name", &names.any_);
    }
    if let Some(kinds) = &f.blocks.kind {
        let kinds: Vec<String> = kinds.any_.iter().map(|k| k.as_str().to_string()).collect();
        push_in(&mut qb, "type", &kinds);
    }
    qb.push(" ORDER BY name LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<BlockRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(Block::try_from).collect()
}

/// Deletes a block and its bytes; refused while a deployment stores its flow in it.
pub async fn delete(db: &Db, id: Uuid) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    let users: Vec<(String, String)> = sqlx::query_as(
        "SELECT f.name, d.name FROM deployment d JOIN flow f ON f.id = d.flow_id
         WHERE d.storage_block_id = ? ORDER BY f.name, d.name LIMIT 5",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    if !users.is_empty() {
        let names: Vec<String> = users.iter().map(|(f, d)| format!("{f}/{d}")).collect();
        return Err(ApiError::Conflict(format!(
            "storage block {id} holds the flow code of deployments ({}); delete or redeploy them first",
            names.join(", ")
        )));
    }
    let n = sqlx::query("DELETE FROM block WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format_args!("storage block {id}")));
    }
    tx.commit().await?;
    Ok(())
}

pub async fn set_default(db: &Db, id: Uuid) -> ApiResult<Block> {
    let mut tx = db.begin_write().await?;
    let now = to_micros(Utc::now());
    sqlx::query("UPDATE block SET is_default = 0, updated = ? WHERE is_default = 1 AND id != ?")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let row: Option<BlockRow> = sqlx::query_as(&format!(
        "UPDATE block SET is_default = 1, updated = ? WHERE id = ? RETURNING {COLUMNS}"
    ))
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::not_found(format_args!("storage block {id}")));
    };
    tx.commit().await?;
    row.try_into()
}

pub async fn clear_default(db: &Db) -> ApiResult<()> {
    sqlx::query("UPDATE block SET is_default = 0, updated = ? WHERE is_default = 1")
        .bind(to_micros(Utc::now()))
        .execute(&db.write)
        .await?;
    Ok(())
}

/// Stores bytes under `key` in a `server` block; `true` when the key is new.
pub async fn put_data(db: &Db, id: Uuid, key: &str, data: &[u8]) -> ApiResult<bool> {
    let mut tx = db.begin_write().await?;
    let block = find(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("storage block {id}")))?;
    if block.kind != BlockType::Server {
        return Err(ApiError::invalid(
            "block_id",
            format!(
                "storage block '{}' is a {} block; only server blocks keep bytes on the server",
                block.name,
                block.kind.as_str()
            ),
        ));
    }
    let existed: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM block_data WHERE block_id = ? AND key = ?")
            .bind(id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO block_data (block_id, key, data, created) VALUES (?, ?, ?, ?)
         ON CONFLICT (block_id, key) DO UPDATE SET data = excluded.data",
    )
    .bind(id)
    .bind(key)
    .bind(data)
    .bind(to_micros(Utc::now()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(existed.is_none())
}

pub async fn get_data(db: &Db, id: Uuid, key: &str) -> ApiResult<Vec<u8>> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM block_data WHERE block_id = ? AND key = ?")
            .bind(id)
            .bind(key)
            .fetch_optional(&db.read)
            .await?;
    match row {
        Some((data,)) => Ok(data),
        None => {
            // say which part is missing: the block or the key
            get(db, id).await?;
            Err(ApiError::NotFound(format!(
                "storage block {id} has no data under key '{key}'"
            )))
        }
    }
}
