use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use rigel_common::flow::{Flow, FlowCreate, FlowFilter};
use rigel_common::validation::validate_name;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Access, Caller, Rule};
use crate::db::flows;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/flows/", Access::Deploy),
    Rule::new("GET", "/flows/{id}", Access::Read),
    Rule::new("GET", "/flows/name/{name}", Access::Read),
    Rule::new("POST", "/flows/filter", Access::Read),
    Rule::new("DELETE", "/flows/{id}", Access::Admin),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_flow))
        .routes(routes!(get_flow, delete_flow))
        .routes(routes!(get_flow_by_name))
        .routes(routes!(filter_flows))
}

/// Creates a flow; a flow with that name already existing is returned as is (200).
#[utoipa::path(post, path = "/flows/", tag = "flows", request_body = FlowCreate,
    responses((status = 201, body = Flow), (status = 200, body = Flow), (status = 422, body = ErrorBody)))]
async fn create_flow(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<FlowCreate>,
) -> ApiResult<(StatusCode, Json<Flow>)> {
    validate_name("name", &body.name)?;
    rigel_common::deployment::validate_tags("tags", &body.tags)?;
    let (flow, created) = flows::create(&s.db, &body.name, &body.tags).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(flow)))
}

#[utoipa::path(get, path = "/flows/{id}", tag = "flows", params(("id" = Uuid, Path)),
    responses((status = 200, body = Flow), (status = 404, body = ErrorBody)))]
async fn get_flow(State(s): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Json<Flow>> {
    Ok(Json(flows::get_by_id(&s.db, id).await?))
}

#[utoipa::path(get, path = "/flows/name/{name}", tag = "flows", params(("name" = String, Path)),
    responses((status = 200, body = Flow), (status = 404, body = ErrorBody)))]
async fn get_flow_by_name(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Flow>> {
    Ok(Json(flows::get_by_name(&s.db, &name).await?))
}

#[utoipa::path(post, path = "/flows/filter", tag = "flows", request_body = FlowFilter,
    responses((status = 200, body = Vec<Flow>), (status = 422, body = ErrorBody)))]
async fn filter_flows(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<FlowFilter>,
) -> ApiResult<Json<Vec<Flow>>> {
    validate_limit(body.limit)?;
    Ok(Json(flows::filter(&s.db, &body).await?))
}

/// Deletes the flow and its deployments.
#[utoipa::path(delete, path = "/flows/{id}", tag = "flows", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_flow(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    flows::delete(&s.db, id).await?;
    audit(&s, &caller, "flow.delete", Some(id), None).await;
    Ok(StatusCode::NO_CONTENT)
}
