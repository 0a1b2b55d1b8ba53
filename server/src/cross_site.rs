//! Keeps web pages from driving the API. A browser lets any page send a "simple" request (a
//! `POST` with `text/plain`, no preflight) to any address, loopback included, and a page behind a
//! name that its owner re-points at 127.0.0.1 (DNS rebinding) is even same-origin. Rigel's API is
//! for programs, not pages, so:
//!
//! * a request carrying an `Origin` that is not an allowed origin (`--allowed-origin`) is 403;
//!   allowed origins get CORS answers (preflights included) so a dashboard there can work;
//! * a request whose `Host` is a name — not an IP literal, not `localhost`, not one of the
//!   server's names (`--server-name`) — is 403: a rebound name is refused before it reaches a route;
//! * JSON bodies must say `Content-Type: application/json` (checked by [`crate::extract::ApiJson`]).
//!
//! Programs (the CLI, agents, `curl`, scripts) send no `Origin` and use the address they were
//! given, so none of this is in their way.

use std::net::IpAddr;
use std::sync::Arc;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, Either};
use tower::{Layer, Service};

use crate::error::ApiError;

/// Which origins and host names the server accepts besides programs and IP addresses.
#[derive(Debug, Clone, Default)]
pub struct SitePolicy {
    /// Origins (`https://dash.example.com`) whose pages may call the API, compared without case
    /// and without a trailing `/`.
    pub allowed_origins: Vec<String>,
    /// Host names the server is reached by (`rigel.example.com`), besides `localhost` and IP
    /// addresses.
    pub server_names: Vec<String>,
}

impl SitePolicy {
    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = normal_origin(origin);
        self.allowed_origins
            .iter()
            .any(|o| normal_origin(o) == origin)
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self
                .server_names
                .iter()
                .any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name))
    }
}

fn normal_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The name part of a `Host` header: without the port, an IPv6 literal without its brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The layer guarding every route with a [`SitePolicy`]. A hand-written service rather than
/// `middleware::from_fn`: the common request (no `Origin`, an allowed host) goes straight to the
/// router without boxing a future, which on run creation cost ~10% of the server's CPU per run.
#[derive(Debug, Clone)]
pub struct SiteGuardLayer {
    policy: Arc<SitePolicy>,
}

impl SiteGuardLayer {
    pub fn new(policy: SitePolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl<S> Layer<S> for SiteGuardLayer {
    type Service = SiteGuard<S>;

    fn layer(&self, inner: S) -> SiteGuard<S> {
        SiteGuard {
            inner,
            policy: Arc::clone(&self.policy),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SiteGuard<S> {
    inner: S,
    policy: Arc<SitePolicy>,
}

type Answer = Ready<Result<Response, Infallible>>;

impl<S> Service<Request> for SiteGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<Answer, Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> <Self as Service<Request>>::Future {
        let answer = |r: Response| Either::Left(ready(Ok(r)));
        if let Some(host) = req.headers().get(header::HOST) {
            let host = host.to_str().unwrap_or("");
            if !self.policy.host_allowed(host) {
                let name = host_name(host);
                return answer(
                    ApiError::Forbidden(format!(
                        "this server does not answer to the name '{name}' (a guard against DNS \
                         rebinding); use its IP address or localhost, or start it with \
                         --server-name {name}"
                    ))
                    .into_response(),
                );
            }
        }
        let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
            return Either::Right(Either::Left(self.inner.call(req)));
        };
        let text = origin.to_str().unwrap_or("");
        if !self.policy.origin_allowed(text) {
            return answer(
                ApiError::Forbidden(format!(
                    "cross-site request refused: pages from origin '{text}' may not use this \
                     API (start the server with --allowed-origin {text} to allow them)"
                ))
                .into_response(),
            );
        }
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            return answer(with_cors(preflight_answer(), origin));
        }
        let inner = self.inner.call(req);
        Either::Right(Either::Right(Box::pin(async move {
            let response = inner.await?;
            Ok(with_cors(response, origin))
        })))
    }
}

fn preflight_answer() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

fn with_cors(mut response: Response, origin: HeaderValue) -> Response {
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let policy = SitePolicy {
            allowed_origins: vec!["https://Dash.example.com/".into()],
            server_names: vec!["rigel.example.com".into()],
        };
        for ok in [
            "127.0.0.1:4200",
            "[::1]:4200",
            "10.1.2.3",
            "localhost:4200",
            "LOCALHOST",
            "app.localhost:80",
            "rigel.example.com:4200",
            "rigel.example.com.",
        ] {
            assert!(policy.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example.com",
            "127.0.0.1.nip.io:4200",
            "localhost.evil.com",
            "",
        ] {
            assert!(!policy.host_allowed(refused), "{refused}");
        }
        assert!(policy.origin_allowed("https://dash.example.com"));
        assert!(!policy.origin_allowed("https://evil.example.com"));
        assert!(!policy.origin_allowed("null"));
    }
}
