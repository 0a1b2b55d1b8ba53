//! The live event stream, `GET /api/events` (server-sent events): kinds, payloads and the filter.
//!
//! Every event has a monotonic `id` (the SSE `id:` line), a kind (the `event:` line) and a JSON
//! payload (the `data:` line). The first event of every connection is `ready` (the stream goes
//! on from its id, after replaying what a reconnecting client missed) or `reset` (what was missed
//! is gone: refetch, then follow from its id). A client too slow to keep up also gets `reset`,
//! and then its stream ends.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::Agent;
use crate::deployment::Deployment;
use crate::flow_run::FlowRun;
use crate::state::State;
use crate::validation::FieldError;
use crate::work_queue::WorkQueue;

/// What an event is about; written `flow_run.state`, `deployment.created`, … on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A run was created or its state changed: [`FlowRunStateEvent`].
    #[serde(rename = "flow_run.state")]
    FlowRunState,
    /// [`DeploymentEvent`] with the deployment.
    #[serde(rename = "deployment.created")]
    DeploymentCreated,
    /// Changed, paused or resumed: [`DeploymentEvent`] with the deployment.
    #[serde(rename = "deployment.updated")]
    DeploymentUpdated,
    /// [`DeploymentEvent`] without the deployment.
    #[serde(rename = "deployment.deleted")]
    DeploymentDeleted,
    /// [`WorkQueueEvent`] with the queue.
    #[serde(rename = "work_queue.created")]
    WorkQueueCreated,
    /// [`WorkQueueEvent`] with the queue.
    #[serde(rename = "work_queue.updated")]
    WorkQueueUpdated,
    /// [`WorkQueueEvent`] without the queue.
    #[serde(rename = "work_queue.deleted")]
    WorkQueueDeleted,
    /// [`AgentEvent`]: the agent is alive.
    #[serde(rename = "agent.heartbeat")]
    AgentHeartbeat,
    /// [`AgentEvent`]: registered or deregistered.
    #[serde(rename = "agent.status")]
    AgentStatus,
    /// [`LogEvent`]: records of the followed run (only with a `flow_run_id` filter).
    #[serde(rename = "log")]
    Log,
    /// [`ReadyEvent`]: first event of a connection; the stream goes on from its id.
    #[serde(rename = "ready")]
    Ready,
    /// [`ResetEvent`]: events were missed; refetch what you show, then follow from its id.
    #[serde(rename = "reset")]
    Reset,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::FlowRunState,
        EventKind::DeploymentCreated,
        EventKind::DeploymentUpdated,
        EventKind::DeploymentDeleted,
        EventKind::WorkQueueCreated,
        EventKind::WorkQueueUpdated,
        EventKind::WorkQueueDeleted,
        EventKind::AgentHeartbeat,
        EventKind::AgentStatus,
        EventKind::Log,
        EventKind::Ready,
        EventKind::Reset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FlowRunState => "flow_run.state",
            EventKind::DeploymentCreated => "deployment.created",
            EventKind::DeploymentUpdated => "deployment.updated",
            EventKind::DeploymentDeleted => "deployment.deleted",
            EventKind::WorkQueueCreated => "work_queue.created",
            EventKind::WorkQueueUpdated => "work_queue.updated",
            EventKind::WorkQueueDeleted => "work_queue.deleted",
            EventKind::AgentHeartbeat => "agent.heartbeat",
            EventKind::AgentStatus => "agent.status",
            EventKind::Log => "log",
            EventKind::Ready => "ready",
            EventKind::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// `ready` and `reset` belong to the connection: every subscriber gets them, whatever its filter.
    pub fn is_control(self) -> bool {
        matches!(self, EventKind::Ready | EventKind::Reset)
    }

    /// Whether the `kinds` filter item `pattern` selects this kind: the whole name, or a prefix
    /// ending at a dot (`flow_run` selects `flow_run.state`, `deployment` all three deployment kinds).
    pub fn selected_by(self, pattern: &str) -> bool {
        let name = self.as_str();
        name == pattern
            || name
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.'))
            || (pattern.ends_with('.') && name.starts_with(pattern))
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The query of `GET /api/events`. Every filter given narrows the stream: an event must satisfy
/// all of them (`ready` and `reset` always come through).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Kind names or dotted prefixes (`flow_run`, `deployment.updated`); empty means every kind.
    pub kinds: Vec<String>,
    /// Only events about this run: its state changes and (only with this filter) its log records.
    pub flow_run_id: Option<Uuid>,
    /// Only events about this deployment and the state changes of its runs.
    pub deployment_id: Option<Uuid>,
}

impl EventFilter {
    /// Every event about one run: its state changes and its logs.
    pub fn flow_run(id: Uuid) -> Self {
        Self {
            flow_run_id: Some(id),
            ..Default::default()
        }
    }

