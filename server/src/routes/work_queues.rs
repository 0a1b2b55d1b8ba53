use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::deployment::validate_tags;
use rigel_common::error::ErrorBody;
use rigel_common::event::EventKind;
use rigel_common::filter::{validate_limit, MAX_LIMIT};
use rigel_common::flow_run::FlowRun;
use rigel_common::validation::{json_at_most, validate_name, FieldError, MAX_SETTINGS_BYTES};
use rigel_common::work_queue::{
    ClaimRequest, ClaimedRun, QueueFilter, QueueOffer, QueueRunsPreview, WorkQueue,
    WorkQueueCreate, WorkQueueFilter, WorkQueueStatus, WorkQueueUpdate,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{audit, Access, Caller, Rule};
use crate::db::work_queues;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// Longest a claim may wait for a run to become available.
pub const MAX_CLAIM_WAIT_SECONDS: f64 = 30.0;
/// Furthest ahead a claim may take runs.
pub const MAX_PREFETCH_SECONDS: f64 = 24.0 * 3600.0;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/work_queues/", Access::Admin),
    Rule::new("GET", "/work_queues/{id}", Access::ReadHeld),
    Rule::new("GET", "/work_queues/name/{name}", Access::ReadHeld),
    Rule::new("PATCH", "/work_queues/{id}", Access::Operate),
    Rule::new("DELETE", "/work_queues/{id}", Access::Admin),
    Rule::new("POST", "/work_queues/filter", Access::Read),
    Rule::new("POST", "/work_queues/{id}/get_runs", Access::Read),
    Rule::new("GET", "/work_queues/{id}/status", Access::Read),
    Rule::new("GET", "/flow_runs/{id}/work_queues", Access::Read),
    Rule::new("POST", "/work_queues/{id}/claim", Access::Work),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_work_queue))
        .routes(routes!(
            get_work_queue,
            update_work_queue,
            delete_work_queue
        ))
        .routes(routes!(get_work_queue_by_name))
        .routes(routes!(filter_work_queues))
        .routes(routes!(preview_work_queue_runs))
        .routes(routes!(work_queue_status))
        .routes(routes!(run_work_queues))
        .routes(routes!(claim_runs))
}

fn validate_filter(f: &QueueFilter) -> Result<(), FieldError> {
    validate_tags("filter.tags", &f.tags)?;
    let max = rigel_common::filter::MAX_ANY;
    if f.deployment_ids.as_ref().is_some_and(|ids| ids.len() > max) {
        return Err(FieldError::new(
            "filter.deployment_ids",
            format!("at most {max} deployments"),
        ));
    }
    Ok(())
}

/// A queue's description is answered in every queue listing: at most 64 KiB, as a deployment's.
fn validate_description(description: Option<&String>) -> Result<(), FieldError> {
    match description {
        Some(d) => json_at_most("description", d, MAX_SETTINGS_BYTES),
        None => Ok(()),
    }
}

#[utoipa::path(post, path = "/work_queues/", tag = "work queues", request_body = WorkQueueCreate,
    responses((status = 201, body = WorkQueue), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_work_queue(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<WorkQueueCreate>,
) -> ApiResult<(StatusCode, Json<WorkQueue>)> {
    validate_name("name", &body.name)?;
    validate_filter(&body.filter)?;
    validate_description(body.description.as_ref())?;
    let q = work_queues::create(&s.db, &body, s.now()).await?;
    s.events
        .work_queue(EventKind::WorkQueueCreated, q.id, Some(&q));
    audit(&s, &caller, "work_queue.create", Some(q.id), q.name.clone()).await;
    Ok((StatusCode::CREATED, Json(q)))
}

#[utoipa::path(get, path = "/work_queues/{id}", tag = "work queues", params(("id" = Uuid, Path)),
    responses((status = 200, body = WorkQueue), (status = 404, body = ErrorBody)))]
async fn get_work_queue(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WorkQueue>> {
    let q = work_queues::get(&s.db, id).await?;
    caller.check_queue(&q.name)?;
    Ok(Json(q))
}

#[utoipa::path(get, path = "/work_queues/name/{name}", tag = "work queues",
    params(("name" = String, Path)),
    responses((status = 200, body = WorkQueue), (status = 404, body = ErrorBody)))]
async fn get_work_queue_by_name(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<WorkQueue>> {
    caller.check_queue(&name)?;
    Ok(Json(work_queues::get_by_name(&s.db, &name).await?))
}

/// Changes the fields present: `is_paused`, `concurrency_limit` (`null` unlimited, 0 takes
/// nothing), `description`, `filter`.
#[utoipa::path(patch, path = "/work_queues/{id}", tag = "work queues", params(("id" = Uuid, Path)),
    request_body = WorkQueueUpdate,
    responses((status = 200, body = WorkQueue), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_work_queue(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WorkQueueUpdate>,
) -> ApiResult<Json<WorkQueue>> {
    if let Some(f) = &body.filter {
        validate_filter(f)?;
    }
    validate_description(body.description.as_ref().and_then(Option::as_ref))?;
    let q = work_queues::update(&s.db, id, &body, s.now()).await?;
    // unpausing or raising the limit can make runs claimable
    s.notifier.runs_changed();
    s.events
        .work_queue(EventKind::WorkQueueUpdated, q.id, Some(&q));
    audit(&s, &caller, "work_queue.update", Some(q.id), q.name.clone()).await;
    Ok(Json(q))
}

#[utoipa::path(delete, path = "/work_queues/{id}", tag = "work queues", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_work_queue(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    work_queues::delete(&s.db, id).await?;
    s.events.work_queue(EventKind::WorkQueueDeleted, id, None);
    audit(&s, &caller, "work_queue.delete", Some(id), None).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/work_queues/filter", tag = "work queues",
    request_body = WorkQueueFilter,
    responses((status = 200, body = Vec<WorkQueue>), (status = 422, body = ErrorBody)))]
