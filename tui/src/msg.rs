//! What the UI asks the background tasks for ([`Request`]) and what they send back ([`Msg`]).
//! The UI thread never waits on the network: it only sends and receives these.

use rigel_common::event::{AgentEvent, DeploymentEvent, FlowRunStateEvent, WorkQueueEvent};
use rigel_common::flow_run::{DeploymentRunCreate, FlowRun};
use rigel_common::log::Log;
use rigel_common::state::State;
use rigel_common::task_run::TaskRun;
use uuid::Uuid;

use crate::access::Access;
use crate::store::{RunRow, Store};

/// Something that changes data on the server. Every one goes through a confirm dialog and the
/// read-only check in [`crate::app::App::dispatch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    QuickRun {
        deployment_id: Uuid,
        deployment: String,
    },
    CustomRun {
        deployment_id: Uuid,
        deployment: String,
        body: DeploymentRunCreate,
        /// The equivalent `rigel deployment run …` command.
        command: String,
    },
    CancelRun {
        run_id: Uuid,
        run: String,
    },
    SetScheduleActive {
        deployment_id: Uuid,
        deployment: String,
        active: bool,
    },
    SetQueuePaused {
        queue_id: Uuid,
        queue: String,
        paused: bool,
    },
}

impl Change {
    /// The confirm dialog's question.
    pub fn question(&self) -> String {
        match self {
            Change::QuickRun { deployment, .. } => {
                format!("Start a run of '{deployment}' now, with its default parameters?")
            }
            Change::CustomRun { deployment, .. } => {
                format!("Create this run of '{deployment}'?")
            }
            Change::CancelRun { run, .. } => format!("Cancel flow run '{run}'?"),
            Change::SetScheduleActive {
                deployment, active, ..
            } => {
                if *active {
                    format!("Resume the schedule of '{deployment}'?")
                } else {
                    format!("Pause the schedule of '{deployment}'? No new runs will be scheduled.")
                }
            }
            Change::SetQueuePaused { queue, paused, .. } => {
                if *paused {
                    format!("Pause work queue '{queue}'? Agents will take no runs from it.")
                } else {
                    format!("Resume work queue '{queue}'?")
                }
            }
        }
    }

    /// The confirming button's label.
    pub fn verb(&self) -> &'static str {
        match self {
            Change::QuickRun { .. } | Change::CustomRun { .. } => "Run",
            Change::CancelRun { .. } => "Cancel run",
            Change::SetScheduleActive { active: true, .. } => "Resume",
            Change::SetScheduleActive { active: false, .. } => "Pause",
            Change::SetQueuePaused { paused: true, .. } => "Pause",
            Change::SetQueuePaused { paused: false, .. } => "Resume",
        }
    }

    /// Extra lines shown in the dialog.
    pub fn details(&self) -> Vec<String> {
        match self {
            Change::CustomRun { command, .. } => vec![format!("$ {command}")],
            _ => Vec::new(),
        }
    }
}

/// Work for the background tasks.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Refetch everything now (a safety net besides the periodic refetch and live events).
    Refresh,
    /// Recent and upcoming runs of one deployment, for its detail view.
    LoadDeployment(Uuid),
    /// Follow one run's state, task runs and logs (None: stop following).
    Follow(Option<Uuid>),
    Perform(Change),
}

/// One run's details, for the run view.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetails {
    pub run: FlowRun,
    pub states: Vec<State>,
    pub tasks: Vec<TaskRun>,
}

/// How a [`Change`] went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    RunCreated {
        run: Box<FlowRun>,
        deployment: String,
    },
    /// Done; the message says what happened.
    Done(String),
    Failed(String),
}

/// News from the background tasks.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A full refetch, indexed off the UI thread.
    Snapshot(Box<Store>),
    /// A refetch failed: keep the data, mark it stale.
    FetchFailed(String),
    /// The server refused the API key (401: missing, unknown, revoked or expired); its message.
    KeyRefused(String),
    /// Who the server takes the TUI for (asked with every refetch).
    Access(Access),
    /// The live event stream connected (true) or dropped (false).
    Live(bool),
    /// Runs created or moved on (from the event stream), oldest first.
    RunEvents(Vec<FlowRunStateEvent>),
    Deployment(Box<DeploymentEvent>),
    Queue(Box<WorkQueueEvent>),
    Agent(Box<AgentEvent>),
    DeploymentRuns {
        deployment_id: Uuid,
        recent: Vec<RunRow>,
        upcoming: Vec<RunRow>,
    },
    RunDetails(Box<RunDetails>),
    /// Log records of the followed run, oldest first; `reset` replaces what was shown.
    Logs {
        run_id: Uuid,
        logs: Vec<Log>,
        reset: bool,
    },
    Done(Outcome),
}
