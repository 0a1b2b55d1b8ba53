//! API keys and the audit table (admin), and `GET /api/me`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use rigel_common::api_key::{ApiKey, ApiKeyCreate, ApiKeyCreated, AuditEntry, Me};
use rigel_common::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::keys::new_key;
use crate::auth::{Access, Caller, Rule};
use crate::db::{api_keys, audit};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/api_keys/", Access::Admin),
    Rule::new("GET", "/api_keys/", Access::Admin),
    Rule::new("DELETE", "/api_keys/{id}", Access::Admin),
    Rule::new("GET", "/me", Access::AnyKey),
    Rule::new("GET", "/audit", Access::Admin),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(me))
        .routes(routes!(list_audit))
}

/// Creates a key. The answer holds the key itself, which is never shown again.
#[utoipa::path(post, path = "/api_keys/", tag = "api keys", request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyCreated), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let created = create(&s, &body, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates a key in `s`'s database and makes the server accept it at once; `actor` is who asked
/// (for the audit table; `rigel api-key create --offline` says `(offline)`).
pub async fn create(
    s: &AppState,
    body: &ApiKeyCreate,
    actor: Option<&str>,
) -> ApiResult<ApiKeyCreated> {
    body.validate()?;
    let (key, digest) = new_key()?;
    let api_key = api_keys::create(&s.db, body, digest, s.now()).await?;
    s.auth.ring.reload(&s.db).await?;
    let detail = format!("{} ({})", api_key.name, api_key.role);
    let actor = actor.map(str::to_string);
    audit::record(
        &s.db,
        s.now(),
        actor,
        "api_key.create",
        Some(api_key.id),
        Some(detail),
    )
    .await?;
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
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKey>> {
    let key = api_keys::revoke(&s.db, id, s.now()).await?;
    s.auth.ring.reload(&s.db).await?;
    crate::auth::audit(&s, &caller, "api_key.revoke", Some(id), key.name.clone()).await;
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

/// Filters of `GET /api/audit`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only the writes of the key with this name.
    key: Option<String>,
    /// Only entries older than this id (the next page).
    before: Option<i64>,
    /// At most this many entries, newest first (1-200, default 50).
    limit: Option<u32>,
}

/// Writes made through the API, newest first: who (the key's name), what, on which object,
/// when. State changes asked for by operators and admins are here too; every state also names
/// its key in the run's history.
#[utoipa::path(get, path = "/audit", tag = "api keys", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 422, body = ErrorBody)))]
async fn list_audit(
    State(s): State<AppState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    Ok(Json(
        audit::list(&s.db, q.key.as_deref(), q.before, limit).await?,
    ))
}
