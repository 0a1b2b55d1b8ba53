//! Agents: processes that claim runs from a work queue and start them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::filter::AnyFilter;
use crate::validation::{validate_name, FieldError};

/// Longest `hostname` or `version` an agent may report.
pub const MAX_AGENT_LABEL_LEN: usize = 255;

/// Most runs one heartbeat may report in flight: the list is stored on the agent and answered in
/// every agent listing, so it is bounded like any other list (an agent's `--limit` is too).
pub const MAX_RUNS_IN_FLIGHT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Heartbeat seen recently.
    Online,
    /// Heartbeats are late.
    Stale,
    /// No heartbeat for a long time: the agent is gone.
    Offline,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Stale => "stale",
            AgentStatus::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub work_queue_id: Option<Uuid>,
    pub work_queue_name: String,
    pub hostname: Option<String>,
    pub pid: Option<u32>,
    pub version: Option<String>,
    pub started: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
    /// Derived from the heartbeat's age when the agent is read.
    pub status: AgentStatus,
    /// Seconds since the last heartbeat, when the agent was read.
    pub heartbeat_age_seconds: f64,
    pub runs_in_flight: Vec<Uuid>,
}

/// Body of `POST /api/agents/` (register).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentCreate {
    pub name: String,
    pub work_queue_name: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub version: Option<String>,
}

impl AgentCreate {
    /// Checks the names (as for any named object) and the free-text labels.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        validate_name("work_queue_name", &self.work_queue_name)?;
        for (field, value) in [("hostname", &self.hostname), ("version", &self.version)] {
            let Some(value) = value else { continue };
            if value.chars().count() > MAX_AGENT_LABEL_LEN {
                return Err(FieldError::new(
                    field,
                    format!("must be at most {MAX_AGENT_LABEL_LEN} characters"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(FieldError::new(
                    field,
                    "must not contain control characters",
                ));
            }
        }
        Ok(())
    }
}

/// Body of `POST /api/agents/{id}/heartbeat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentHeartbeat {
    #[serde(default)]
    pub runs_in_flight: Vec<Uuid>,
}

impl AgentHeartbeat {
    /// Checks the length of `runs_in_flight`.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.runs_in_flight.len() > MAX_RUNS_IN_FLIGHT {
            return Err(FieldError::new(
                "runs_in_flight",
                format!(
                    "at most {MAX_RUNS_IN_FLIGHT} runs, got {}",
                    self.runs_in_flight.len()
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_queue_name: Option<AnyFilter<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AnyFilter<AgentStatus>>,
}

/// Body of `POST /api/agents/filter`; newest heartbeat first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentFilter {
    #[serde(default)]
    pub agents: AgentCriteria,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Default for AgentFilter {
    fn default() -> Self {
        Self {
            agents: AgentCriteria::default(),
            limit: crate::filter::MAX_LIMIT,
            offset: 0,
        }
    }
}
