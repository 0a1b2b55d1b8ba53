//! The Rigel API, shared by the server, agent, CLI and TUI: wire types, the error body,
//! validation, schedules, parameter checks and (feature `client`) the typed HTTP client.
//! Deployment specs and flow files are `rigel-spec`'s.

pub mod agent;
pub mod api_key;
pub mod backfill;
pub mod backoff;
pub mod block;
#[cfg(feature = "client")]
pub mod client;
pub mod deployment;
pub mod duration;
pub mod env;
pub mod error;
pub mod event;
pub mod filter;
pub mod flow;
pub mod flow_data;
pub mod flow_run;
pub mod log;
pub mod names;
pub mod params;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod task_run;
pub mod validation;
pub mod when;
pub mod work_queue;

use serde::{Deserialize, Serialize};

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// The crate version, reported by the server and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
