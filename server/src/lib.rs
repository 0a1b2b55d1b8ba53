//! The Rigel API server as a library: `serve(config, listener, shutdown)` runs it on any listener,
//! so tests start it on `127.0.0.1:0` and the `rigel server start` binary is a thin wrapper.

pub mod auth;
pub mod clock;
pub mod cross_site;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod notify;
pub mod objects_only;
pub mod orchestration;
pub mod planning;
pub mod routes;
pub mod serve;
pub mod services;
pub mod shed;
pub mod slots;
pub mod write_deadline;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use clock::{Clock, SystemClock};
pub use db::Db;
use error::ApiError;
use notify::Notifier;
use tokio_util::sync::CancellationToken;

/// Default upper bound for any request body, including flow code stored in `server` blocks.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// sqlx SQLite URL, e.g. `sqlite:///home/me/.rigel/rigel.db`.
    pub database_url: String,
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// An agent whose last heartbeat is older than this is `stale`.
    pub agent_stale_after: Duration,
    /// An agent whose last heartbeat is older than this is `offline`.
    pub agent_offline_after: Duration,
    /// A work queue no agent polled for this long is `not_ready`.
    pub queue_ready_window: Duration,
    /// The clock every rule and service reads.
    pub clock: Arc<dyn Clock>,
    /// Whether `serve_state` starts the background services (scheduler, late runs).
    pub run_services: bool,
    /// The scheduler's interval and materialisation window.
    pub scheduler: services::SchedulerConfig,
    /// When Scheduled runs become Late.
    pub late_runs: services::LateRunsConfig,
    /// When silent runs are crashed and orphaned claims released.
    pub reaper: services::reaper::ReaperConfig,
    /// Replay ring and subscriber buffer sizes of `GET /api/events`.
    pub events: events::EventsConfig,
    /// Origins whose pages may call the API and host names it answers to (see `cross_site`).
    pub site: cross_site::SitePolicy,
    /// When requests need an API key.
    pub auth_mode: auth::AuthMode,
    /// `GET /api/health` probes the database at most this often (answers between reuse it).
    pub health_probe_every: Duration,
    /// Durability and the start-up check of the database.
    pub database: db::DbOptions,
    /// How long logs and finished runs are kept.
    pub retention: services::retention::RetentionConfig,
    /// Most requests and request-body bytes in progress at once (503 beyond).
    pub shed: shed::ShedConfig,
    /// Serve HTTPS with this certificate; plain HTTP when `None`.
    pub tls: Option<serve::Tls>,
    /// Longest wait for a request's headers or a TLS handshake before the connection is closed.
    pub header_read_timeout: Duration,
    /// Longest a write may wait for the client to read (then the connection is closed).
    pub write_timeout: Duration,
    /// Called before each schedule computation a request makes (tests hold one there).
    pub compute_hook: services::run_times::ComputeHook,
}

impl ServerConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            agent_stale_after: Duration::from_secs(30),
            agent_offline_after: Duration::from_secs(120),
            queue_ready_window: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            run_services: true,
            scheduler: services::SchedulerConfig::default(),
            late_runs: services::LateRunsConfig::default(),
            reaper: services::reaper::ReaperConfig::default(),
            events: events::EventsConfig::default(),
            site: cross_site::SitePolicy::default(),
            auth_mode: auth::AuthMode::default(),
            health_probe_every: Duration::from_secs(1),
            database: db::DbOptions::default(),
            retention: services::retention::RetentionConfig::default(),
            shed: shed::ShedConfig::default(),
            tls: None,
            header_read_timeout: serve::HEADER_READ_TIMEOUT,
            write_timeout: write_deadline::WRITE_TIMEOUT,
            compute_hook: services::run_times::ComputeHook::default(),
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<ServerConfig>,
    /// Wakes long-polling claimers when runs change.
    pub notifier: Arc<Notifier>,
    /// What changed, for `GET /api/events` subscribers.
    pub events: Arc<events::EventBus>,
    /// Cancelled when the server shuts down; long polls and services stop on it.
    pub shutdown: CancellationToken,
    /// The API keys and when they are checked.
    pub auth: Arc<auth::Auth>,
    /// The last health probe's findings.
    pub health: Arc<routes::health::Probe>,
    /// Requests and body bytes in progress (see `shed`).
    pub limits: Arc<shed::Limits>,
    /// Deployments the scheduler could not plan, skipped until they change.
    pub failing_schedules: Arc<services::scheduler::FailingSchedules>,
    /// Requests and claims counted for `GET /api/metrics`.
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// Opens the database (creating and migrating it as needed).
    pub async fn open(config: ServerConfig) -> Result<Self, db::DbOpenError> {
        let db = Db::open_with(&config.database_url, config.database).await?;
        let events = Arc::new(events::EventBus::new(config.events.clone()));
        let ring = auth::keys::KeyRing::load(&db)
            .await
            .map_err(|e| db::DbOpenError::Keys(e.to_string()))?;
        let run_tokens = auth::run_token::RunTokens::load(&db)
            .await
            .map_err(|e| db::DbOpenError::Keys(e.to_string()))?;
        let limits = shed::Limits::new(config.shed.clone());
        let auth = Arc::new(auth::Auth {
            mode: config.auth_mode,
            ring,
            throttle: Default::default(),
            run_tokens,
        });
        Ok(Self {
            db,
            config: Arc::new(config),
            notifier: Arc::new(Notifier::default()),
            events,
            shutdown: CancellationToken::new(),
            auth,
            health: Default::default(),
            limits,
            failing_schedules: Default::default(),
            metrics: Default::default(),
        })
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.config.clock.now()
    }
}