    /// Keeps only these kinds (names or dotted prefixes).
    pub fn with_kinds<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Parses the query's values; errors name the parameter.
    pub fn parse(
        kinds: Option<&str>,
        flow_run_id: Option<&str>,
        deployment_id: Option<&str>,
    ) -> Result<Self, FieldError> {
        let uuid = |field: &str, v: Option<&str>| {
            v.map(|v| {
                v.trim()
                    .parse::<Uuid>()
                    .map_err(|_| FieldError::new(field, format!("'{v}' is not a UUID")))
            })
            .transpose()
        };
        let filter = Self {
            kinds: kinds
                .map(|k| k.split(',').map(|p| p.trim().to_string()).collect())
                .unwrap_or_default(),
            flow_run_id: uuid("flow_run_id", flow_run_id)?,
            deployment_id: uuid("deployment_id", deployment_id)?,
        };
        filter.validate()?;
        Ok(filter)
    }

    /// Every `kinds` item must select some kind; `log` events need a `flow_run_id`.
    pub fn validate(&self) -> Result<(), FieldError> {
        for k in &self.kinds {
            if k.is_empty() {
                return Err(FieldError::new("kinds", "contains an empty kind"));
            }
            if !EventKind::ALL.iter().any(|kind| kind.selected_by(k)) {
                let all: Vec<&str> = EventKind::ALL
                    .iter()
                    .filter(|k| !k.is_control())
                    .map(|k| k.as_str())
                    .collect();
                return Err(FieldError::new(
                    "kinds",
                    format!("unknown event kind '{k}'; kinds are {}", all.join(", ")),
                ));
            }
        }
        if self.flow_run_id.is_none() && self.kinds.iter().any(|k| k == "log") {
            return Err(FieldError::new(
                "kinds",
                "log events are sent only to a subscriber that gives flow_run_id",
            ));
        }
        Ok(())
    }

    /// Whether events of this kind pass the `kinds` filter.
    pub fn wants_kind(&self, kind: EventKind) -> bool {
        kind.is_control() || self.kinds.is_empty() || self.kinds.iter().any(|p| kind.selected_by(p))
    }

    /// Whether this subscriber receives the followed run's log records.
    pub fn follows_logs(&self) -> bool {
        self.flow_run_id.is_some() && self.wants_kind(EventKind::Log)
    }

    /// The URL query (without `?`) that asks for this filter.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if !self.kinds.is_empty() {
            parts.push(format!("kinds={}", encode(&self.kinds.join(","))));
        }
        if let Some(id) = self.flow_run_id {
            parts.push(format!("flow_run_id={id}"));
        }
        if let Some(id) = self.deployment_id {
            parts.push(format!("deployment_id={id}"));
        }
        parts.join("&")
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One event as a client receives it; decode `data` with the typed helpers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    pub kind: EventKind,
    pub data: serde_json::Value,
}

impl Event {
    /// The payload as any type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }

    fn decode_if<T: DeserializeOwned>(&self, kinds: &[EventKind]) -> Option<T> {
        if kinds.contains(&self.kind) {
            self.decode().ok()
        } else {
            None
        }
    }

    /// The payload of a `flow_run.state` event.
    pub fn flow_run_state(&self) -> Option<FlowRunStateEvent> {
        self.decode_if(&[EventKind::FlowRunState])
    }

    /// The payload of a `deployment.*` event.
    pub fn deployment(&self) -> Option<DeploymentEvent> {
        self.decode_if(&[
            EventKind::DeploymentCreated,
            EventKind::DeploymentUpdated,
            EventKind::DeploymentDeleted,
        ])
    }

    /// The payload of a `work_queue.*` event.
    pub fn work_queue(&self) -> Option<WorkQueueEvent> {
        self.decode_if(&[
            EventKind::WorkQueueCreated,
            EventKind::WorkQueueUpdated,
            EventKind::WorkQueueDeleted,
        ])
    }

    /// The payload of an `agent.heartbeat` or `agent.status` event.
    pub fn agent(&self) -> Option<AgentEvent> {
        self.decode_if(&[EventKind::AgentHeartbeat, EventKind::AgentStatus])
    }

    /// The payload of a `log` event.
    pub fn log(&self) -> Option<LogEvent> {
        self.decode_if(&[EventKind::Log])
    }

    /// The payload of a `reset` event.
    pub fn reset(&self) -> Option<ResetEvent> {
        self.decode_if(&[EventKind::Reset])
    }
}

/// `flow_run.state`: a run was created (`new_run`) or moved to `state`. The other fields are the
/// run as it was right after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowRunStateEvent {
    pub flow_run_id: Uuid,
    pub flow_id: Uuid,
    pub deployment_id: Option<Uuid>,
    pub work_queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    /// The run's name, e.g. `brave-heron`.
    pub name: String,
    /// The state this event announces. For one run, state timestamps give the order.
    pub state: State,
    /// The run was just created (with `state` as its first state).
    pub new_run: bool,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub total_run_time: f64,
}

