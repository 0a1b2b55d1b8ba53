use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::api_key::Role;
use rigel_common::deployment::validate_tags;
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use rigel_common::flow_run::{
    FlowRun, FlowRunCount, FlowRunCreate, FlowRunFilter, RunHeartbeat, RunHeartbeatAnswer,
};
use rigel_common::state::{
    ProposalOutcome, SetState, SetStateResult, SetStateStatus, SetStates, SetStatesResult,
    State as RunState, StateCreate, MAX_PROPOSALS, MAX_STATE_NAME_CHARS,
};
use rigel_common::validation::{validate_name, FieldError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Caller, ShownTo};
use crate::auth::{Access, Rule};
use crate::db::{flow_runs, run_states};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/flow_runs/", Access::StartRun),
    Rule::new("GET", "/flow_runs/{id}", Access::ReadHeld),
    Rule::new("POST", "/flow_runs/filter", Access::Read),
    Rule::new("POST", "/flow_runs/count", Access::Read),
    Rule::new("DELETE", "/flow_runs/{id}", Access::Admin),
    Rule::new("GET", "/flow_runs/{id}/states", Access::ReadHeld),
    Rule::new("POST", "/flow_runs/{id}/set_state", Access::Report),
    Rule::new("POST", "/flow_runs/set_states", Access::Report),
    Rule::new("POST", "/flow_runs/{id}/heartbeat", Access::Report),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_flow_run))
        .routes(routes!(get_flow_run, delete_flow_run))
        .routes(routes!(filter_flow_runs))
        .routes(routes!(count_flow_runs))
        .routes(routes!(flow_run_states))
        .routes(routes!(set_flow_run_state))
        .routes(routes!(set_flow_run_states))
        .routes(routes!(flow_run_heartbeat))
}

/// Checks a proposed state's free-text fields.
pub fn validate_state(field: &str, s: &StateCreate) -> Result<(), FieldError> {
    if let Some(name) = &s.name {
        if name.trim().is_empty() || name.chars().count() > MAX_STATE_NAME_CHARS {
            return Err(FieldError::new(
                format!("{field}.name"),
                format!("must be 1-{MAX_STATE_NAME_CHARS} characters"),
            ));
        }
    }
    if s.message.as_ref().is_some_and(|m| m.len() > 64 * 1024) {
        return Err(FieldError::new(
            format!("{field}.message"),
            "must be at most 64 KiB",
        ));
    }
    Ok(())
}

/// Longest idempotency key of a run creation.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 500;