/// The whole HTTP application: `/api/...` plus JSON errors for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = routes::api().split_for_parts();
    let access = routes::access_table();
    let openapi = Arc::new(routes::openapi::document(openapi, &access));
    let guard = auth::guard::AuthLayer::new(access, state.clone());
    let max_body = state.config.max_body_bytes;
    let site = cross_site::SiteGuardLayer::new(state.config.site.clone());
    let limits = Arc::clone(&state.limits);
    let metrics = Arc::clone(&state.metrics);
    let app = api
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = Arc::clone(&openapi);
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route_layer(guard)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(routes::health::Probe::watch(Arc::clone(&state.health)))
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(site)
        .layer(shed::ShedLayer::new(limits, max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a request handler panicked".to_string()).into_response()
            },
        ))
        // outermost, so shed, cross-site and panic answers count too; `Router::layer` wraps
        // each route after routing, so both see the matched route's template
        .layer(metrics::CountLayer(metrics));
    with_request_spans(app)
}

/// Adds a `request` span per request (method, route template, status, latency), at debug level,
/// when the log filter shows this crate's debug lines (`RIGEL_LOG=info,rigel_server=debug`) as
/// the router is built; otherwise the layer is left out, since even a disabled span costs a few
/// microseconds per request. Server errors are logged where they are answered (`ApiError`)
/// whatever the filter.
fn with_request_spans(router: Router) -> Router {
    use tower_http::trace::TraceLayer;
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return router;
    }
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    route,
                    status = tracing::field::Empty,
                )
            })
            .on_request(())
            .on_response(
                |response: &axum::http::Response<axum::body::Body>,
                 latency: Duration,
                 span: &tracing::Span| {
                    let status = response.status().as_u16();
                    span.record("status", status);
                    tracing::debug!(
                        status,
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "answered"
                    );
                },
            )
            .on_body_chunk(())
            .on_eos(()),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Db(#[from] db::DbOpenError),
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the server on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::open(config).await?;
    serve_state(state, listener, shutdown).await
}

/// Like [`serve`], on a state (database) the caller opened already.
pub async fn serve_state(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let db = state.db.clone();
    let token = state.shutdown.clone();
    let services = if state.config.run_services {
        services::spawn_all(&state)
    } else {
        Vec::new()
    };
    let tls = state.config.tls.clone();
    let timeouts = serve::Timeouts {
        header_read: state.config.header_read_timeout,
        write: state.config.write_timeout,
    };
    let app = router(state);
    let on_shutdown = token.clone();
    let served = serve::serve(listener, app, tls, timeouts, async move {
        shutdown.await;
        // ends long polls at once, so draining in-flight requests is quick
        on_shutdown.cancel();
    })
    .await;
    // the services stop on the token (also when serving failed)
    token.cancel();
    for service in services {
        let _ = service.await;
    }
    served?;
    db.close().await;
    Ok(())
}
