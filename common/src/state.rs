//! Run states and the answers of the orchestration rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest name a proposed state may carry (`Late`, `AwaitingRetry`…).
pub const MAX_STATE_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateType {
    Scheduled,
    Pending,
    Running,
    Completed,
    Failed,
    Cancelling,
    Cancelled,
    Crashed,
}

impl StateType {
    pub const ALL: [StateType; 8] = [
        StateType::Scheduled,
        StateType::Pending,
        StateType::Running,
        StateType::Completed,
        StateType::Failed,
        StateType::Cancelling,
        StateType::Cancelled,
        StateType::Crashed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateType::Scheduled => "SCHEDULED",
            StateType::Pending => "PENDING",
            StateType::Running => "RUNNING",
            StateType::Completed => "COMPLETED",
            StateType::Failed => "FAILED",
            StateType::Cancelling => "CANCELLING",
            StateType::Cancelled => "CANCELLED",
            StateType::Crashed => "CRASHED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        StateType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// Completed, Failed, Cancelled and Crashed runs are over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateType::Completed | StateType::Failed | StateType::Cancelled | StateType::Crashed
        )
    }

    /// The name a state of this type gets when the proposer gives none.
    pub fn default_name(self) -> &'static str {
        match self {
            StateType::Scheduled => "Scheduled",
            StateType::Pending => "Pending",
            StateType::Running => "Running",
            StateType::Completed => "Completed",
            StateType::Failed => "Failed",
            StateType::Cancelling => "Cancelling",
            StateType::Cancelled => "Cancelled",
            StateType::Crashed => "Crashed",
        }
    }
}

impl std::fmt::Display for StateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's state: what it is (`type`), what to call it (`name`, e.g. `Late`), since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct State {
    #[serde(rename = "type")]
    pub kind: StateType,
    pub name: String,
    pub timestamp: DateTime<Utc>,
    pub message: Option<String>,
    /// For SCHEDULED states: when the run should start.
    pub scheduled_time: Option<DateTime<Utc>>,
    /// In a run's state history: the name of the API key that asked for this state (absent when
    /// the run's engine, a service or a server without keys wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// A proposed state, as sent by a client: only `type` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StateCreate {
    #[serde(rename = "type")]
    pub kind: StateType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<DateTime<Utc>>,
}

impl StateCreate {
    pub fn new(kind: StateType) -> Self {
        Self {
            kind,
            name: None,
            message: None,
            scheduled_time: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Body of `POST /api/flow_runs/{id}/set_state` (and the task-run equivalent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetState {
    pub state: StateCreate,
    /// Skip the rules (bookkeeping still happens): for operators, e.g. to retry a finished run.
    #[serde(default)]
    pub force: bool,
    /// The token the claim returned; required to move a claimed run to RUNNING and beyond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<Uuid>,
    /// A client-chosen id: retrying a proposal with the same id returns the original result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SetStateStatus {
    /// The state was stored (possibly adjusted: see `state`).
    Accept,
    /// The proposal was refused; the run keeps its state.
    Reject,
    /// Not yet: propose again after `delay_seconds`.
    Wait,
    /// The proposer must stop working on this run (it is finished, or someone else has it).
    Abort,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetStateDetails {
    pub reason: Option<String>,
    pub delay_seconds: Option<f64>,
    /// Given when a proposal to PENDING is accepted: present it on later proposals.
    pub claim_token: Option<Uuid>,
}

/// The answer to a state proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetStateResult {
    pub status: SetStateStatus,
    /// The run's state after the call.
    pub state: State,
    pub details: SetStateDetails,
}

/// Most proposals one `POST /api/flow_runs/set_states` carries.
pub const MAX_PROPOSALS: usize = 1000;

/// One proposal of `POST /api/flow_runs/set_states`: a [`SetState`] for the run `flow_run_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowRunProposal {
    pub flow_run_id: Uuid,
    pub state: StateCreate,
    #[serde(default)]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_id: Option<Uuid>,
}

impl FlowRunProposal {
    pub fn new(flow_run_id: Uuid, proposal: SetState) -> Self {
        let SetState {
            state,
            force,
            claim_token,
            transition_id,
        } = proposal;
        Self {
            flow_run_id,
            state,
            force,
            claim_token,
            transition_id,
        }
    }

    /// The run, and the proposal as `set_state` takes it.
    pub fn into_parts(self) -> (Uuid, SetState) {
        let proposal = SetState {
            state: self.state,
            force: self.force,
            claim_token: self.claim_token,
            transition_id: self.transition_id,
        };
        (self.flow_run_id, proposal)
    }
}

/// Body of `POST /api/flow_runs/set_states`: several runs' proposals in one call (at most
/// [`MAX_PROPOSALS`]), each decided as `set_state` decides it, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetStates {
    pub proposals: Vec<FlowRunProposal>,
}

/// What became of one proposal of `set_states`: the answer `set_state` would have given, or
/// the error it would have answered (`{"error": {"code", "message", "details"}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProposalOutcome {
    Result(SetStateResult),
    Error(crate::error::ApiErrorDetail),
}

/// The answer of `set_states`: an outcome per proposal, in their order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetStatesResult {
    pub results: Vec<ProposalOutcome>,
}
