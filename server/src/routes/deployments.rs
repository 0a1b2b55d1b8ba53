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
use rigel_common::schedule::Schedule;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Access, Caller, Rule, ShownTo};
use crate::db::deployments::{self, Saved};
use crate::db::schedules::{self, BackfillTimes};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::planning::{Horizon, RunsAhead};
use crate::services::run_times;
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/deployments/", Access::Deploy),
    Rule::new("GET", "/deployments/{id}", Access::ReadHeld),
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

/// The runs of `schedule` from now, when there is one: computed off the async workers before the
/// write, which then only picks from them (a 422 naming `schedule.rrule` or the like when the
/// schedule can't be computed within its work budget).
async fn runs_ahead(
    s: &AppState,
    schedule: Option<&Schedule>,
    horizon: &Horizon,
) -> ApiResult<Option<RunsAhead>> {
    match schedule {
        Some(schedule) => Ok(Some(run_times::ahead(s, schedule, horizon).await?)),
        None => Ok(None),
    }
}

/// Writes a deployment's new schedule state (`patch`): reads it first to know which schedule it
/// will run, computes that schedule's runs, then writes.
async fn update_with_runs(s: &AppState, id: Uuid, patch: &DeploymentUpdate) -> ApiResult<Saved> {
    let horizon = horizon(s);
    let current = deployments::get(&s.db, id).await?;
    let schedule = deployments::schedule_after(&current, patch);
    let ahead = runs_ahead(s, schedule.as_ref(), &horizon).await?;
    deployments::update(&s.db, id, patch, &horizon, ahead.as_ref()).await
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
    // checking a schedule lists its first run: off the async workers
    let body = run_times::off_thread(&s, move || body.validate().map(|()| body)).await??;
    let horizon = horizon(&s);
    let schedule = body.schedule.clone().map(Schedule::normalized);
    let ahead = runs_ahead(&s, schedule.as_ref(), &horizon).await?;
    let result = deployments::upsert(&s.db, &body, &horizon, ahead.as_ref()).await?;
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
    caller
        .check_held("this deployment", |key| {
            crate::db::holdings::deployment(&s.db, key, id)
        })
        .await?;
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
    responses((status = 200, content_type = "application/json", body = u64,
        description = "The number of matches, as a bare JSON number"),
        (status = 422, body = ErrorBody)))]
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
    let body = run_times::off_thread(&s, move || body.validate().map(|()| body)).await??;
    let result = update_with_runs(&s, id, &body).await?;
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
    let result = update_with_runs(&s, id, &schedule_active(true)).await?;
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
    let result = update_with_runs(&s, id, &schedule_active(false)).await?;
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
/// (default 100, at most 1000, and at most 8 MiB of the deployment's parameters copied into
/// them: 422 naming how many runs fit), earliest first. Times that already have a run, from the
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
    let d = deployments::get(&s.db, id).await?;
    let schedule = d
        .schedule
        .clone()
        .ok_or_else(|| schedules::no_schedule_to_backfill(&d))?;
    let request = body.clone();
    let planned = run_times::off_thread(&s, move || BackfillTimes::list(schedule, &request))
        .await?
        .map_err(|e| ApiError::from(e.under("schedule")))?;
    let parameter_bytes = serde_json::to_string(&d.parameters).map_or(0, |p| p.len());
    rigel_common::backfill::check_copied_parameters(planned.times.len(), parameter_bytes)?;
    let result = schedules::backfill(&s.db, id, &planned, s.now()).await?;
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

/// The patch that pauses (`false`) or resumes (`true`) a schedule.
fn schedule_active(active: bool) -> DeploymentUpdate {
    DeploymentUpdate {
        is_schedule_active: Some(active),
        ..Default::default()
    }
}

/// `flow/name` of a deployment, for the audit table.
fn full_name(d: &Deployment) -> String {
    format!("{}/{}", d.flow_name, d.name)
}