/// Checks an idempotency key: 1–500 characters.
pub fn validate_idempotency_key(key: Option<&str>) -> Result<(), FieldError> {
    match key {
        Some(k) if k.is_empty() || k.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => {
            Err(FieldError::new(
                "idempotency_key",
                format!("must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// Creates a run of a flow or of a deployment. A second create with the same (flow,
/// idempotency_key) returns the first run (200) instead of a new one (201).
#[utoipa::path(post, path = "/flow_runs/", tag = "flow runs", request_body = FlowRunCreate,
    responses((status = 201, body = FlowRun), (status = 200, body = FlowRun),
        (status = 422, body = ErrorBody)))]
async fn create_flow_run(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<FlowRunCreate>,
) -> ApiResult<(StatusCode, Json<FlowRun>)> {
    if let Some(name) = &body.name {
        validate_name("name", name)?;
    }
    validate_tags("tags", &body.tags)?;
    validate_idempotency_key(body.idempotency_key.as_deref())?;
    rigel_common::deployment::validate_parameters("parameters", &body.parameters)?;
    if let Some(st) = &body.state {
        validate_state("state", st)?;
    }
    if let Some(r) = &body.flow_runner {
        r.validate().map_err(|e| e.under("flow_runner"))?;
    }
    let (run, created) = flow_runs::create(&s.db, &body, s.now()).await?;
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

#[utoipa::path(get, path = "/flow_runs/{id}", tag = "flow runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = FlowRun), (status = 404, body = ErrorBody)))]
async fn get_flow_run(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FlowRun>> {
    caller
        .check_held("this flow run", |key| {
            crate::db::holdings::run(&s.db, key, id)
        })
        .await?;
    Ok(Json(flow_runs::get(&s.db, id).await?.shown_to(&caller)))
}

/// Runs matching the filter. Sorts: `EXPECTED_START_TIME_DESC` (default), `EXPECTED_START_TIME_ASC`,
/// `CREATED_DESC`, `END_TIME_DESC`.
#[utoipa::path(post, path = "/flow_runs/filter", tag = "flow runs", request_body = FlowRunFilter,
    responses((status = 200, body = Vec<FlowRun>), (status = 422, body = ErrorBody)))]
async fn filter_flow_runs(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<FlowRunFilter>,
) -> ApiResult<Json<Vec<FlowRun>>> {
    validate_limit(body.limit)?;
    Ok(Json(
        flow_runs::filter(&s.db, &body).await?.shown_to(&caller),
    ))
}

/// How many runs match; answers a bare number.
#[utoipa::path(post, path = "/flow_runs/count", tag = "flow runs", request_body = FlowRunCount,
    responses((status = 200, content_type = "application/json", body = u64,
        description = "The number of matches, as a bare JSON number"),
        (status = 422, body = ErrorBody)))]
async fn count_flow_runs(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<FlowRunCount>,
) -> ApiResult<Json<u64>> {
    Ok(Json(flow_runs::count(&s.db, &body).await?))
}

#[utoipa::path(delete, path = "/flow_runs/{id}", tag = "flow runs", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_flow_run(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    flow_runs::delete(&s.db, id).await?;
    audit(&s, &caller, "flow_run.delete", Some(id), None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The run's state history, oldest first.
#[utoipa::path(get, path = "/flow_runs/{id}/states", tag = "flow runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<RunState>), (status = 404, body = ErrorBody)))]
async fn flow_run_states(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<RunState>>> {
    caller
        .check_held("this flow run", |key| {
            crate::db::holdings::run(&s.db, key, id)
        })
        .await?;
    Ok(Json(flow_runs::history(&s.db, id).await?))
}

/// Proposes a new state; the orchestration rules answer ACCEPT, REJECT, WAIT or ABORT.
#[utoipa::path(post, path = "/flow_runs/{id}/set_state", tag = "flow runs",
    params(("id" = Uuid, Path)), request_body = SetState,
    responses((status = 200, body = SetStateResult), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn set_flow_run_state(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetState>,
) -> ApiResult<Json<SetStateResult>> {
    if body.force {
        caller.require(Role::Admin, "a forced state change")?;
    }
    caller.check_holds(body.claim_token)?;
    caller
        .check_held("this flow run", |key| {
            crate::db::holdings::run(&s.db, key, id)
        })
        .await?;
    validate_state("state", &body.state)?;
    let (result, updated) =
        run_states::set_flow_run_state(&s.db, id, &body, s.now(), caller.actor()).await?;
    if announce(&s, &result, updated.as_ref()) {
        s.notifier.runs_changed();
    }
    if let Some(run) = updated.filter(|_| audits_states(&caller)) {
        audit_state(&s, &caller, &run, body.force).await;
    }
    Ok(Json(result))
}

/// Whether a caller's state changes go to the audit table: those of people and their scripts
/// (operators, deployers, admins) do; agents' and engines' are in the runs' histories only.
fn audits_states(caller: &Caller) -> bool {
    caller.actor().is_some() && caller.role != Role::Agent
}

async fn audit_state(s: &AppState, caller: &Caller, run: &FlowRun, forced: bool) {
    let forced = if forced { " (forced)" } else { "" };
    let detail = format!("{}{forced}", run.state.kind.as_str());
    audit(s, caller, "flow_run.set_state", Some(run.id), detail).await;
}

/// Publishes the state event of a run a proposal moved (not of a replayed transition, which
/// moved nothing); whether the proposal was accepted.
fn announce(s: &AppState, result: &SetStateResult, updated: Option<&FlowRun>) -> bool {
    if let Some(run) = updated {
        s.events.flow_run_state(run, &run.state, false);
    }
    result.status == SetStateStatus::Accept
}

/// Several runs' proposals in one call: each is decided as `set_state` decides it, in the
/// order given (a later proposal for a run sees what an earlier one did), and gets its own
/// outcome — its answer, or the error `set_state` would have answered. At most 1,000.
#[utoipa::path(post, path = "/flow_runs/set_states", tag = "flow runs",
    request_body = SetStates,
    responses((status = 200, body = SetStatesResult), (status = 422, body = ErrorBody)))]
async fn set_flow_run_states(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SetStates>,
) -> ApiResult<Json<SetStatesResult>> {
    let forced = body.proposals.iter().any(|p| p.force);
    if forced {
        caller.require(Role::Admin, "a forced state change")?;
    }
    for p in &body.proposals {
        caller.check_run(p.flow_run_id)?;
        caller.check_holds(p.claim_token)?;
        let run = p.flow_run_id;
        caller
            .check_held("this flow run", |key| {
                crate::db::holdings::run(&s.db, key, run)
            })
            .await?;
    }
    if body.proposals.len() > MAX_PROPOSALS {
        return Err(ApiError::invalid(
            "proposals",
            format!(
                "{} proposals; at most {MAX_PROPOSALS} fit in one call",
                body.proposals.len()
            ),
        ));
    }
    // proposals with an invalid state are answered as such; the others are written together
    let mut outcomes: Vec<Option<ProposalOutcome>> = Vec::with_capacity(body.proposals.len());
    let mut valid = Vec::with_capacity(body.proposals.len());
    for (i, proposal) in body.proposals.into_iter().enumerate() {
        let (id, proposal) = proposal.into_parts();
        match validate_state(&format!("proposals[{i}].state"), &proposal.state) {
            Ok(()) => {
                outcomes.push(None);
                valid.push((id, proposal));
            }
            Err(e) => outcomes.push(Some(ProposalOutcome::Error(
                ApiError::from(e).answer().error,
            ))),
        }
    }
    let answers = run_states::set_flow_run_states(&s.db, valid, s.now(), caller.actor()).await;
    let mut answers = answers.into_iter();
    let mut accepted = false;
    let mut moved = Vec::new();
    let results = outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| match answers.next() {
                Some(Ok((result, updated))) => {
                    accepted |= announce(&s, &result, updated.as_ref());
                    moved.extend(updated);
                    ProposalOutcome::Result(result)
                }
                Some(Err(e)) => ProposalOutcome::Error(e.answer().error),
                None => ProposalOutcome::Error(
                    ApiError::Internal("a proposal went unanswered".into())
                        .answer()
                        .error,
                ),
            })
        })
        .collect();
    if accepted {
        s.notifier.runs_changed();
    }
    if audits_states(&caller) {
        for run in &moved {
            audit_state(&s, &caller, run, forced).await;
        }
    }
    Ok(Json(SetStatesResult { results }))
}

/// The executing process is alive. Answers the run's state (a CANCELLING run should stop) and
/// whether the claim token still holds (if not, another process owns the run: stop at once).
#[utoipa::path(post, path = "/flow_runs/{id}/heartbeat", tag = "flow runs",
    params(("id" = Uuid, Path)), request_body = RunHeartbeat,
    responses((status = 200, body = RunHeartbeatAnswer), (status = 404, body = ErrorBody)))]
async fn flow_run_heartbeat(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RunHeartbeat>,
) -> ApiResult<Json<RunHeartbeatAnswer>> {
    caller.check_run(id)?;
    caller
        .check_held("this flow run", |key| {
            crate::db::holdings::run(&s.db, key, id)
        })
        .await?;
    Ok(Json(
        flow_runs::heartbeat(&s.db, id, body.claim_token, s.config.clock.clone()).await?,
    ))
}
