//! The event bus behind `GET /api/events`: handlers publish what they changed; subscribers get
//! it live, and a reconnecting subscriber gets what it missed from a bounded in-memory ring.
//!
//! * Ids are monotonic for the life of the process and start at the process's start time in
//!   microseconds, so an id from an earlier server process is always recognised as too old.
//! * Live delivery is a `tokio::sync::broadcast` channel: publishing never waits for anyone. A
//!   subscriber that falls `subscriber_buffer` events behind is dropped with a `reset` event.
//! * Log records only reach subscribers following their run: they travel on a per-run channel
//!   that exists while someone follows the run, and have a ring of their own, so a chatty run
//!   neither fills other subscribers' buffers nor pushes state changes out of the replay ring.
//! * Id assignment, the rings and the sends happen under one mutex (held for microseconds, never
//!   across an await), so every channel carries ids in increasing order and a subscription
//!   taken under the same lock sees each event exactly once: from the ring or live.

mod publish;
mod subscription;
#[cfg(test)]
mod tests;

pub use subscription::Subscription;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rigel_common::agent::Agent;
use rigel_common::deployment::Deployment;
use rigel_common::event::{
    AgentChange, AgentEvent, DeploymentEvent, EventFilter, EventKind, FlowRunStateEvent, LogEvent,
    LogRecord, ReadyEvent, ResetEvent, ResetReason, WorkQueueEvent,
};
use rigel_common::flow_run::FlowRun;
use rigel_common::log::LogCreate;
use rigel_common::state::State;
use rigel_common::work_queue::{ClaimedRun, WorkQueue};
use serde::Serialize;
use tokio::sync::broadcast::{self, error::TryRecvError};
use uuid::Uuid;

/// Sizes of the event stream's buffers.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Most events each replay ring keeps (one ring for logs, one for everything else).
    pub replay_events: usize,
    /// Most payload bytes each replay ring keeps.
    pub replay_bytes: usize,
    /// How far a subscriber may fall behind before it is dropped.
    pub subscriber_buffer: usize,
    /// Interval of the keep-alive comments on an idle stream.
    pub keep_alive: Duration,
    /// Most event streams open at once, and from one client address (503 beyond).
    pub max_streams: usize,
    pub max_streams_per_client: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            replay_events: 10_000,
            replay_bytes: 16 * 1024 * 1024,
            subscriber_buffer: 1024,
            keep_alive: Duration::from_secs(15),
            max_streams: 1000,
            max_streams_per_client: 32,
        }
    }
}

/// An event as stored and sent: its JSON payload is serialised once, at publication.
#[derive(Debug)]
pub struct Published {
    pub id: u64,
    pub kind: EventKind,
    /// The run it is about, for the `flow_run_id` filter.
    pub flow_run_id: Option<Uuid>,
    /// The deployment it is about, for the `deployment_id` filter.
    pub deployment_id: Option<Uuid>,
    pub data: String,
}

impl Published {
    fn matches(&self, filter: &EventFilter) -> bool {
        if self.kind.is_control() {
            return true;
        }
        if !filter.wants_kind(self.kind) {
            return false;
        }
        if filter.flow_run_id.is_some() && self.flow_run_id != filter.flow_run_id {
            return false;
        }
        // log records are routed by run only (their deployment is not looked up)
        self.kind == EventKind::Log
            || filter.deployment_id.is_none()
            || self.deployment_id == filter.deployment_id
    }
}

type Shared = Arc<Published>;

/// The newest events, bounded by count and by payload bytes.
#[derive(Debug)]
struct Ring {
    events: VecDeque<Shared>,
    bytes: usize,
    /// The highest id ever evicted (or the id just before the first one): a subscriber that has
    /// seen at least this far can be replayed exactly.
    floor: u64,
}

impl Ring {
    fn new(floor: u64) -> Self {
        Self {
            events: VecDeque::new(),
            bytes: 0,
            floor,
        }
    }

    fn push(&mut self, event: Shared, max_events: usize, max_bytes: usize) {
        self.bytes += event.data.len();
        self.events.push_back(event);
        while self.events.len() > max_events || self.bytes > max_bytes {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old.data.len();
            self.floor = old.id;
        }
    }

    fn after(&self, id: u64) -> impl Iterator<Item = &Shared> {
        let start = self.events.partition_point(|e| e.id <= id);
        self.events.range(start..)
    }
}

#[derive(Debug)]
struct Inner {
    /// The id of this process's first event.
    first_id: u64,
    next_id: u64,
    main: Ring,
    logs: Ring,
    live: broadcast::Sender<Shared>,
    /// Log channels of the runs someone follows.
    followers: HashMap<Uuid, broadcast::Sender<Shared>>,
}

/// Publishes events and hands out subscriptions. Cheap to publish to; never blocks on readers.
#[derive(Debug)]
pub struct EventBus {
    config: EventsConfig,
    inner: Mutex<Inner>,
    /// The streams open now.
    pub streams: Arc<crate::slots::Slots>,
}

impl EventBus {
    pub fn new(config: EventsConfig) -> Self {
        let start = u64::try_from(chrono::Utc::now().timestamp_micros())
            .unwrap_or(1)
            .max(1);
        Self::starting_at(config, start)
    }

