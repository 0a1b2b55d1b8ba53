//! Flow runs: one execution of a flow, usually of a deployment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deployment::{FlowRunnerSettings, Parameters};
use crate::filter::{AllFilter, AnyFilter};
use crate::state::{State, StateCreate, StateType};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowRun {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// A short readable slug such as `brave-heron`.
    pub name: String,
    pub flow_id: Uuid,
    pub deployment_id: Option<Uuid>,
    pub work_queue_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Parameters,
    pub tags: Vec<String>,
    pub idempotency_key: Option<String>,
    /// Created by the scheduler (rather than by a person or a script).
    pub auto_scheduled: bool,
    pub flow_runner: Option<FlowRunnerSettings>,
    pub state: State,
    pub run_count: u32,
    pub expected_start_time: Option<DateTime<Utc>>,
    pub next_scheduled_start_time: Option<DateTime<Utc>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// Seconds spent RUNNING, over all attempts.
    pub total_run_time: f64,
    /// The agent that claimed the run.
    pub agent_id: Option<Uuid>,
}

/// Body of `POST /api/flow_runs/`. With an `idempotency_key` already used for the flow, the
/// existing run is returned (200) instead of a new one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowRunCreate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Parameters,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_runner: Option<FlowRunnerSettings>,
    /// Initial state; default Scheduled for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateCreate>,
}

/// Body of `POST /api/deployments/{id}/create_flow_run`: parameters are merged over the
/// deployment's, tags added to its tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentRunCreate {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Parameters,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Start at this time instead of now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `{"before_": t, "after_": t}`: both bounds inclusive, either optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StateCriteria {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AnyFilter<StateType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AnyFilter<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowRunCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_queue_id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateCriteria>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<AllFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_start_time: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_scheduled_start_time: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<TimeRange>,
}

/// Filter on the run's deployment (by id or name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunDeploymentCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AnyFilter<String>>,
}

/// Filter on the run's flow (by id or name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunFlowCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AnyFilter<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowRunSort {
    ExpectedStartTimeAsc,
    #[default]
    ExpectedStartTimeDesc,
    CreatedDesc,
    EndTimeDesc,
}

/// Body of `POST /api/flow_runs/filter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowRunFilter {
    #[serde(default)]
    pub flow_runs: FlowRunCriteria,
    #[serde(default)]
    pub deployments: RunDeploymentCriteria,
    #[serde(default)]
    pub flows: RunFlowCriteria,
    #[serde(default)]
    pub sort: FlowRunSort,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Default for FlowRunFilter {
    fn default() -> Self {
        Self {
            flow_runs: FlowRunCriteria::default(),
            deployments: RunDeploymentCriteria::default(),
            flows: RunFlowCriteria::default(),
            sort: FlowRunSort::default(),
            limit: crate::filter::MAX_LIMIT,
            offset: 0,
        }
    }
}

/// Body of `POST /api/flow_runs/count`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowRunCount {
    #[serde(default)]
    pub flow_runs: FlowRunCriteria,
    #[serde(default)]
    pub deployments: RunDeploymentCriteria,
    #[serde(default)]
    pub flows: RunFlowCriteria,
    /// Count no further than this (at least 1): the answer is then at most `limit`, so a view
    /// can show "10,000+" without the server visiting every matching run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// A run's state history entry.
pub type StateHistory = Vec<State>;

/// Body of `POST /api/flow_runs/{id}/heartbeat`, sent by the process executing the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunHeartbeat {
    #[serde(default)]
    pub claim_token: Option<Uuid>,
}

/// What the executing process needs to know at each heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunHeartbeatAnswer {
    pub state: State,
    /// False when the run is no longer held with this claim token: stop working on it.
    pub claim_valid: bool,
}
