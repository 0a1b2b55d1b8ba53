//! Backfilling a deployment's schedule: `POST /api/deployments/{id}/schedule` creates the runs of
//! a window of time, past or future, with the scheduler's idempotency keys, so a repeated or
//! overlapping backfill (or the scheduler itself) never creates a time twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::flow_run::FlowRun;
use crate::validation::FieldError;

/// `max_runs` when the request gives none.
pub const DEFAULT_BACKFILL_RUNS: u32 = 100;
/// The most runs one backfill request creates.
pub const MAX_BACKFILL_RUNS: u32 = 1000;
/// The most bytes of parameters one backfill copies into its runs (runs × the deployment's
/// parameters): every run stores its own copy, written in one transaction and sent back in the
/// answer, so 1,000 runs of 256 KiB parameters would be 256 MB of both.
pub const MAX_BACKFILL_PARAMETER_BYTES: usize = 8 * 1024 * 1024;

/// Refuses a backfill of `runs` runs that would copy more than [`MAX_BACKFILL_PARAMETER_BYTES`]
/// of `parameter_bytes` each, naming how many runs fit.
pub fn check_copied_parameters(runs: usize, parameter_bytes: usize) -> Result<(), FieldError> {
    let per_run = parameter_bytes.max(1);
    if runs.saturating_mul(per_run) <= MAX_BACKFILL_PARAMETER_BYTES {
        return Ok(());
    }
    let fit = (MAX_BACKFILL_PARAMETER_BYTES / per_run).max(1);
    Err(FieldError::new(
        "max_runs",
        format!(
            "this backfill would copy the deployment's {} KiB of parameters into {runs} runs, \
             more than the {} MiB one backfill may write; backfill at most {fit} runs at a time \
             (max_runs, or a shorter window)",
            parameter_bytes.div_ceil(1024),
            MAX_BACKFILL_PARAMETER_BYTES / (1024 * 1024)
        ),
    ))
}

/// Body of `POST /api/deployments/{id}/schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// Start of the window (inclusive).
    pub start_time: DateTime<Utc>,
    /// End of the window (inclusive); must be after `start_time`.
    pub end_time: DateTime<Utc>,
    /// At most this many runs, the earliest of the window first (1–1000, default 100).
    #[serde(default = "default_max_runs")]
    pub max_runs: u32,
}

fn default_max_runs() -> u32 {
    DEFAULT_BACKFILL_RUNS
}

impl BackfillRequest {
    pub fn new(start_time: DateTime<Utc>, end_time: DateTime<Utc>) -> Self {
        Self {
            start_time,
            end_time,
            max_runs: DEFAULT_BACKFILL_RUNS,
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.end_time <= self.start_time {
            return Err(FieldError::new("end_time", "must be after start_time"));
        }
        if !(1..=MAX_BACKFILL_RUNS).contains(&self.max_runs) {
            return Err(FieldError::new(
                "max_runs",
                format!("must be between 1 and {MAX_BACKFILL_RUNS}"),
            ));
        }
        Ok(())
    }
}

/// Answer of `POST /api/deployments/{id}/schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillResult {
    /// The runs this request created, earliest first.
    pub runs: Vec<FlowRun>,
    /// Times of the window that already had a run (made by the scheduler or an earlier backfill).
    pub existing: u32,
    /// Set when the window holds more than `max_runs` times: the first time left out. Backfill
    /// again from it to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_time: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let r: BackfillRequest = serde_json::from_str(
            r#"{"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00+01:00"}"#,
        )
        .unwrap();
        assert_eq!(r.max_runs, DEFAULT_BACKFILL_RUNS);
        assert_eq!(r.end_time, at("2026-01-01T23:00:00Z"));
        assert!(r.validate().is_ok());
        let mut bad = r.clone();
        bad.end_time = bad.start_time;
        assert_eq!(bad.validate().unwrap_err().field, "end_time");
        for n in [0, MAX_BACKFILL_RUNS + 1] {
            let mut bad = r.clone();
            bad.max_runs = n;
            assert_eq!(bad.validate().unwrap_err().field, "max_runs");
        }
        assert!(serde_json::from_str::<BackfillRequest>(
            r#"{"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z", "max": 3}"#
        )
        .is_err());
    }
}
