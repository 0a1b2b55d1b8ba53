//! Log records of flow runs (and their task runs).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::filter::AnyFilter;
use crate::validation::FieldError;

/// Most records accepted in one `POST /api/logs/`.
pub const MAX_LOG_BATCH: usize = 1000;

/// Most bytes of log messages one flow run keeps; later batches are refused (422).
pub const MAX_RUN_LOG_BYTES: i64 = 100 * 1024 * 1024;

/// Largest message (UTF-8 bytes) of one record; a larger one is refused, not truncated.
pub const MAX_LOG_MESSAGE_BYTES: usize = 64 * 1024;

/// Highest level accepted (CRITICAL).
pub const MAX_LOG_LEVEL: u8 = level::CRITICAL;

/// Standard levels (Python's numbers): DEBUG 10, INFO 20, WARNING 30, ERROR 40, CRITICAL 50.
pub mod level {
    pub const DEBUG: u8 = 10;
    pub const INFO: u8 = 20;
    pub const WARNING: u8 = 30;
    pub const ERROR: u8 = 40;
    pub const CRITICAL: u8 = 50;

    /// The name of the level a number falls in (`DEBUG` … `CRITICAL`).
    pub fn name(level: u8) -> &'static str {
        match level {
            0..=10 => "DEBUG",
            11..=20 => "INFO",
            21..=30 => "WARNING",
            31..=40 => "ERROR",
            _ => "CRITICAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Log {
    /// Increasing id: pass the last one seen as `after_id` to read only newer records.
    pub id: i64,
    pub flow_run_id: Uuid,
    pub task_run_id: Option<Uuid>,
    pub level: u8,
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogCreate {
    pub flow_run_id: Uuid,
    #[serde(default)]
    pub task_run_id: Option<Uuid>,
    pub level: u8,
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// Checks a batch's size and each record's level and message; fields are named `[i].level`.
/// Whether the runs exist is the server's to check.
pub fn validate_log_batch(records: &[LogCreate]) -> Result<(), FieldError> {
    if records.is_empty() || records.len() > MAX_LOG_BATCH {
        return Err(FieldError::new(
            "",
            format!(
                "a batch must hold 1 to {MAX_LOG_BATCH} log records, got {}",
                records.len()
            ),
        ));
    }
    for (i, r) in records.iter().enumerate() {
        if r.level > MAX_LOG_LEVEL {
            return Err(FieldError::new(
                format!("[{i}].level"),
                format!("must be between 0 and {MAX_LOG_LEVEL}, got {}", r.level),
            ));
        }
        if r.message.len() > MAX_LOG_MESSAGE_BYTES {
            return Err(FieldError::new(
                format!("[{i}].message"),
                format!(
                    "must be at most {MAX_LOG_MESSAGE_BYTES} bytes, got {}; split long output",
                    r.message.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Answer of `POST /api/logs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogBatchResult {
    /// Records stored.
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LevelFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ge_: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_run_id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_run_id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LevelFilter>,
    /// Only records with a larger id (a cursor for following a run's logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<i64>,
    /// Only records stamped at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_after: Option<DateTime<Utc>>,
}

/// Body of `POST /api/logs/filter`; records come oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    #[serde(default)]
    pub logs: LogCriteria,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Default for LogFilter {
    fn default() -> Self {
        Self {
            logs: LogCriteria::default(),
            limit: crate::filter::MAX_LIMIT,
            offset: 0,
        }
    }
}
