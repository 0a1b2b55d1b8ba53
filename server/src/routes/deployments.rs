use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::backfill::{BackfillRequest, BackfillResult};
use rigel_common::deployment::{
    Deployment, DeploymentCount, DeploymentCreate, DeploymentFilter, DeploymentUpdate,
};
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use rigel_common::flow_run::{DeploymentRunCreate, FlowRun};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Access, Caller, Rule, ShownTo};
use crate::db::deployments::{self, Saved};
use crate::db::schedules;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::services::plan::Horizon;
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/deployments/", Access::Deploy),
    Rule::new("GET", "/deployments/{id}", Access::Read),
    Rule::new("GET", "/deployments/name/{flow}/{name}", Access::Read),
    Rule::new("POST", "/deployments/filter", Access::Read),
    Rule::new("POST", "/deployments/count", Access::Read),
    Rule::new("PATCH", "/deployments/{id}", Access::Deploy),
    Rule::new("DELETE", "/deployments/{id}", Access::Admin),
    Rule::new(
        "POST",
        "/deployments/{id}/set_schedule_active",
        Access::Operate,
    ),
    Rule::new(
        "POST",
        "/deployments/{id}/set_schedule_inactive",
        Access::Operate,
    ),
    Rule::new(
        "POST",
        "/deployments/{id}/create_flow_run",
        Access::StartRun,
    ),
    Rule::new("POST", "/deployments/{id}/schedule", Access::Operate),
];

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
        .routes(routes!(create_deployment_flow_run))
        .routes(routes!(backfill_deployment))
}

/// The scheduler's window as of now, for writes that reschedule a deployment at once.
fn horizon(s: &AppState) -> Horizon {
    Horizon::new(s.now(), &s.config.scheduler)
}

/// Wakes waiting claimers when a write materialised runs, and hands back the deployment.
fn saved(s: &AppState, saved: Saved) -> Deployment {
    if saved.runs_created > 0 {
        s.notifier.runs_changed();
    }
    saved.deployment
}

/// Creates a deployment, or updates the one with the same flow and name (keeping its id):
/// 201 when created, 200 when updated. A new or changed schedule is materialised before the
/// answer: runs of the old schedule that are not yet due are replaced; an identical schedule
/// keeps its runs.
#[utoipa::path(post, path = "/deployments/", tag = "deployments", request_body = DeploymentCreate,
    responses((status = 201, body = Deployment), (status = 200, body = Deployment),
        (status = 422, body = ErrorBody)))]
async fn create_deployment(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeploymentCreate>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    body.validate()?;
    let result = deployments::upsert(&s.db, &body, &horizon(&s)).await?;
    let created = result.created;
    let d = saved(&s, result);
    s.events.deployment_saved(&d, created);
    let action = if created {
        "deployment.create"
    } else {
        "deployment.update"
    };
    audit(&s, &caller, action, Some(d.id), full_name(&d)).await;
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
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(deployments::get(&s.db, id).await?.shown_to(&caller)))
}

#[utoipa::path(get, path = "/deployments/name/{flow}/{name}", tag = "deployments",
    params(("flow" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn get_deployment_by_name(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((flow, name)): ApiPath<(String, String)>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(
        deployments::get_by_name(&s.db, &flow, &name)
            .await?
            .shown_to(&caller),
    ))
}

#[utoipa::path(post, path = "/deployments/filter", tag = "deployments",
    request_body = DeploymentFilter,
    responses((status = 200, body = Vec<Deployment>), (status = 422, body = ErrorBody)))]
