use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::deployment::{
    Deployment, DeploymentCount, DeploymentCreate, DeploymentFilter, DeploymentUpdate,
};
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::deployments;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_deployment))
        .routes(routes!(
            get_deployment,
            update_deployment,
            delete_deployment
        ))
        .routes(routes!(get_deployment_by_name))
        .routes(routes!(filter_deployments))
        .routes(routes!(count_deployments))
        .routes(routes!(set_schedule_active))
        .routes(routes!(set_schedule_inactive))
}

/// Creates a deployment, or updates the one with the same flow and name (keeping its id):
/// 201 when created, 200 when updated.
#[utoipa::path(post, path = "/deployments/", tag = "deployments", request_body = DeploymentCreate,
    responses((status = 201, body = Deployment), (status = 200, body = Deployment),
        (status = 422, body = ErrorBody)))]
async fn create_deployment(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<DeploymentCreate>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    body.validate()?;
    let (d, created) = deployments::upsert(&s.db, &body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(d)))
}

#[utoipa::path(get, path = "/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn get_deployment(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(deployments::get(&s.db, id).await?))
}

#[utoipa::path(get, path = "/deployments/name/{flow}/{name}", tag = "deployments",
    params(("flow" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn get_deployment_by_name(
    State(s): State<AppState>,
    ApiPath((flow, name)): ApiPath<(String, String)>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(deployments::get_by_name(&s.db, &flow, &name).await?))
}

#[utoipa::path(post, path = "/deployments/filter", tag = "deployments",
    request_body = DeploymentFilter,
    responses((status = 200, body = Vec<Deployment>), (status = 422, body = ErrorBody)))]
async fn filter_deployments(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<DeploymentFilter>,
) -> ApiResult<Json<Vec<Deployment>>> {
    validate_limit(body.limit)?;
    Ok(Json(deployments::filter(&s.db, &body).await?))
}

/// How many deployments match; answers a bare number.
#[utoipa::path(post, path = "/deployments/count", tag = "deployments",
    request_body = DeploymentCount,
    responses((status = 200, body = u64), (status = 422, body = ErrorBody)))]
async fn count_deployments(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<DeploymentCount>,
) -> ApiResult<Json<u64>> {
    Ok(Json(deployments::count(&s.db, &body).await?))
}

/// Changes the fields present in the body; `schedule: null` removes the schedule.
#[utoipa::path(patch, path = "/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    request_body = DeploymentUpdate,
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_deployment(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DeploymentUpdate>,
) -> ApiResult<Json<Deployment>> {
    body.validate()?;
    Ok(Json(deployments::update(&s.db, id, &body).await?))
}

#[utoipa::path(delete, path = "/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_deployment(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    deployments::delete(&s.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes the deployment's schedule.
#[utoipa::path(post, path = "/deployments/{id}/set_schedule_active", tag = "deployments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn set_schedule_active(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(
        deployments::set_schedule_active(&s.db, id, true).await?,
    ))
}

/// Pauses the deployment's schedule.
#[utoipa::path(post, path = "/deployments/{id}/set_schedule_inactive", tag = "deployments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn set_schedule_inactive(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(
        deployments::set_schedule_active(&s.db, id, false).await?,
    ))
}