async fn filter_work_queues(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<WorkQueueFilter>,
) -> ApiResult<Json<Vec<WorkQueue>>> {
    validate_limit(body.limit)?;
    Ok(Json(work_queues::filter(&s.db, &body).await?))
}

/// The runs an agent would get now (or by `scheduled_before`), without claiming them.
#[utoipa::path(post, path = "/work_queues/{id}/get_runs", tag = "work queues",
    params(("id" = Uuid, Path)), request_body = QueueRunsPreview,
    responses((status = 200, body = Vec<FlowRun>), (status = 404, body = ErrorBody)))]
async fn preview_work_queue_runs(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<QueueRunsPreview>,
) -> ApiResult<Json<Vec<FlowRun>>> {
    let limit = body.limit.unwrap_or(MAX_LIMIT);
    validate_limit(limit)?;
    let before = body.scheduled_before.unwrap_or_else(|| s.now());
    Ok(Json(work_queues::preview(&s.db, id, before, limit).await?))
}

/// Ready / paused / not ready (no agent polled in the last minute), overdue runs, last poll.
#[utoipa::path(get, path = "/work_queues/{id}/status", tag = "work queues",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WorkQueueStatus), (status = 404, body = ErrorBody)))]
async fn work_queue_status(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WorkQueueStatus>> {
    let window = s.queue_ready_window();
    Ok(Json(work_queues::status(&s.db, id, s.now(), window).await?))
}

impl AppState {
    /// How recently an agent must have polled a queue for it to be ready.
    fn queue_ready_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.queue_ready_window)
            .unwrap_or(chrono::Duration::seconds(60))
    }
}

/// The queues that offer the run (whatever its state), by name, each with its health — whether
/// an agent would pick the run up.
#[utoipa::path(get, path = "/flow_runs/{id}/work_queues", tag = "work queues",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<QueueOffer>), (status = 404, body = ErrorBody)))]
async fn run_work_queues(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<QueueOffer>>> {
    let window = s.queue_ready_window();
    Ok(Json(
        work_queues::offering(&s.db, id, s.now(), window).await?,
    ))
}

fn seconds(field: &str, v: f64, max: f64) -> Result<Duration, FieldError> {
    if !v.is_finite() || !(0.0..=max).contains(&v) {
        return Err(FieldError::new(
            field,
            format!("must be between 0 and {max} seconds"),
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Atomically claims up to `limit` runs for an agent: they move to PENDING with a fresh claim
/// token each. With nothing to take, waits up to `wait_seconds` and answers as soon as a run
/// becomes available. A paused queue, or one at its concurrency limit, gives nothing.
#[utoipa::path(post, path = "/work_queues/{id}/claim", tag = "work queues",
    params(("id" = Uuid, Path)), request_body = ClaimRequest,
    responses((status = 200, body = Vec<ClaimedRun>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn claim_runs(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> ApiResult<Json<Vec<ClaimedRun>>> {
    validate_limit(body.limit)?;
    if !caller.queues.is_empty() {
        caller.check_queue(&work_queues::get(&s.db, id).await?.name)?;
    }
    let prefetch = seconds(
        "prefetch_seconds",
        body.prefetch_seconds,
        MAX_PREFETCH_SECONDS,
    )?;
    let wait = seconds("wait_seconds", body.wait_seconds, MAX_CLAIM_WAIT_SECONDS)?;
    let prefetch = chrono::Duration::from_std(prefetch).unwrap_or_default();
    let deadline = Instant::now() + wait;
    // subscribe before looking, so a run created in between still wakes us
    let mut changes = s.notifier.subscribe();
    loop {
        let now = s.now();
        let due = now + prefetch;
        let began = Instant::now();
        let mut claimed =
            work_queues::claim(&s.db, id, body.agent_id, body.limit, due, now).await?;
        s.metrics.record_claim(began.elapsed(), claimed.len());
        for c in &mut claimed {
            c.run_token = Some(s.auth.run_tokens.mint(c.flow_run.id, c.claim_token));
        }
        s.events.claimed(&claimed);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if !claimed.is_empty() || remaining.is_zero() {
            return Ok(Json(claimed));
        }
        // sleep until the next run falls into our window, a change, or the deadline
        let mut nap = remaining;
        if let Some(next) = work_queues::next_due(&s.db, due).await? {
            let until = (next - prefetch - now).to_std().unwrap_or_default();
            nap = nap.min(until.max(Duration::from_millis(1)));
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(nap) => {}
            () = s.shutdown.cancelled() => return Ok(Json(Vec::new())),
        }
    }
}
