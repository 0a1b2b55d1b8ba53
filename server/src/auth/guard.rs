//! The layer that checks every routed request's key against its route's [`Access`].

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, Either};
use rigel_common::api_key::Role;
use rigel_common::error::{ErrorBody, ErrorCode};
use rigel_common::flow_data::FlowData;
use tower::{Layer, Service};
use uuid::Uuid;

use super::access::{Access, AccessTable};
use super::keys::Entry;
use super::run_token::{self, Presented};
use super::{Caller, RunScope};
use crate::db::flow_runs::parse_state_type;
use crate::db::from_micros;
use crate::error::ApiError;
use crate::AppState;

/// What the guard needs besides the route: the keys, the mode, the clock, the database.
#[derive(Clone)]
pub struct AuthLayer {
    table: Arc<AccessTable>,
    state: AppState,
}

impl AuthLayer {
    pub fn new(table: AccessTable, state: AppState) -> Self {
        Self {
            table: Arc::new(table),
            state,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthGuard<S>;

    fn layer(&self, inner: S) -> AuthGuard<S> {
        AuthGuard {
            inner,
            table: Arc::clone(&self.table),
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthGuard<S> {
    inner: S,
    table: Arc<AccessTable>,
    state: AppState,
}

/// The outcome of checking a request without waiting for anything.
enum Check {
    Pass,
    Answer(Response),
    /// A key the ring does not hold: maybe written since the ring was read.
    Unknown(String),
    /// A run's token: checked against its run's row.
    RunToken(String),
}

type Answer = Ready<Result<Response, Infallible>>;

impl<S> Service<Request> for AuthGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<Answer, Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> <Self as Service<Request>>::Future {
        let access = req
            .extensions()
            .get::<MatchedPath>()
            .and_then(|p| self.table.get(req.method().as_str(), p.as_str()))
            // a route nobody declared is admin's only (and the role-matrix test fails)
            .unwrap_or(Access::Admin);
        match check(&self.state, &mut req, access) {
            Check::Pass => Either::Right(Either::Left(self.inner.call(req))),
            Check::Answer(r) => Either::Left(ready(Ok(r))),
            Check::RunToken(token) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let state = self.state.clone();
                Either::Right(Either::Right(Box::pin(async move {
                    let route = RouteOf::of(&req);
                    match run_caller(&state, &route, access, &token).await {
                        Ok(caller) => {
                            req.extensions_mut().insert(caller);
                            inner.call(req).await
                        }
                        Err(refusal) => Ok(refusal),
                    }
                })))
            }
            Check::Unknown(key) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let state = self.state.clone();
                Either::Right(Either::Right(Box::pin(async move {
                    let auth = &state.auth;
                    // a key written to the database since the ring was read (`--offline`)
                    if let Err(e) = auth.ring.refresh(&state.db).await {
                        return Ok(e.into_response());
                    }
                    if let Some(entry) = auth.ring.find(&key) {
                        return match admit(&state, &mut req, access, &entry) {
                            None => inner.call(req).await,
                            Some(refusal) => Ok(refusal),
                        };
                    }
                    if let Some(ip) = peer(&req) {
                        auth.throttle.failed(ip, Instant::now());
                    }
                    Ok(unauthorized(
                        "the API key is not known to this server (mistyped, revoked, or for \
                         another server)",
                    ))
                })))
            }
        }
    }
}

fn check(state: &AppState, req: &mut Request, access: Access) -> Check {
    if access == Access::Public {
        return Check::Pass;
    }
    if !state.auth.enforced() {
        req.extensions_mut().insert(Caller::open());
        return Check::Pass;
    }
    if let Some(ip) = peer(req) {
        if let Some(wait) = state.auth.throttle.wait(ip, Instant::now()) {
            return Check::Answer(too_many(wait.as_secs().max(1)));
        }
    }
    let Some(key) = bearer(req) else {
        return Check::Answer(unauthorized(
            "this server requires an API key: send `Authorization: Bearer <key>` (the CLI, \
             agent and TUI send RIGEL_API_KEY); an admin creates keys with `rigel api-key create`",
        ));
    };
    if key.starts_with(run_token::PREFIX) {
        return Check::RunToken(key);
    }
    match state.auth.ring.find(&key) {
        Some(entry) => match admit(state, req, access, &entry) {
            None => Check::Pass,
            Some(refusal) => Check::Answer(refusal),
        },
        None => Check::Unknown(key),
    }
}

/// Lets a known key through when it is valid and its role is admitted; the refusal otherwise.
fn admit(
    state: &AppState,
    req: &mut Request,
    access: Access,
    entry: &Arc<Entry>,
) -> Option<Response> {
    let now = state.now();
    let key = &entry.key;
    if entry.expired(now) {
        let when = key.expires.map(|e| e.to_rfc3339()).unwrap_or_default();
        return Some(unauthorized(&format!(
            "the API key '{}' expired at {when}; ask an admin for a new one",
            key.name
        )));
    }
    if !access.admits(key.role) {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        return Some(
            ApiError::Forbidden(format!(
                "{} {route} needs the role {}; the key '{}' has the {} role",
                req.method(),
                access.describe(),
                key.name,
                key.role
            ))
            .into_response(),
        );
    }
    if entry.claim_touch(now) {
        let db = state.db.clone();
        let id = key.id;
        tokio::spawn(async move {
            if let Err(e) = crate::db::api_keys::touch(&db, id, now).await {
                tracing::warn!(error = %e, "could not record an API key's last use");
            }
        });
    }
    req.extensions_mut().insert(Caller {
        key: Some((key.id, Arc::from(key.name.as_str()))),
        role: key.role,
        queues: Arc::from(key.queues.clone()),
        run: None,
    });
    None
}

/// What a check that waits needs of its request (a request can't be held across an await).
struct RouteOf {
    method: axum::http::Method,
    /// The route's path (`/api/flow_runs/{id}`), empty when unrouted.
    template: String,
    path: String,
    peer: Option<IpAddr>,
}

impl RouteOf {
    fn of(req: &Request) -> Self {
        Self {
            method: req.method().clone(),
            template: req
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            path: req.uri().path().to_string(),
            peer: peer(req),
        }
    }
}

/// The caller of a run token: valid for its run while the run is held with the claim the token
/// was made for, and until [`run_token::AFTER_END`] after the run ended; only on the routes an
/// engine uses, and only for its own run, deployment and code.
async fn run_caller(
    state: &AppState,
    req: &RouteOf,
    access: Access,
    token: &str,
) -> Result<Caller, Response> {
    let refuse = |why: &str| {
        if let Some(ip) = req.peer {
            state.auth.throttle.failed(ip, Instant::now());
        }
        unauthorized(&format!("the run token is not valid: {why}"))
    };
    let Some(presented) = Presented::parse(token) else {
        return Err(refuse("it is malformed"));
    };
    let row = crate::db::holdings::run_token_facts(&state.db, presented.run)
        .await
        .map_err(IntoResponse::into_response)?;
    let Some((claim, kind, at, deployment, flow_data)) = row else {
        return Err(refuse("its flow run does not exist"));
    };
    if !claim.is_some_and(|c| state.auth.run_tokens.verify(&presented, c)) {
        return Err(refuse(
            "its flow run is no longer held with the claim it was made for",
        ));
    }
    let ended = parse_state_type(&kind)
        .map_err(IntoResponse::into_response)?
        .is_terminal();
    if ended && from_micros(at) + run_token::AFTER_END < state.now() {
        return Err(refuse("its flow run has ended"));
    }
    let code = flow_data
        .and_then(|text| serde_json::from_str::<FlowData>(&text).ok())
        .and_then(|f| f.validate().ok().flatten())
        .map(|r| (r.block_id, r.data));
    let scope = RunScope {
        run: presented.run,
        deployment,
        code,
    };
    if !access.admits(Role::Agent) || !run_route_allowed(req, &scope) {
        return Err(ApiError::Forbidden(format!(
            "a run token may not be used for {} {}: it serves its own run's reports and reads \
             only",
            req.method, req.template
        ))
        .into_response());
    }
    Ok(Caller {
        key: Some((Uuid::nil(), Arc::from(format!("run {}", scope.run)))),
        role: Role::Agent,
        queues: Arc::from(Vec::new()),
        run: Some(Arc::new(scope)),
    })
}

/// The routes an engine and its flow use, each limited to the run's own objects (routes whose
/// body names the run check it in their handler).
fn run_route_allowed(req: &RouteOf, scope: &RunScope) -> bool {
    let template = req.template.as_str();
    let path = req.path.as_str();
    // the path's segment where the route has `{name}`
    let segment = |name: &str| {
        let at = template.split('/').position(|s| s == name)?;
        path.split('/').nth(at)
    };
    let id = segment("{id}").and_then(|s| Uuid::try_parse(s).ok());
    match (req.method.as_str(), template) {
        ("GET", "/api/flow_runs/{id}" | "/api/flow_runs/{id}/states")
        | ("POST", "/api/flow_runs/{id}/set_state" | "/api/flow_runs/{id}/heartbeat") => {
            id == Some(scope.run)
        }
        ("POST", "/api/flow_runs/set_states" | "/api/logs/" | "/api/task_runs/")
        | ("POST", "/api/task_runs/{id}/set_state")
        | ("GET", "/api/me") => true,
        ("GET", "/api/deployments/{id}") => id.is_some() && id == scope.deployment,
        ("GET", "/api/blocks/{id}") => id.is_some() && scope.code.as_ref().map(|c| c.0) == id,
        ("GET", "/api/blocks/{id}/data/{key}") => match (&scope.code, id, segment("{key}")) {
            (Some((block, key)), Some(id), Some(k)) => *block == id && key == k,
            _ => false,
        },
        _ => false,
    }
}

fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
        .filter(|k| !k.is_empty())
}

fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn unauthorized(message: &str) -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        axum::Json(ErrorBody::new(ErrorCode::Unauthorized, message)),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"rigel\""),
    );
    r
}

fn too_many(retry_after: u64) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(ErrorBody::new(
            ErrorCode::TooManyRequests,
            format!("too many unknown API keys from this address; try again in {retry_after} s"),
        )),
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    r
}
