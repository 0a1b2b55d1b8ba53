//! API keys and the roles they carry. A key is shown once, when it is created; the server keeps
//! only its SHA-256 digest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{validate_name, FieldError};

/// What a key may do. Roles are not a strict ladder: `agent` and `deployer` are apart from
/// `operator`, since claiming runs and deploying code are different trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every read; secrets (runner `env` values) redacted.
    Monitor,
    /// Register and heartbeat itself, claim runs from its queues, report on the runs it holds.
    Agent,
    /// Monitor, plus runs: start runs of deployments, cancel runs, pause schedules and queues.
    Operator,
    /// Monitor, plus code: create and update flows and deployments, upload flow code.
    Deployer,
    /// Everything: deletes, `force`, storage blocks, queues, keys.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Monitor,
        Role::Agent,
        Role::Operator,
        Role::Deployer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Monitor => "monitor",
            Role::Agent => "agent",
            Role::Operator => "operator",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown role '{s}'; roles are monitor, agent, operator, deployer, admin")
            })
    }
}

/// Most work queues one `agent` key can be bound to.
pub const MAX_KEY_QUEUES: usize = 50;

/// Prefix of every key, so a leaked key is recognisable (and greppable) as a Rigel key.
pub const KEY_PREFIX: &str = "rgl_";

/// Body of `POST /api/api_keys/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// Unique among keys not revoked.
    pub name: String,
    pub role: Role,
    /// Only for `agent` keys: the work queues (by name) it may register for and claim from;
    /// empty means any queue.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Seconds from now until the key stops working; `null` never expires.
    #[serde(default)]
    pub expires_in_seconds: Option<f64>,
}

impl ApiKeyCreate {
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        if !self.queues.is_empty() && self.role != Role::Agent {
            return Err(FieldError::new(
                "queues",
                "only agent keys are bound to work queues",
            ));
        }
        if self.queues.len() > MAX_KEY_QUEUES {
            return Err(FieldError::new(
                "queues",
                format!("at most {MAX_KEY_QUEUES} queues"),
            ));
        }
        for (i, q) in self.queues.iter().enumerate() {
            validate_name(&format!("queues[{i}]"), q)?;
        }
        if let Some(s) = self.expires_in_seconds {
            // up to ~100 years: beyond that a date is not representable everywhere
            if !s.is_finite() || s <= 0.0 || s > 3.2e9 {
                return Err(FieldError::new(
                    "expires_in_seconds",
                    "must be a positive number of seconds (at most ~100 years)",
                ));
            }
        }
        Ok(())
    }
}

/// A key as listed: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub queues: Vec<String>,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    /// When a request last used it (kept to the minute).
    pub last_used: Option<DateTime<Utc>>,
    pub revoked: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.expires.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// Answer of `POST /api/api_keys/`: the key, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyCreated {
    pub key: String,
    pub api_key: ApiKey,
}

/// Answer of `GET /api/me`: who the server takes the caller for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The key's name; `null` when the server does not require keys (then the caller is admin).
    pub key_name: Option<String>,
    pub role: Role,
    pub queues: Vec<String>,
    /// Whether this server requires a key on every request but health.
    pub auth_required: bool,
}

/// One write in `GET /api/audit`: who (the key's name; `null` without keys) did what to which
/// object, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increasing; page backwards with `before`.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    /// `deployment.create`, `flow_run.set_state`, `api_key.revoke`…
    pub action: String,
    pub object_id: Option<Uuid>,
    /// What changed, in a few words (a new state, a deployment's name).
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().unwrap_err().contains("monitor"));
    }

    #[test]
    fn queue_binding_is_for_agents() {
        let mut body = ApiKeyCreate {
            name: "ci".into(),
            role: Role::Operator,
            queues: vec!["gpu".into()],
            expires_in_seconds: None,
        };
        assert_eq!(body.validate().unwrap_err().field, "queues");
        body.role = Role::Agent;
        body.validate().unwrap();
        body.expires_in_seconds = Some(0.0);
        assert_eq!(body.validate().unwrap_err().field, "expires_in_seconds");
    }
}
