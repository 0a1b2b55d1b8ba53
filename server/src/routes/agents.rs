use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::agent::{Agent, AgentCreate, AgentFilter, AgentHeartbeat};
use rigel_common::error::ErrorBody;
use rigel_common::event::AgentChange;
use rigel_common::filter::validate_limit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Access, Caller, Rule};
use crate::db::agents::{self, Liveness};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/agents/", Access::Work),
    Rule::new("POST", "/agents/{id}/heartbeat", Access::Work),
    Rule::new("GET", "/agents/{id}", Access::ReadHeld),
    Rule::new("POST", "/agents/filter", Access::Read),
    Rule::new("DELETE", "/agents/{id}", Access::Work),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_agent))
        .routes(routes!(get_agent, delete_agent))
        .routes(routes!(agent_heartbeat))
        .routes(routes!(filter_agents))
}

/// Registers an agent working from a queue (the queue need not exist yet).
#[utoipa::path(post, path = "/agents/", tag = "agents", request_body = AgentCreate,
    responses((status = 201, body = Agent), (status = 422, body = ErrorBody)))]
async fn register_agent(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AgentCreate>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    body.validate()?;
    caller.check_queue(&body.work_queue_name)?;
    let at = Liveness::from_config(&s.config);
    let key = caller.key.as_ref().map(|(id, _)| *id);
    let agent = agents::register(&s.db, &body, &at, key).await?;
    s.events
        .agent(agent.id, AgentChange::Registered, Some(&agent));
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Records that the agent is alive and which runs it is running; 404 means it must register again.
#[utoipa::path(post, path = "/agents/{id}/heartbeat", tag = "agents", params(("id" = Uuid, Path)),
    request_body = AgentHeartbeat,
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn agent_heartbeat(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AgentHeartbeat>,
) -> ApiResult<Json<Agent>> {
    body.validate()?;
    let at = Liveness::from_config(&s.config);
    let clock = s.config.clock.clone();
    let agent = agents::heartbeat(&s.db, id, &body.runs_in_flight, &at, clock).await?;
    s.events.agent(id, AgentChange::Heartbeat, Some(&agent));
    Ok(Json(agent))
}

#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn get_agent(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Agent>> {
    caller
        .check_held("this agent", |key| {
            crate::db::holdings::agent(&s.db, key, id)
        })
        .await?;
    let at = Liveness::from_config(&s.config);
    Ok(Json(agents::get(&s.db, id, &at).await?))
}

/// Agents, newest heartbeat first; `status` is derived from the heartbeat's age.
#[utoipa::path(post, path = "/agents/filter", tag = "agents", request_body = AgentFilter,
    responses((status = 200, body = Vec<Agent>), (status = 422, body = ErrorBody)))]
async fn filter_agents(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<AgentFilter>,
) -> ApiResult<Json<Vec<Agent>>> {
    validate_limit(body.limit)?;
    let at = Liveness::from_config(&s.config);
    Ok(Json(agents::filter(&s.db, &body, &at).await?))
}

/// Deregisters an agent (it does so on a clean shutdown).
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_agent(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller
        .check_held("this agent", |key| {
            crate::db::holdings::agent(&s.db, key, id)
        })
        .await?;
    agents::delete(&s.db, id).await?;
    s.events.agent(id, AgentChange::Deregistered, None);
    audit(&s, &caller, "agent.delete", Some(id), None).await;
    Ok(StatusCode::NO_CONTENT)
}
