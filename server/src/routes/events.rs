use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use rigel_common::error::ErrorBody;
use rigel_common::event::EventFilter;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Access, Rule};
use crate::error::{ApiError, ApiResult};
use crate::events::Subscription;
use crate::extract::PeerAddr;
use crate::slots::{Full, Slot};
use crate::AppState;

/// Who may call each route of this module (see `crate::auth`).
pub const ACCESS: &[Rule] = &[Rule::new("GET", "/events", Access::Read)];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// Filters of `GET /api/events`; every one given narrows the stream.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Comma-separated kinds or dotted prefixes, e.g. `flow_run.state,deployment` (default: all).
    /// Kinds: flow_run.state, deployment.created|updated|deleted, work_queue.created|updated|deleted,
    /// agent.heartbeat, agent.status, log.
    kinds: Option<String>,
    /// Only events about this run; also turns on its `log` events.
    flow_run_id: Option<String>,
    /// Only events about this deployment and its runs.
    deployment_id: Option<String>,
}

/// Server-sent events: run state changes, deployment, work-queue and agent changes, and the log
/// records of a followed run. Each event's `id:` is monotonic, `event:` its kind and `data:` a
/// JSON payload. The first event is `ready`, or `reset` when `Last-Event-ID` is older than what
/// the server still holds (refetch, then follow). A reconnect with `Last-Event-ID` first gets
/// the events it missed. A subscriber that falls too far behind gets `reset` and is
/// disconnected. Idle streams carry a keep-alive comment every 15 s.
#[utoipa::path(get, path = "/events", tag = "events",
    params(EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header,
            description = "Resume after this event id (sent by SSE clients on reconnect).")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "A stream of `id:`/`event:`/`data:` records"),
        (status = 422, body = ErrorBody)))]
async fn events(
    State(s): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let filter = EventFilter::parse(
        q.kinds.as_deref(),
        q.flow_run_id.as_deref(),
        q.deployment_id.as_deref(),
    )?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid("Last-Event-ID", "must be an event id (a number)")
                })?,
        ),
    };
    let slot = s.events.streams.take(peer).map_err(|full| {
        let message = match full {
            Full::Server(n) => format!("the server has {n} event streams open, its most"),
            Full::Client(n) => format!("this address has {n} event streams open, its most"),
        };
        ApiError::Unavailable {
            message: format!("{message}; close one or try again later"),
            problems: Vec::new(),
        }
    })?;
    // subscribe before answering, so `ready` means nothing from here on is missed
    let subscription = s.events.subscribe(filter, last_event_id);
    let keep_alive = KeepAlive::new().interval(s.events.config().keep_alive);
    let mut response = Sse::new(stream(subscription, s.shutdown.clone(), slot))
        .keep_alive(keep_alive)
        .into_response();
    // tells reverse proxies (nginx) not to buffer the stream
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The subscription as SSE records; ends when the subscriber is dropped or the server stops.
fn stream(
    subscription: Subscription,
    shutdown: CancellationToken,
    slot: Slot,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let held = (subscription, shutdown, slot);
    futures_util::stream::unfold(held, |(mut sub, shutdown, slot)| async move {
        let event = tokio::select! {
            e = sub.next() => e?,
            () = shutdown.cancelled() => return None,
        };
        let sse = SseEvent::default()
            .id(event.id.to_string())
            .event(event.kind.as_str())
            .data(&event.data);
        Some((Ok(sse), (sub, shutdown, slot)))
    })
}
