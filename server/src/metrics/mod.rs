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

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

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
fn method_label(method: &Method) -> &'static str {
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
    pub fn record(
        &self,
        route: Option<&str>,
        method: &Method,
        status: u16,
        took: std::time::Duration,
    ) {
        let stats = self.route(route.unwrap_or(UNMATCHED), method_label(method));
        stats.seconds.observe_duration(took);
        let mut statuses = stats.statuses.lock().unwrap_or_else(|e| e.into_inner());
        match statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => statuses.push((status, 1)),
        }
    }

    pub fn record_claim(&self, took: std::time::Duration, runs: usize) {
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

/// Middleware: counts every answer by route, method and status, with its latency. Runs after
/// routing (it is added with `Router::layer`), so the route is the matched template
/// (`/api/flow_runs/{id}`), never the raw path.
pub async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let began = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.record(
        route.as_ref().map(MatchedPath::as_str),
        &method,
        response.status().as_u16(),
        began.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn answers_are_counted_per_route_method_and_status() {
        let m = Metrics::default();
        let ms = Duration::from_millis(1);
        m.record(Some("/api/flows/{id}"), &Method::GET, 200, ms);
        m.record(Some("/api/flows/{id}"), &Method::GET, 200, ms);
        m.record(Some("/api/flows/{id}"), &Method::GET, 404, ms);
        m.record(Some("/api/flows/{id}"), &Method::DELETE, 204, ms);
        m.record(None, &Method::from_bytes(b"BREW").unwrap(), 404, ms);
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
