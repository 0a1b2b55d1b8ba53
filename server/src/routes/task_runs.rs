use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use rigel_common::state::{SetState, SetStateResult, State as RunState};
use rigel_common::task_run::{TaskRun, TaskRunCreate, TaskRunFilter};
use rigel_common::validation::{FieldError, MAX_NAME_LEN};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::flow_runs::validate_state;
use crate::auth::{Access, Caller, Rule};
use crate::db::task_runs;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;
use rigel_common::api_key::Role;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/task_runs/", Access::Report),
    Rule::new("GET", "/task_runs/{id}", Access::Read),
    Rule::new("POST", "/task_runs/filter", Access::Read),
    Rule::new("GET", "/task_runs/{id}/states", Access::Read),
    Rule::new("POST", "/task_runs/{id}/set_state", Access::Report),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_task_run))
        .routes(routes!(get_task_run))
        .routes(routes!(filter_task_runs))
        .routes(routes!(task_run_states))
        .routes(routes!(set_task_run_state))
}

/// Starts tracking a task of a flow run (default state Pending).
#[utoipa::path(post, path = "/task_runs/", tag = "task runs", request_body = TaskRunCreate,
    responses((status = 201, body = TaskRun), (status = 422, body = ErrorBody)))]
async fn create_task_run(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TaskRunCreate>,
) -> ApiResult<(StatusCode, Json<TaskRun>)> {
    caller.check_run(body.flow_run_id)?;
    let run = body.flow_run_id;
    caller
        .check_held("this flow run", |key| {
            crate::db::holdings::run(&s.db, key, run)
        })
        .await?;
    if body.name.trim().is_empty() || body.name.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new("name", format!("must be 1-{MAX_NAME_LEN} characters")).into());
    }
    if let Some(st) = &body.state {
        validate_state("state", st)?;
    }
    let run = task_runs::create(&s.db, &body, s.now()).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/task_runs/{id}", tag = "task runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = TaskRun), (status = 404, body = ErrorBody)))]
async fn get_task_run(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TaskRun>> {
    Ok(Json(task_runs::get(&s.db, id).await?))
}

/// The task runs of one flow run, oldest first.
#[utoipa::path(post, path = "/task_runs/filter", tag = "task runs", request_body = TaskRunFilter,
    responses((status = 200, body = Vec<TaskRun>), (status = 422, body = ErrorBody)))]
async fn filter_task_runs(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<TaskRunFilter>,
) -> ApiResult<Json<Vec<TaskRun>>> {
    validate_limit(body.limit)?;
    Ok(Json(task_runs::filter(&s.db, &body).await?))
}

#[utoipa::path(get, path = "/task_runs/{id}/states", tag = "task runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<RunState>), (status = 404, body = ErrorBody)))]
async fn task_run_states(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<RunState>>> {
    Ok(Json(task_runs::history(&s.db, id).await?))
}

/// Proposes a new state for a task run (the flow-run rules without claiming).
#[utoipa::path(post, path = "/task_runs/{id}/set_state", tag = "task runs",
    params(("id" = Uuid, Path)), request_body = SetState,
    responses((status = 200, body = SetStateResult), (status = 404, body = ErrorBody)))]
async fn set_task_run_state(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetState>,
) -> ApiResult<Json<SetStateResult>> {
    if body.force {
        caller.require(Role::Admin, "a forced state change")?;
    }
    if caller.run.is_some() {
        caller.check_run(task_runs::get(&s.db, id).await?.flow_run_id)?;
    }
    caller
        .check_held("this task run", |key| {
            crate::db::holdings::task_run(&s.db, key, id)
        })
        .await?;
    validate_state("state", &body.state)?;
    Ok(Json(task_runs::set_state(&s.db, id, &body, s.now()).await?))
}
