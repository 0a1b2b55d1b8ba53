//! Flows table.

use chrono::Utc;
use rigel_common::flow::{Flow, FlowFilter, FlowSort};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{from_json, from_micros, push_in, push_tags_superset, to_json, to_micros, Db};
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow)]
struct FlowRow {
    id: Uuid,
    name: String,
    tags: String,
    created: i64,
    updated: i64,
}

impl TryFrom<FlowRow> for Flow {
    type Error = ApiError;
    fn try_from(r: FlowRow) -> ApiResult<Flow> {
        Ok(Flow {
            id: r.id,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
            name: r.name,
            tags: from_json("flow.tags", &r.tags)?,
        })
    }
}

const COLUMNS: &str = "id, name, tags, created, updated";

/// Returns the flow with this name, creating it first if needed; `true` when it was created.
pub async fn upsert_by_name(
    conn: &mut SqliteConnection,
    name: &str,
    tags: &[String],
) -> ApiResult<(Flow, bool)> {
    let now = to_micros(Utc::now());
    let inserted = sqlx::query(
        "INSERT INTO flow (id, name, tags, created, updated) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(to_json(&tags))
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let row: FlowRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM flow WHERE name = ?"))
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_into()?, inserted))
}

pub async fn create(db: &Db, name: &str, tags: &[String]) -> ApiResult<(Flow, bool)> {
    let mut tx = db.begin_write().await?;
    let out = upsert_by_name(&mut tx, name, tags).await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn get(conn: &mut SqliteConnection, id: Uuid) -> ApiResult<Option<Flow>> {
    let row: Option<FlowRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM flow WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(Flow::try_from).transpose()
}

pub async fn get_by_id(db: &Db, id: Uuid) -> ApiResult<Flow> {
    let mut conn = db.read.acquire().await?;
    get(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("flow {id}")))
}

pub async fn get_by_name(db: &Db, name: &str) -> ApiResult<Flow> {
    let row: Option<FlowRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM flow WHERE name = ?"))
            .bind(name)
            .fetch_optional(&db.read)
            .await?;
    row.map(Flow::try_from)
        .transpose()?
        .ok_or_else(|| ApiError::not_found(format_args!("flow '{name}'")))
}

pub async fn filter(db: &Db, f: &FlowFilter) -> ApiResult<Vec<Flow>> {
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM flow WHERE 1"));
    if let Some(ids) = &f.flows.id {
        push_in(&mut qb, "id", &ids.any_);
    }
    if let Some(names) = &f.flows.name {
        push_in(&mut qb, "name", &names.any_);
    }
    if let Some(tags) = &f.flows.tags {
        push_tags_superset(&mut qb, "flow.tags", &tags.all_);
    }
    qb.push(match f.sort {
        FlowSort::NameAsc => " ORDER BY name ASC",
        FlowSort::NameDesc => " ORDER BY name DESC",
        FlowSort::CreatedAsc => " ORDER BY created ASC, id ASC",
        FlowSort::CreatedDesc => " ORDER BY created DESC, id DESC",
        FlowSort::UpdatedDesc => " ORDER BY updated DESC, id DESC",
    });
    qb.push(" LIMIT ")
        .push_bind(i64::from(f.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(f.offset));
    let rows: Vec<FlowRow> = qb.build_query_as().fetch_all(&db.read).await?;
    rows.into_iter().map(Flow::try_from).collect()
}

/// Deletes a flow and (by cascade) its deployments.
pub async fn delete(db: &Db, id: Uuid) -> ApiResult<()> {
    let n = sqlx::query("DELETE FROM flow WHERE id = ?")
        .bind(id)
        .execute(&db.write)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format_args!("flow {id}")));
    }
    Ok(())
}
