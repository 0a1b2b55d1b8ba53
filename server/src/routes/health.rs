use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use rigel_common::error::ErrorBody;
use rigel_common::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Access, Rule};
use crate::db::secrets;
use crate::error::{ApiError, ApiResult, DatabaseCondition};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[Rule::new("GET", "/health", Access::Public)];

/// How long the read and the write of a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// The last probe's findings, shared by the calls of the next second: a health check is one
/// read and one (empty) write at most once a second, however many callers ask.
#[derive(Debug, Default)]
pub struct Probe {
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, Vec<String>)>>,
    /// What SQLite said when a request met a damaged part of the database. The probe's own read
    /// touches one page, so damage elsewhere is only learnt from the requests that meet it; it
    /// is kept until the server restarts (waiting does not mend a file).
    damage: std::sync::Mutex<Option<String>>,
    /// The last request refused for the database's condition (a full disk, a lock held
    /// elsewhere) since the last probe, which reports and forgets it: the probe's own one-page
    /// write may still fit on a disk too full for the writes of requests.
    refused: std::sync::Mutex<Option<String>>,
}

impl Probe {
    /// A layer that remembers the conditions answers report (see [`DatabaseCondition`]); it
    /// adds no allocation to a request.
    pub fn watch(
        probe: Arc<Probe>,
    ) -> tower::util::MapResponseLayer<impl Fn(Response) -> Response + Clone> {
        tower::util::MapResponseLayer::new(move |response: Response| {
            if let Some(condition) = response.extensions().get::<DatabaseCondition>() {
                let detail = condition.detail.clone();
                if condition.damaged {
                    lock(&probe.damage).get_or_insert(detail);
                } else {
                    *lock(&probe.refused) = Some(detail);
                }
            }
            response
        })
    }

    fn damage(&self) -> Option<String> {
        lock(&self.damage).clone()
    }

    fn take_refused(&self) -> Option<String> {
        lock(&self.refused).take()
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server is up, its database can be read, and its writes go through: 503 with the
/// problems (`details.problems`) otherwise — a read or a write that fails or takes more than
/// 2 s (a full disk, a corrupt file, a writer stuck behind one batch), a last batch of writes
/// that failed with none committed since, or damage a request met since the server started.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn health(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    let problems = {
        let mut last = s.health.last.lock().await;
        match &*last {
            Some((at, found)) if at.elapsed() < s.config.health_probe_every => found.clone(),
            _ => {
                let found = probe(&s).await;
                *last = Some((tokio::time::Instant::now(), found.clone()));
                found
            }
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::Unavailable {
            message: format!("unhealthy: {}", problems.join("; ")),
            problems,
        });
    }
    Ok(Json(Health {
        status: "ok".to_string(),
        version: rigel_common::VERSION.to_string(),
    }))
}

async fn probe(s: &AppState) -> Vec<String> {
    let mut problems = Vec::new();
    // read before the probe's own write, whose commit would clear it: on a full disk the
    // probe's write (one page) may still fit where the writes of requests did not
    let failed = s.db.writer.stats().last_failure();
    let read = secrets::probe_read(&s.db);
    match tokio::time::timeout(PROBE_TIMEOUT, read).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => problems.push(format!("the database can't be read: {e}")),
        Err(_) => problems.push(format!(
            "a read of the database took more than {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
    let write = secrets::probe_write(&s.db);
    match tokio::time::timeout(PROBE_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("the database can't be written: {}", e.detail())),
        Err(_) => {
            let busy = s.db.writer.stats().busy_for().unwrap_or_default();
            problems.push(format!(
                "a write waited more than {} s (the batch of writes in progress has run {} s)",
                PROBE_TIMEOUT.as_secs(),
                busy.as_secs()
            ));
        }
    }
    if let Some(refused) = s.health.take_refused() {
        problems.push(format!(
            "requests were refused since the last check: {refused}"
        ));
    }
    if let Some(damage) = s.health.damage() {
        problems.push(format!(
            "the database is damaged ({damage}): a request met it; restore a backup and restart \
             the server"
        ));
    }
    if let Some(failure) = failed {
        problems.push(format!(
            "the last batch of database writes failed and none has committed since: {failure}"
        ));
    }
    problems
}
