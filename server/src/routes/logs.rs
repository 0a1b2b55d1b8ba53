use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rigel_common::error::ErrorBody;
use rigel_common::filter::validate_limit;
use rigel_common::log::{validate_log_batch, Log, LogBatchResult, LogCreate, LogFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Access, Caller, Rule};
use crate::db::logs;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[
    Rule::new("POST", "/logs/", Access::Report),
    Rule::new("POST", "/logs/filter", Access::Read),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_logs))
        .routes(routes!(filter_logs))
}

/// Stores a batch of 1–1000 records, all or none: one bad record (field `[i]…`) rejects the batch.
#[utoipa::path(post, path = "/logs/", tag = "logs", request_body = Vec<LogCreate>,
    responses((status = 201, body = LogBatchResult), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_logs(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Vec<LogCreate>>,
) -> ApiResult<(StatusCode, Json<LogBatchResult>)> {
    validate_log_batch(&body)?;
    let mut runs: Vec<uuid::Uuid> = body.iter().map(|r| r.flow_run_id).collect();
    runs.sort_unstable();
    runs.dedup();
    for run in runs {
        caller.check_run(run)?;
        caller
            .check_held("this flow run", |key| {
                crate::db::holdings::run(&s.db, key, run)
            })
            .await?;
    }
    let count = logs::create_batch(&s.db, &body).await?;
    s.events.logs_posted(&body);
    Ok((StatusCode::CREATED, Json(LogBatchResult { count })))
}

/// Log records, oldest first; follow a run by passing the last id seen as `logs.after_id`.
#[utoipa::path(post, path = "/logs/filter", tag = "logs", request_body = LogFilter,
    responses((status = 200, body = Vec<Log>), (status = 422, body = ErrorBody)))]
async fn filter_logs(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<LogFilter>,
) -> ApiResult<Json<Vec<Log>>> {
    validate_limit(body.limit)?;
    Ok(Json(logs::filter(&s.db, &body).await?))
}
