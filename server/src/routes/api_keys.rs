//! API keys (admin) and `GET /api/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::api_key::{ApiKey, ApiKeyCreate, ApiKeyCreated, Me};
use rigel_common::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::keys::new_key;
use crate::auth::{Access, Caller, Rule};
use crate::db::api_keys;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/api_keys/", Access::Admin),
    Rule::new("GET", "/api_keys/", Access::Admin),
    Rule::new("DELETE", "/api_keys/{id}", Access::Admin),
    Rule::new("GET", "/me", Access::AnyKey),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(me))
}

/// Creates a key. The answer holds the key itself, which is never shown again.
#[utoipa::path(post, path = "/api_keys/", tag = "api keys", request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyCreated), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let created = create(&s, &body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates a key in `s`'s database and makes the server accept it at once.
pub async fn create(s: &AppState, body: &ApiKeyCreate) -> ApiResult<ApiKeyCreated> {
    body.validate()?;
    let (key, digest) = new_key()?;
    let api_key = api_keys::create(&s.db, body, digest, s.now()).await?;
    s.auth.ring.reload(&s.db).await?;
    Ok(ApiKeyCreated { key, api_key })
}

/// Every key, revoked ones included; never the keys themselves.
#[utoipa::path(get, path = "/api_keys/", tag = "api keys",
    responses((status = 200, body = Vec<ApiKey>)))]
async fn list_api_keys(State(s): State<AppState>) -> ApiResult<Json<Vec<ApiKey>>> {
    Ok(Json(api_keys::list(&s.db).await?))
}

/// Revokes a key: it stops working at once, and stays listed as revoked.
#[utoipa::path(delete, path = "/api_keys/{id}", tag = "api keys", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKey>> {
    let key = api_keys::revoke(&s.db, id, s.now()).await?;
    s.auth.ring.reload(&s.db).await?;
    Ok(Json(key))
}

/// Who the server takes the caller for: the key's name, role and queues.
#[utoipa::path(get, path = "/me", tag = "api keys", responses((status = 200, body = Me)))]
async fn me(State(s): State<AppState>, caller: Caller) -> Json<Me> {
    Json(Me {
        key_name: caller.key_name().map(str::to_string),
        role: caller.role,
        queues: caller.queues.to_vec(),
        auth_required: s.auth.enforced(),
    })
}
