//! `GET /api/metrics`: the server's figures in the Prometheus text format, for a scraper.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rigel_common::error::ErrorBody;
use rigel_common::state::StateType;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Access, Rule};
use crate::db::agents::Liveness;
use crate::db::metrics::{agents_by_status, runs_by_state};
use crate::db::work_queues;
use crate::error::ApiResult;
use crate::metrics::text::{Text, CONTENT_TYPE};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[Rule::new("GET", "/metrics", Access::Read)];

/// Work queues whose backlog is reported (the first by name): each costs two counts per scrape.
pub const MAX_QUEUES: u32 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The server's metrics in the Prometheus text format (0.0.4): requests by route and status and
/// their latency, flow runs by state, each work queue's due and active runs, agents by status,
/// claims, the database writer's queue and batches, and event streams.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition format",
            content_type = "text/plain", body = String),
        (status = 400, body = ErrorBody)))]
async fn metrics(State(s): State<AppState>) -> ApiResult<Response> {
    let mut t = Text::default();
    let m = &s.metrics;

    t.family("rigel_build_info", "gauge", "The server's version.");
    t.sample("rigel_build_info", &[("version", rigel_common::VERSION)], 1);
    t.family(
        "rigel_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    );
    t.sample(
        "rigel_uptime_seconds",
        &[],
        m.started.elapsed().as_secs_f64(),
    );

    let routes = m.routes();
    t.family(
        "rigel_http_requests_total",
        "counter",
        "Answered requests by method, route template and status code.",
    );
    for r in &routes {
        for (code, n) in &r.statuses {
            let code = code.to_string();
            let labels = [("method", r.method), ("route", &r.route), ("code", &code)];
            t.sample("rigel_http_requests_total", &labels, n);
        }
    }
    t.family(
        "rigel_http_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to its answer's head (an event stream's body is not counted).",
    );
    for r in &routes {
        let labels = [("method", r.method), ("route", r.route.as_str())];
        t.histogram("rigel_http_request_duration_seconds", &labels, &r.seconds);
    }
    t.family(
        "rigel_requests_in_progress",
        "gauge",
        "Requests being answered now (event streams once their head is sent are not counted).",
    );
    t.sample(
        "rigel_requests_in_progress",
        &[],
        s.limits.requests_in_progress(),
    );
    t.family(
        "rigel_event_streams",
        "gauge",
        "Open GET /api/events streams.",
    );
    t.sample("rigel_event_streams", &[], s.events.streams.held());

    let by_state = runs_by_state(&s.db).await?;
    t.family("rigel_flow_runs", "gauge", "Flow runs by state type.");
    for state in StateType::ALL {
        let n = by_state
            .iter()
            .find(|(name, _)| name == state.as_str())
            .map_or(0, |(_, n)| *n);
        t.sample("rigel_flow_runs", &[("state", state.as_str())], n);
    }

    let depths = work_queues::depths(&s.db, s.now(), MAX_QUEUES).await?;
    t.family(
        "rigel_work_queue_due_runs",
        "gauge",
        "Scheduled runs a work queue offers that are due: waiting for an agent.",
    );
    for q in &depths {
        t.sample("rigel_work_queue_due_runs", &[("queue", &q.name)], q.due);
    }
    t.family(
        "rigel_work_queue_active_runs",
        "gauge",
        "A work queue's runs held by agents (Pending, Running, Cancelling).",
    );
    for q in &depths {
        t.sample(
            "rigel_work_queue_active_runs",
            &[("queue", &q.name)],
            q.active,
        );
    }

    let agents = agents_by_status(&s.db, &Liveness::from_config(&s.config)).await?;
    t.family("rigel_agents", "gauge", "Registered agents by status.");
    for (status, n) in agents {
        t.sample("rigel_agents", &[("status", status.as_str())], n);
    }

    t.family(
        "rigel_claim_duration_seconds",
        "histogram",
        "Time a claim attempt takes (the write and reading the runs' deployments), without waiting.",
    );
    t.histogram(
        "rigel_claim_duration_seconds",
        &[],
        &m.claim_seconds.snapshot(),
    );
    t.family(
        "rigel_claimed_runs_total",
        "counter",
        "Runs handed to agents by claims.",
    );
    t.sample(
        "rigel_claimed_runs_total",
        &[],
        m.claimed_runs.load(std::sync::atomic::Ordering::Relaxed),
    );

    let writer = s.db.writer.stats();
    t.family(
        "rigel_writer_queued_jobs",
        "gauge",
        "Write jobs waiting for the database writer.",
    );
    t.sample("rigel_writer_queued_jobs", &[], s.db.writer.queued());
    t.family(
        "rigel_writer_busy_seconds",
        "gauge",
        "How long the writer's batch in progress has run (0 when idle).",
    );
    t.sample(
        "rigel_writer_busy_seconds",
        &[],
        writer.busy_for().unwrap_or_default().as_secs_f64(),
    );
    t.family(
        "rigel_writer_batches_total",
        "counter",
        "Write transactions committed.",
    );
    t.sample(
        "rigel_writer_batches_total",
        &[],
        writer.batches.load(std::sync::atomic::Ordering::Relaxed),
    );
    t.family(
        "rigel_writer_batch_jobs",
        "histogram",
        "Jobs per write batch (one transaction).",
    );
    t.histogram(
        "rigel_writer_batch_jobs",
        &[],
        &writer.batch_jobs.snapshot(),
    );
    t.family(
        "rigel_writer_queue_wait_seconds",
        "histogram",
        "How long write jobs waited for their batch to begin.",
    );
    t.histogram(
        "rigel_writer_queue_wait_seconds",
        &[],
        &writer.queue_wait.snapshot(),
    );

    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], t.finish()).into_response())
}
