//! HTTP routes, one module per resource. Each module's `router()` returns an `OpenApiRouter`, so
//! the OpenAPI document is generated from the same handlers that serve requests.

pub mod agents;
pub mod api_keys;
pub mod blocks;
pub mod deployments;
pub mod events;
pub mod flow_runs;
pub mod flows;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod task_runs;
pub mod work_queues;

use axum::http::{Method, Uri};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::access::AccessTable;
use crate::auth::{Access, Rule};
use crate::error::ApiError;
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rigel API",
        description = "Flows, deployments, storage blocks and (later) runs, work queues and agents."
    ),
    components(schemas(rigel_common::error::ErrorBody))
)]
struct ApiDoc;

/// Every `/api` route, plus the OpenAPI document describing them.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(
        "/api",
        OpenApiRouter::new()
            .merge(health::router())
            .merge(metrics::router())
            .merge(flows::router())
            .merge(deployments::router())
            .merge(blocks::router())
            .merge(agents::router())
            .merge(api_keys::router())
            .merge(logs::router())
            .merge(flow_runs::router())
            .merge(task_runs::router())
            .merge(work_queues::router())
            .merge(events::router()),
    )
}

/// Every module's `ACCESS` rules: the one table of who may call what.
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    [
        health::ACCESS,
        metrics::ACCESS,
        flows::ACCESS,
        deployments::ACCESS,
        blocks::ACCESS,
        agents::ACCESS,
        api_keys::ACCESS,
        logs::ACCESS,
        flow_runs::ACCESS,
        task_runs::ACCESS,
        work_queues::ACCESS,
        events::ACCESS,
    ]
    .into_iter()
    .flatten()
}

/// The access table of the whole application, `/api/openapi.json` included (public).
pub fn access_table() -> AccessTable {
    let mut table = AccessTable::new("/api", rules());
    table.insert("GET", "/api/openapi.json", Access::Public);
    table
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "{} {method} {}",
        rigel_common::error::NO_ROUTE,
        uri.path()
    ))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
