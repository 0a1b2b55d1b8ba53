//! The rows lists are made of: compact summaries of deployments and runs, and what is
//! computed about each deployment when data arrives.

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use rigel_common::deployment::Deployment;
use rigel_common::flow_run::FlowRun;
use rigel_common::schedule::Schedule;
use rigel_common::state::StateType;
use rigel_common::work_queue::{WorkQueue, WorkQueueStatus};
use uuid::Uuid;

use super::STRIP_LEN;

/// A deployment as lists need it. The full record — parameters, their schema, the runner, where
/// the code is — is kept as compact JSON and decoded when one deployment is opened: its
/// JSON-valued fields take ~5 KB each as `serde_json` values, which for 10 000 deployments would
/// be most of the TUI's memory.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRow {
    pub id: Uuid,
    pub name: String,
    pub flow_name: String,
    pub schedule: Option<Schedule>,
    pub is_schedule_active: bool,
    pub tags: Vec<String>,
    pub updated: DateTime<Utc>,
    full: Box<str>,
}

impl DeploymentRow {
    /// The whole deployment (`None` only if its JSON could not be read back, which serde's
    /// round trip of its own output doesn't do).
    pub fn full(&self) -> Option<Deployment> {
        serde_json::from_str(&self.full).ok()
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.flow_name, self.name)
    }
}

impl From<Deployment> for DeploymentRow {
    fn from(d: Deployment) -> Self {
        let full = serde_json::to_string(&d)
            .unwrap_or_default()
            .into_boxed_str();
        Self {
            id: d.id,
            name: d.name,
            flow_name: d.flow_name,
            schedule: d.schedule,
            is_schedule_active: d.is_schedule_active,
            tags: d.tags,
            updated: d.updated,
            full,
        }
    }
}

/// One flow run as lists need it: about 170 bytes instead of the full record (parameters,
/// runner settings and messages are fetched when a run is opened), so 100 000 runs take ~17 MB.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: Uuid,
    /// Run names are short slugs: stored inline, without an allocation each.
    pub name: CompactString,
    pub deployment_id: Option<Uuid>,
    pub work_queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub state: StateType,
    /// The state's name when it differs from the type's default (`Late`, `AwaitingRetry`, …).
    pub state_name: Option<Box<str>>,
    pub state_since: DateTime<Utc>,
    pub expected_start: Option<DateTime<Utc>>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub total_run_time: f64,
}

/// A scheduled run whose time has passed: the server names its state `Late`.
pub fn is_late(kind: StateType, name: &str) -> bool {
    kind == StateType::Scheduled && name == "Late"
}

impl RunRow {
    pub fn state_name(&self) -> &str {
        self.state_name
            .as_deref()
            .unwrap_or_else(|| self.state.default_name())
    }

    pub fn is_late(&self) -> bool {
        is_late(self.state, self.state_name())
    }

    /// Failed, crashed, or late: the runs someone should look at.
    pub fn is_fault(&self) -> bool {
        matches!(self.state, StateType::Failed | StateType::Crashed) || self.is_late()
    }

    /// The time lists sort by: when the run started or is expected to.
    pub fn sort_time(&self) -> Option<DateTime<Utc>> {
        self.start.or(self.expected_start)
    }

    /// Seconds spent running so far (a running run counts up to `now`).
    pub fn run_seconds(&self, now: DateTime<Utc>) -> Option<f64> {
        self.start?;
        let mut secs = self.total_run_time;
        if self.state == StateType::Running {
            secs += (now - self.state_since).num_milliseconds().max(0) as f64 / 1000.0;
        }
        Some(secs)
    }
}

impl From<&FlowRun> for RunRow {
    fn from(r: &FlowRun) -> Self {
        let state_name = (r.state.name != r.state.kind.default_name())
            .then(|| r.state.name.clone().into_boxed_str());
        Self {
            id: r.id,
            name: CompactString::new(&r.name),
            deployment_id: r.deployment_id,
            work_queue_id: r.work_queue_id,
            agent_id: r.agent_id,
            state: r.state.kind,
            state_name,
            state_since: r.state.timestamp,
            expected_start: r.expected_start_time.or(r.next_scheduled_start_time),
            start: r.start_time,
            end: r.end_time,
            total_run_time: r.total_run_time,
        }
    }
}

/// A run strip: the states of a deployment's last runs, oldest first.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Strip {
    pub(super) states: [Option<(StateType, bool)>; STRIP_LEN],
}

impl DeploymentFacts {
    /// `flow/name` in lower case.
    pub fn lower_name(&self) -> &str {
        self.search_key.get(..self.name_len).unwrap_or_default()
    }
}

impl Strip {
    /// `(state, late)` pairs, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (StateType, bool)> + '_ {
        self.states.iter().flatten().copied()
    }
}

/// What lists show about a deployment, computed when data arrives.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFacts {
    /// `flow/name tag tag …` in lower case: what `/` matches against.
    pub search_key: String,
    /// Where the name ends in `search_key`.
    pub(super) name_len: usize,
    pub full_name: String,
    pub schedule_words: String,
    pub next_run: Option<DateTime<Utc>>,
    /// The schedule's next time as computed when the data arrived (used when no scheduled run
    /// of the deployment is among the fetched runs).
    pub computed_next: Option<DateTime<Utc>>,
    pub strip: Strip,
    /// The newest run's state, for sorting by health.
    pub last_state: Option<StateType>,
}

/// A queue with the status the server derived for it (absent when that request failed).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub queue: WorkQueue,
    pub status: Option<WorkQueueStatus>,
}
