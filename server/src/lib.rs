//! The Rigel API server as a library: `serve(config, listener, shutdown)` runs it on any listener,
//! so tests start it on `127.0.0.1:0` and the `rigel server start` binary is a thin wrapper.

pub mod db;
pub mod error;
pub mod extract;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

pub use db::Db;
use error::ApiError;

/// Default upper bound for any request body, including flow code stored in `server` blocks.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// sqlx SQLite URL, e.g. `sqlite:///home/me/.rigel/rigel.db`.
    pub database_url: String,
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
}

impl ServerConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<ServerConfig>,
}

impl AppState {
    /// Opens the database (creating and migrating it as needed).
    pub async fn open(config: ServerConfig) -> Result<Self, db::DbOpenError> {
        let db = Db::open(&config.database_url).await?;
        Ok(Self {
            db,
            config: Arc::new(config),
        })
    }
}

/// The whole HTTP application: `/api/...` plus JSON errors for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = routes::api().split_for_parts();
    let openapi = Arc::new(openapi);
    let max_body = state.config.max_body_bytes;
    api.route(
        "/api/openapi.json",
        get(move || {
            let doc = Arc::clone(&openapi);
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .method_not_allowed_fallback(routes::method_not_allowed)
    .fallback(routes::not_found)
    .with_state(state)
    .layer(DefaultBodyLimit::max(max_body))
    .layer(tower_http::catch_panic::CatchPanicLayer::custom(
        |_: Box<dyn std::any::Any + Send>| {
            ApiError::Internal("a request handler panicked".to_string()).into_response()
        },
    ))
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
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    db.close().await;
    Ok(())
}
