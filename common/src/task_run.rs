//! Task runs: the steps of a flow run (YAML tasks, Python `@task` calls).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::state::{State, StateCreate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskRun {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub flow_run_id: Uuid,
    /// The task's name in its flow.
    pub name: String,
    pub state: State,
    pub run_count: u32,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub total_run_time: f64,
}

/// Body of `POST /api/task_runs/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskRunCreate {
    pub flow_run_id: Uuid,
    pub name: String,
    /// Initial state; default Pending.
    #[serde(default)]
    pub state: Option<StateCreate>,
}

/// Body of `POST /api/task_runs/filter`: the task runs of one flow run, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskRunFilter {
    pub flow_run_id: Uuid,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}
