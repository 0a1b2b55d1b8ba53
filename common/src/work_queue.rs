//! Work queues: what agents take runs from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deployment::FlowRunnerType;
use crate::filter::AnyFilter;
use crate::flow_run::FlowRun;

/// Which runs a queue offers: runs of a deployment whose tags include all of `tags`, and — when
/// set — whose deployment is in `deployment_ids` and whose flow runner type is in
/// `flow_runner_types`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QueueFilter {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub deployment_ids: Option<Vec<Uuid>>,
    #[serde(default)]
    pub flow_runner_types: Option<Vec<FlowRunnerType>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkQueue {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub name: String,
    pub description: Option<String>,
    pub is_paused: bool,
    /// Most runs of this queue PENDING or RUNNING at once; `null` is unlimited, 0 takes nothing.
    pub concurrency_limit: Option<u32>,
    pub filter: QueueFilter,
    /// When an agent last asked this queue for runs.
    pub last_polled: Option<DateTime<Utc>>,
}

/// Body of `POST /api/work_queues/` (409 when the name is taken).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkQueueCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<u32>,
    #[serde(default)]
    pub filter: QueueFilter,
}

/// Body of `PATCH /api/work_queues/{id}`; `concurrency_limit: null` removes the limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkQueueUpdate {
    #[serde(
        default,
        deserialize_with = "crate::filter::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_paused: Option<bool>,
    #[serde(
        default,
        deserialize_with = "crate::filter::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub concurrency_limit: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<QueueFilter>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkQueueCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AnyFilter<String>>,
}

/// Body of `POST /api/work_queues/filter`; queues come sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkQueueFilter {
    #[serde(default)]
    pub work_queues: WorkQueueCriteria,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Default for WorkQueueFilter {
    fn default() -> Self {
        Self {
            work_queues: WorkQueueCriteria::default(),
            limit: crate::filter::MAX_LIMIT,
            offset: 0,
        }
    }
}

/// Body of `POST /api/work_queues/{id}/get_runs`: a preview, nothing is claimed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QueueRunsPreview {
    /// Runs due up to this time; default now.
    #[serde(default)]
    pub scheduled_before: Option<DateTime<Utc>>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Body of `POST /api/work_queues/{id}/claim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub agent_id: Uuid,
    /// Most runs to take (1–200; default 1).
    #[serde(default = "one")]
    pub limit: u32,
    /// Also take runs due within this many seconds (default 0).
    #[serde(default)]
    pub prefetch_seconds: f64,
    /// When nothing is eligible, wait up to this many seconds (0–30; default 0) for a run.
    #[serde(default)]
    pub wait_seconds: f64,
}

fn one() -> u32 {
    1
}

/// A run handed to an agent, with the token that proves the claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedRun {
    pub flow_run: FlowRun,
    pub claim_token: Uuid,
    /// The run's deployment as it was when the run was claimed (what its engine needs: flow
    /// code, parameter schema, runner), so it need not be read again. Absent for runs without
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<crate::deployment::Deployment>,
    /// The API key of this run alone, for its engine and the flow (see the README's "Running
    /// Rigel for a team"): it works for this run's reports and reads, and ends with the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueueHealth {
    /// Not paused and polled by an agent recently.
    Ready,
    Paused,
    /// No agent polled it in the last minute.
    NotReady,
}

impl QueueHealth {
    /// In words: `ready`, `paused`, `not ready`.
    pub fn words(self) -> &'static str {
        match self {
            QueueHealth::Ready => "ready",
            QueueHealth::Paused => "paused",
            QueueHealth::NotReady => "not ready",
        }
    }
}

/// A queue that offers a run (its filter matches the run's deployment, tags and flow runner),
/// with its health: an answer of `GET /api/flow_runs/{id}/work_queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueOffer {
    pub work_queue: WorkQueue,
    pub status: QueueHealth,
}

/// `GET /api/work_queues/{id}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkQueueStatus {
    pub status: QueueHealth,
    /// Scheduled runs this queue offers whose start time has passed.
    pub late_runs: u64,
    pub last_polled: Option<DateTime<Utc>>,
    /// Runs of this queue PENDING or RUNNING now.
    pub active_runs: u64,
    pub concurrency_limit: Option<u32>,
}