    /// A bus whose first event gets id `first_id` (at least 1).
    pub fn starting_at(config: EventsConfig, first_id: u64) -> Self {
        let first_id = first_id.max(1);
        let live = broadcast::channel(config.subscriber_buffer.max(1)).0;
        let streams = crate::slots::Slots::new(config.max_streams, config.max_streams_per_client);
        Self {
            streams,
            inner: Mutex::new(Inner {
                first_id,
                next_id: first_id,
                main: Ring::new(first_id - 1),
                logs: Ring::new(first_id - 1),
                live,
                followers: HashMap::new(),
            }),
            config,
        }
    }

    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding the lock leaves consistent data (each step is a single push or
        // send), so a poisoned lock is still usable
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of the newest event published so far.
    pub fn last_id(&self) -> u64 {
        self.lock().next_id - 1
    }

    /// Publishes one event. A payload that can't be serialised is logged and dropped: an event
    /// must never fail the request that caused it.
    pub fn publish(
        &self,
        kind: EventKind,
        flow_run_id: Option<Uuid>,
        deployment_id: Option<Uuid>,
        payload: &impl Serialize,
    ) {
        let data = match serde_json::to_string(payload) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%kind, error = %e, "cannot encode an event; dropped");
                return;
            }
        };
        let (max_events, max_bytes) = (self.config.replay_events, self.config.replay_bytes);
        let mut inner = self.lock();
        let event = Arc::new(Published {
            id: inner.next_id,
            kind,
            flow_run_id,
            deployment_id,
            data,
        });
        inner.next_id += 1;
        if kind == EventKind::Log {
            inner.logs.push(Arc::clone(&event), max_events, max_bytes);
            if let Some(run) = flow_run_id {
                // an error means the last follower left: forget its channel
                let gone = inner
                    .followers
                    .get(&run)
                    .is_some_and(|tx| tx.send(event).is_err());
                if gone {
                    inner.followers.remove(&run);
                }
            }
        } else {
            inner.main.push(Arc::clone(&event), max_events, max_bytes);
            // an error only means nobody is listening right now
            let _ = inner.live.send(event);
        }
    }

    /// Subscribes with `filter`. With `last_event_id`, the events after it that the rings still
    /// hold are replayed first; when some are gone (or the id is not this process's), the
    /// subscription starts with `reset` instead. Otherwise it starts with `ready`.
    pub fn subscribe(
        self: &Arc<Self>,
        filter: EventFilter,
        last_event_id: Option<u64>,
    ) -> Subscription {
        let mut inner = self.lock();
        let newest = inner.next_id - 1;
        let follows = filter.follows_logs();
        let mut queue: VecDeque<Shared> = VecDeque::new();
        let reset = match last_event_id {
            None => None,
            Some(seen) if seen > newest || seen < inner.first_id.saturating_sub(1) => Some((
                ResetReason::UnknownId,
                format!("event {seen} is not from this server process; refetch"),
            )),
            Some(seen) if seen < inner.main.floor || (follows && seen < inner.logs.floor) => {
                Some((
                    ResetReason::TooOld,
                    format!("events after {seen} are no longer kept; refetch"),
                ))
            }
            Some(_) => None,
        };
        match (&reset, last_event_id) {
            (Some((reason, message)), _) => {
                queue.push_back(control_reset(newest, *reason, message.clone()));
            }
            (None, Some(seen)) => {
                let mut missed: Vec<Shared> = inner
                    .main
                    .after(seen)
                    .filter(|e| e.matches(&filter))
                    .cloned()
                    .collect();
                if follows {
                    missed.extend(
                        inner
                            .logs
                            .after(seen)
                            .filter(|e| e.matches(&filter))
                            .cloned(),
                    );
                    missed.sort_by_key(|e| e.id);
                }
                let ready = ReadyEvent {
                    replayed: missed.len() as u64,
                };
                queue.push_back(control(seen, EventKind::Ready, &ready));
                queue.extend(missed);
            }
            (None, None) => {
                queue.push_back(control(
                    newest,
                    EventKind::Ready,
                    &ReadyEvent { replayed: 0 },
                ));
            }
        }
        let live = inner.live.subscribe();
        let logs = match (follows, filter.flow_run_id) {
            (true, Some(run)) => {
                let capacity = self.config.subscriber_buffer.max(1);
                let tx = inner
                    .followers
                    .entry(run)
                    .or_insert_with(|| broadcast::channel(capacity).0);
                Some((run, tx.subscribe()))
            }
            _ => None,
        };
        drop(inner);
        Subscription {
            bus: Arc::clone(self),
            filter,
            queue,
            live,
            logs,
            next_live: None,
            next_log: None,
            ended: false,
        }
    }
}

fn control(id: u64, kind: EventKind, payload: &impl Serialize) -> Shared {
    Arc::new(Published {
        id,
        kind,
        flow_run_id: None,
        deployment_id: None,
        // these small payloads always serialise; "{}" keeps the event well-formed regardless
        data: serde_json::to_string(payload).unwrap_or_else(|_| "{}".to_string()),
    })
}

fn control_reset(id: u64, reason: ResetReason, message: String) -> Shared {
    control(id, EventKind::Reset, &ResetEvent { reason, message })
}
