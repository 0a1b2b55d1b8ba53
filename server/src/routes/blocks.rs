use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use rigel_common::api_key::Role;
use rigel_common::block::{
    has_secret, validate_block_config, validate_storage_key, Block, BlockCreate, BlockFilter,
    StoredData,
};
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use rigel_common::validation::validate_name;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Access, Caller, Rule};
use crate::db::blocks;
use crate::error::ApiResult;
use crate::extract::{read_body, ApiJson, ApiPath};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/blocks/", Access::Deploy),
    Rule::new("GET", "/blocks/{id}", Access::ReadHeld),
    Rule::new("POST", "/blocks/filter", Access::Read),
    Rule::new("DELETE", "/blocks/{id}", Access::Admin),
    Rule::new("GET", "/blocks/default", Access::Read),
    Rule::new("POST", "/blocks/{id}/set_default", Access::Admin),
    Rule::new("POST", "/blocks/clear_default", Access::Admin),
    Rule::new("PUT", "/blocks/{id}/data/{key}", Access::Deploy),
    Rule::new("GET", "/blocks/{id}/data/{key}", Access::ReadHeld),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_block))
        .routes(routes!(get_block, delete_block))
        .routes(routes!(filter_blocks))
        .routes(routes!(get_default_block))
        .routes(routes!(set_default_block))
        .routes(routes!(clear_default_block))
        .routes(routes!(put_block_data, get_block_data))
}

/// A block as answered: credentials are write-only, never sent back (they read `***`).
fn hidden(mut block: Block) -> Block {
    block.redact();
    block
}

/// Registers a storage block. A block with the same type and config is returned (200) instead of
/// being duplicated.
#[utoipa::path(post, path = "/blocks/", tag = "storage", request_body = BlockCreate,
    responses((status = 201, body = Block), (status = 200, body = Block),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_block(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BlockCreate>,
) -> ApiResult<(StatusCode, Json<Block>)> {
    if has_secret(&body.config) {
        caller.require(Role::Admin, "a storage block with credentials")?;
    }
    if let Some(name) = &body.name {
        validate_name("name", name)?;
    }
    validate_block_config(body.kind, &body.config)?;
    let (block, created) =
        blocks::create(&s.db, body.name.as_deref(), body.kind, &body.config).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    audit(
        &s,
        &caller,
        "block.create",
        Some(block.id),
        block.name.clone(),
    )
    .await;
    Ok((status, Json(hidden(block))))
}

#[utoipa::path(get, path = "/blocks/{id}", tag = "storage", params(("id" = Uuid, Path)),
    responses((status = 200, body = Block), (status = 404, body = ErrorBody)))]
async fn get_block(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Block>> {
    caller
        .check_held("this block", |key| {
            crate::db::holdings::block(&s.db, key, id)
        })
        .await?;
    Ok(Json(hidden(blocks::get(&s.db, id).await?)))
}

#[utoipa::path(post, path = "/blocks/filter", tag = "storage", request_body = BlockFilter,
    responses((status = 200, body = Vec<Block>), (status = 422, body = ErrorBody)))]
async fn filter_blocks(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<BlockFilter>,
) -> ApiResult<Json<Vec<Block>>> {
    validate_limit(body.limit)?;
    let mut found = blocks::filter(&s.db, &body).await?;
    found.iter_mut().for_each(Block::redact);
    Ok(Json(found))
}

/// Deletes a block and its stored bytes; 409 while a deployment's flow code is in it.
#[utoipa::path(delete, path = "/blocks/{id}", tag = "storage", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_block(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    blocks::delete(&s.db, id).await?;
    audit(&s, &caller, "block.delete", Some(id), None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The block new deployments store their flow code in; 404 when none is set.
#[utoipa::path(get, path = "/blocks/default", tag = "storage",
    responses((status = 200, body = Block), (status = 404, body = ErrorBody)))]
async fn get_default_block(State(s): State<AppState>) -> ApiResult<Json<Block>> {
    Ok(Json(hidden(blocks::get_default(&s.db).await?)))
}

#[utoipa::path(post, path = "/blocks/{id}/set_default", tag = "storage", params(("id" = Uuid, Path)),
    responses((status = 200, body = Block), (status = 404, body = ErrorBody)))]
async fn set_default_block(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Block>> {
    let block = blocks::set_default(&s.db, id).await?;
    audit(&s, &caller, "block.set_default", Some(id), None).await;
    Ok(Json(hidden(block)))
}

#[utoipa::path(post, path = "/blocks/clear_default", tag = "storage", responses((status = 204)))]
async fn clear_default_block(State(s): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    blocks::clear_default(&s.db).await?;
    audit(&s, &caller, "block.clear_default", None, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the request body under `key` in a `server` block (413 above the server's size limit).
#[utoipa::path(put, path = "/blocks/{id}/data/{key}", tag = "storage",
    params(("id" = Uuid, Path), ("key" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = StoredData), (status = 200, body = StoredData),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_block_data(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, key)): ApiPath<(Uuid, String)>,
    req: Request,
) -> ApiResult<(StatusCode, Json<StoredData>)> {
    validate_storage_key(&key)?;
    let bytes = read_body(req, &s).await?;
    let created = blocks::put_data(&s.db, id, &key, &bytes).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let stored = StoredData {
        block_id: id,
        key,
        size: bytes.len() as u64,
    };
    audit(&s, &caller, "block.put_data", Some(id), stored.key.clone()).await;
    Ok((status, Json(stored)))
}

/// The bytes stored under `key`.
#[utoipa::path(get, path = "/blocks/{id}/data/{key}", tag = "storage",
    params(("id" = Uuid, Path), ("key" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
async fn get_block_data(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, key)): ApiPath<(Uuid, String)>,
) -> ApiResult<impl IntoResponse> {
    validate_storage_key(&key)?;
    caller
        .check_held("this block", |k| crate::db::holdings::block(&s.db, k, id))
        .await?;
    let data = blocks::get_data(&s.db, id, &key).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], data))
}
