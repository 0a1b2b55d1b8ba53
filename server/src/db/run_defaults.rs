//! What a run takes from its deployment (flow, parameters and their schema, tags, flow runner),
//! kept in memory so that creating a run of a deployment — the hottest write — does not read
//! and decode the deployment every time.
//!
//! Staleness is ruled out by SQLite itself rather than by the code paths that write
//! deployments: hooks on the write connection see every row change of the `deployment` table
//! (whichever code made it, foreign-key cascades included) and every commit and rollback. Any
//! such change, and any rollback, moves a generation that each entry is checked against; and an
//! entry read inside a transaction that changed a deployment is not kept, since that
//! transaction may still roll back (`ROLLBACK TO` has no hook).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rigel_common::deployment::{FlowRunnerSettings, Parameters};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::from_json;
use crate::error::ApiResult;

/// Entries kept at most; the cache is emptied when full (deployments are few and rarely written).
const CAPACITY: usize = 4096;

/// A deployment's defaults for its runs.
#[derive(Debug)]
pub(crate) struct RunDefaults {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub parameters: Parameters,
    pub parameter_schema: Option<serde_json::Value>,
    pub tags: Vec<String>,
    pub flow_runner: FlowRunnerSettings,
}

impl RunDefaults {
    /// The effective parameters of a run that gives `given`: declared defaults, the
    /// deployment's parameters, then `given`.
    pub fn run_parameters(&self, given: &Parameters) -> Parameters {
        rigel_common::params::effective_parameters(
            self.parameter_schema.as_ref(),
            &self.parameters,
            given,
        )
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    flow_id: Uuid,
    parameters: String,
    parameter_schema: Option<String>,
    tags: String,
    flow_runner: String,
}

/// What the connection hooks maintain.
#[derive(Debug, Default)]
struct Changes {
    /// Moves on every change to a deployment row and every rollback.
    generation: AtomicU64,
    /// The open transaction changed a deployment.
    dirty: AtomicBool,
}

/// Run defaults by deployment id. Only read and filled on the write connection.
#[derive(Debug, Default)]
pub struct DeploymentCache {
    changes: Arc<Changes>,
    entries: Mutex<HashMap<Uuid, (u64, Arc<RunDefaults>)>>,
}

impl DeploymentCache {
    /// Installs the hooks on a write connection (call for every connection of the write pool).
    pub async fn watch(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let mut handle = conn.lock_handle().await?;
        let changes = Arc::clone(&self.changes);
        handle.set_update_hook(move |change| {
            if change.table == "deployment" {
                changes.dirty.store(true, Ordering::Release);
                changes.generation.fetch_add(1, Ordering::AcqRel);
            }
        });
        let changes = Arc::clone(&self.changes);
        handle.set_commit_hook(move || {
            changes.dirty.store(false, Ordering::Release);
            true
        });
        let changes = Arc::clone(&self.changes);
        handle.set_rollback_hook(move || {
            changes.dirty.store(false, Ordering::Release);
            changes.generation.fetch_add(1, Ordering::AcqRel);
        });
        Ok(())
    }

    /// The deployment's run defaults, from memory when nothing changed since they were read.
    /// `conn` must be the write connection (the one the hooks watch).
    pub(crate) async fn get(
        &self,
        conn: &mut SqliteConnection,
        id: Uuid,
    ) -> ApiResult<Option<Arc<RunDefaults>>> {
        let generation = self.changes.generation.load(Ordering::Acquire);
        if let Some((seen, defaults)) = self.lock().get(&id) {
            if *seen == generation {
                return Ok(Some(Arc::clone(defaults)));
            }
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, flow_id, parameters, parameter_schema, tags, flow_runner
             FROM deployment WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let defaults = Arc::new(RunDefaults {
            id: row.id,
            flow_id: row.flow_id,
            parameters: from_json("deployment.parameters", &row.parameters)?,
            parameter_schema: row
                .parameter_schema
                .map(|s| from_json("deployment.parameter_schema", &s))
                .transpose()?,
            tags: from_json("deployment.tags", &row.tags)?,
            flow_runner: from_json("deployment.flow_runner", &row.flow_runner)?,
        });
        if !self.changes.dirty.load(Ordering::Acquire) {
            let mut entries = self.lock();
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(id, (generation, Arc::clone(&defaults)));
        }
        Ok(Some(defaults))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (u64, Arc<RunDefaults>)>> {
        // a panic while holding the lock cannot leave the map half-updated
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
