//! What `GET /api/metrics` reports, kept as the server works: requests by route and status with
//! their latency, claims, and (in the writer's own [`crate::db::writer::Stats`]) write batches.
//! Gauges that describe the database (runs by state, queue depth) are read when scraped
//! (`routes/metrics.rs`).
//!
//! Written by hand rather than with a metrics crate: the Prometheus text format is a few lines,
//! and recording stays lock-free on the hot path (a read lock and atomics per request).

pub mod histogram;
pub mod text;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};

pub use histogram::Histogram;

/// The route label of requests no route matched: one label, so unknown paths can't grow the
/// set of series without bound.
const UNMATCHED: &str = "unmatched";

/// A route's stats per method label.
type ByMethod = Vec<(&'static str, Arc<RouteStats>)>;

#[derive(Debug)]
pub struct Metrics {
    /// Per route path, its stats per method.
    routes: RwLock<HashMap<String, ByMethod>>,
    /// How long a claim attempt takes (the write, and reading the runs' deployments).
    pub claim_seconds: Histogram,
    /// Runs handed to agents.
    pub claimed_runs: AtomicU64,
    pub started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            routes: RwLock::default(),
            claim_seconds: Histogram::seconds(),
            claimed_runs: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

#[derive(Debug)]
pub struct RouteStats {
    /// Answers by status code (a handful per route).
    statuses: Mutex<Vec<(u16, u64)>>,
    /// Time to the answer's head (a stream's body, an event stream, is not counted).
    pub seconds: Histogram,
}

impl Default for RouteStats {
    fn default() -> Self {
        Self {
            statuses: Mutex::default(),
            seconds: Histogram::seconds(),
        }
    }
}

/// One route's figures, for rendering.
pub struct RouteSnapshot {
    pub route: String,
    pub method: &'static str,
    pub statuses: Vec<(u16, u64)>,
    pub seconds: histogram::Snapshot,
}

/// The method as a label, from a fixed set (any other method is `other`).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    fn route(&self, path: &str, method: &'static str) -> Arc<RouteStats> {
        let found = {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            routes
                .get(path)
                .and_then(|ms| ms.iter().find(|(m, _)| *m == method))
                .map(|(_, s)| Arc::clone(s))
        };
        if let Some(stats) = found {
            return stats;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let methods = routes.entry(path.to_string()).or_default();
        if let Some((_, s)) = methods.iter().find(|(m, _)| *m == method) {
            return Arc::clone(s);
        }
        let stats = Arc::new(RouteStats::default());
        methods.push((method, Arc::clone(&stats)));
        stats
    }

    /// Counts one answer of `route` (a matched route's template, or `None`).
    pub fn record(&self, route: Option<&str>, method: &'static str, status: u16, took: Duration) {
        let stats = self.route(route.unwrap_or(UNMATCHED), method);
        stats.seconds.observe_duration(took);
        let mut statuses = stats.statuses.lock().unwrap_or_else(|e| e.into_inner());
        match statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => statuses.push((status, 1)),
        }
    }

    pub fn record_claim(&self, took: Duration, runs: usize) {
        self.claim_seconds.observe_duration(took);
        self.claimed_runs.fetch_add(runs as u64, Ordering::Relaxed);
    }

    /// Every route seen so far, sorted by route then method.
    pub fn routes(&self) -> Vec<RouteSnapshot> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<RouteSnapshot> = routes
            .iter()
            .flat_map(|(route, methods)| {
                methods.iter().map(move |(method, stats)| {
                    let mut statuses = stats
                        .statuses
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    statuses.sort_unstable();
                    RouteSnapshot {
                        route: route.clone(),
                        method,
                        statuses,
                        seconds: stats.seconds.snapshot(),
                    }
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.route, a.method).cmp(&(&b.route, b.method)));
        out
    }
}

/// Counts every answer by route, method and status, with its latency. Added with
/// `Router::layer`, which wraps each route after routing, so the route is the matched template
/// (`/api/flow_runs/{id}`), never the raw path. A layer of its own rather than `from_fn`: it is
/// on every request's path, and its future is a plain struct (no boxing, no service clone).
#[derive(Debug, Clone)]
pub struct CountLayer(pub Arc<Metrics>);

impl<S> Layer<S> for CountLayer {
    type Service = Count<S>;

    fn layer(&self, inner: S) -> Count<S> {
        Count {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Count<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Count<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Counting<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        Counting {
            method: method_label(request.method()),
            answer: self.inner.call(request),
            metrics: Arc::clone(&self.metrics),
            route,
            began: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner answer; counted when it is ready.
    pub struct Counting<F> {
        #[pin]
        answer: F,
        metrics: Arc<Metrics>,
        route: Option<MatchedPath>,
        method: &'static str,
        began: Instant,
    }
}

impl<F, E> Future for Counting<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.answer.poll(cx));
        if let Ok(response) = &out {
            this.metrics.record(
                this.route.as_ref().map(MatchedPath::as_str),
                this.method,
                response.status().as_u16(),
                this.began.elapsed(),
            );
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_per_route_method_and_status() {
        let m = Metrics::default();
        let ms = Duration::from_millis(1);
        let brew = method_label(&Method::from_bytes(b"BREW").unwrap());
        m.record(Some("/api/flows/{id}"), "GET", 200, ms);
        m.record(Some("/api/flows/{id}"), "GET", 200, ms);
        m.record(Some("/api/flows/{id}"), "GET", 404, ms);
        m.record(Some("/api/flows/{id}"), "DELETE", 204, ms);
        m.record(None, brew, 404, ms);
        let routes = m.routes();
        let seen: Vec<String> = routes
            .iter()
            .map(|r| format!("{} {} {:?}", r.method, r.route, r.statuses))
            .collect();
        assert_eq!(
            seen,
            [
                "DELETE /api/flows/{id} [(204, 1)]",
                "GET /api/flows/{id} [(200, 2), (404, 1)]",
                "other unmatched [(404, 1)]",
            ]
        );
        assert_eq!(routes[1].seconds.count, 3);
    }
}