async fn filter_deployments(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeploymentFilter>,
) -> ApiResult<Json<Vec<Deployment>>> {
    validate_limit(body.limit)?;
    Ok(Json(
        deployments::filter(&s.db, &body).await?.shown_to(&caller),
    ))
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

/// Changes the fields present in the body; `schedule: null` removes the schedule. A schedule
/// change takes effect at once, as on create.
#[utoipa::path(patch, path = "/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    request_body = DeploymentUpdate,
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_deployment(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DeploymentUpdate>,
) -> ApiResult<Json<Deployment>> {
    body.validate()?;
    let result = deployments::update(&s.db, id, &body, &horizon(&s)).await?;
    let d = saved(&s, result);
    s.events.deployment_saved(&d, false);
    audit(&s, &caller, "deployment.update", Some(id), full_name(&d)).await;
    Ok(Json(d))
}

/// Deletes the deployment and its runs that never started (SCHEDULED); runs that started stay.
#[utoipa::path(delete, path = "/deployments/{id}", tag = "deployments", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_deployment(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    deployments::delete(&s.db, id).await?;
    s.events.deployment_deleted(id);
    audit(&s, &caller, "deployment.delete", Some(id), None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes the deployment's schedule; its runs are materialised again from now.
#[utoipa::path(post, path = "/deployments/{id}/set_schedule_active", tag = "deployments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn set_schedule_active(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    let result = deployments::set_schedule_active(&s.db, id, true, &horizon(&s)).await?;
    let d = saved(&s, result);
    s.events.deployment_saved(&d, false);
    audit(
        &s,
        &caller,
        "deployment.schedule_on",
        Some(id),
        full_name(&d),
    )
    .await;
    Ok(Json(d))
}

/// Pauses the deployment's schedule; its auto-scheduled runs that are not yet due are deleted
/// (Late and claimed runs stay).
#[utoipa::path(post, path = "/deployments/{id}/set_schedule_inactive", tag = "deployments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
async fn set_schedule_inactive(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    let result = deployments::set_schedule_active(&s.db, id, false, &horizon(&s)).await?;
    let d = saved(&s, result);
    s.events.deployment_saved(&d, false);
    audit(
        &s,
        &caller,
        "deployment.schedule_off",
        Some(id),
        full_name(&d),
    )
    .await;
    Ok(Json(d))
}

/// Creates a run of the deployment: its parameters merged with the given ones, its tags plus
/// the given ones, Scheduled for `scheduled_start_time` (default now).
#[utoipa::path(post, path = "/deployments/{id}/create_flow_run", tag = "deployments",
    params(("id" = Uuid, Path)), request_body = DeploymentRunCreate,
    responses((status = 201, body = FlowRun), (status = 200, body = FlowRun),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_deployment_flow_run(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DeploymentRunCreate>,
) -> ApiResult<(StatusCode, Json<FlowRun>)> {
    if let Some(name) = &body.name {
        rigel_common::validation::validate_name("name", name)?;
    }
    rigel_common::deployment::validate_tags("tags", &body.tags)?;
    super::flow_runs::validate_idempotency_key(body.idempotency_key.as_deref())?;
    rigel_common::deployment::validate_parameters("parameters", &body.parameters)?;
    let (run, created) =
        crate::db::flow_runs::create_for_deployment(&s.db, id, &body, s.now()).await?;
    if created {
        s.notifier.runs_changed();
        s.events.flow_run_created(&run);
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(run)))
}

/// Backfills the deployment's schedule: creates its runs between `start_time` and `end_time`
/// (both inclusive, past or future, also while the schedule is paused), at most `max_runs`
/// (default 100, at most 1000), earliest first. Times that already have a run, from the
/// scheduler or an earlier backfill, are left alone: repeating a backfill creates nothing new.
/// 201 when runs were created, 200 when there was nothing to create; 409 when the deployment
/// has no schedule.
#[utoipa::path(post, path = "/deployments/{id}/schedule", tag = "deployments",
    params(("id" = Uuid, Path)), request_body = BackfillRequest,
    responses((status = 201, body = BackfillResult), (status = 200, body = BackfillResult),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn backfill_deployment(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<BackfillRequest>,
) -> ApiResult<(StatusCode, Json<BackfillResult>)> {
    body.validate()?;
    let result = schedules::backfill(&s.db, id, &body, s.now()).await?;
    let detail = format!("{} runs", result.runs.len());
    audit(&s, &caller, "deployment.backfill", Some(id), detail).await;
    let status = if result.runs.is_empty() {
        StatusCode::OK
    } else {
        s.notifier.runs_changed();
        s.events.runs_created(&result.runs);
        StatusCode::CREATED
    };
    Ok((status, Json(result)))
}

/// `flow/name` of a deployment, for the audit table.
fn full_name(d: &Deployment) -> String {
    format!("{}/{}", d.flow_name, d.name)
}