impl FlowRunStateEvent {
    /// The event for `run` having moved to `state`.
    pub fn new(run: &FlowRun, state: &State, new_run: bool) -> Self {
        Self {
            flow_run_id: run.id,
            flow_id: run.flow_id,
            deployment_id: run.deployment_id,
            work_queue_id: run.work_queue_id,
            agent_id: run.agent_id,
            name: run.name.clone(),
            state: state.clone(),
            new_run,
            start_time: run.start_time,
            end_time: run.end_time,
            total_run_time: run.total_run_time,
        }
    }

    /// Brings a copy of the run up to date with this event (unless it already saw a later state).
    pub fn apply_to(&self, run: &mut FlowRun) {
        if run.id != self.flow_run_id || run.state.timestamp > self.state.timestamp {
            return;
        }
        run.state = self.state.clone();
        run.work_queue_id = self.work_queue_id;
        run.agent_id = self.agent_id;
        run.start_time = self.start_time;
        run.end_time = self.end_time;
        run.total_run_time = self.total_run_time;
    }
}

/// `deployment.created|updated|deleted`; `deployment` is absent when it was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentEvent {
    pub deployment_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
}

/// `work_queue.created|updated|deleted`; `work_queue` is absent when it was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkQueueEvent {
    pub work_queue_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_queue: Option<WorkQueue>,
}

/// What happened to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentChange {
    Registered,
    Heartbeat,
    Deregistered,
}

/// `agent.heartbeat` and `agent.status`; `agent` is absent when it deregistered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentEvent {
    pub agent_id: Uuid,
    pub change: AgentChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Agent>,
}

/// One record of a `log` event (the stored record's id is not known when it is published:
/// read `POST /api/logs/filter` with `after_id` when ids matter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRecord {
    pub task_run_id: Option<Uuid>,
    pub level: u8,
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// `log`: a batch of records of one run, in the order they were posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEvent {
    pub flow_run_id: Uuid,
    pub records: Vec<LogRecord>,
}

/// `ready`: the subscription is live; `replayed` missed events follow before live ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadyEvent {
    pub replayed: u64,
}

/// Why a subscriber must refetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// `Last-Event-ID` is older than the events the server still holds.
    TooOld,
    /// `Last-Event-ID` is not from this server process (e.g. it restarted).
    UnknownId,
    /// The subscriber fell too far behind and was dropped; reconnect with this event's id.
    Lagged,
}

/// `reset`: events were missed. Refetch, then follow from this event's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetEvent {
    pub reason: ResetReason,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_serde_and_parse() {
        for k in EventKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("flow_run"), None);
    }

    #[test]
    fn prefixes_select_at_dots_only() {
        assert!(EventKind::FlowRunState.selected_by("flow_run"));
        assert!(EventKind::FlowRunState.selected_by("flow_run.state"));
        assert!(EventKind::DeploymentDeleted.selected_by("deployment"));
        assert!(EventKind::DeploymentDeleted.selected_by("deployment."));
        assert!(!EventKind::DeploymentDeleted.selected_by("deploy"));
        assert!(!EventKind::FlowRunState.selected_by("flow_run.st"));
        assert!(!EventKind::Log.selected_by("lo"));
    }

    #[test]
    fn parse_names_the_bad_parameter() {
        let e = EventFilter::parse(Some("flow_run,nope"), None, None).unwrap_err();
        assert_eq!(e.field, "kinds");
        let e = EventFilter::parse(None, Some("x"), None).unwrap_err();
        assert_eq!(e.field, "flow_run_id");
        let e = EventFilter::parse(None, None, Some("")).unwrap_err();
        assert_eq!(e.field, "deployment_id");
        let e = EventFilter::parse(Some("log"), None, None).unwrap_err();
        assert_eq!(e.field, "kinds");
        let e = EventFilter::parse(Some("flow_run,,log"), None, None).unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
    }

    #[test]
    fn filter_survives_its_query() {
        let id = Uuid::now_v7();
        let f = EventFilter::flow_run(id).with_kinds(["flow_run.state", "log"]);
        let q = f.to_query();
        assert_eq!(q, format!("kinds=flow_run.state,log&flow_run_id={id}"));
        let back = EventFilter::parse(Some("flow_run.state,log"), Some(&id.to_string()), None);
        assert_eq!(back.unwrap(), f);
        assert!(f.follows_logs());
        assert!(!EventFilter::flow_run(id)
            .with_kinds(["flow_run"])
            .follows_logs());
        assert!(f.wants_kind(EventKind::Reset));
        assert!(!f.wants_kind(EventKind::AgentHeartbeat));
    }
}
