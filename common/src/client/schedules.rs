//! Schedules: backfilling a deployment's runs.

use uuid::Uuid;

use super::{ClientResult, RigelClient};
use crate::backfill::{BackfillRequest, BackfillResult};

impl RigelClient {
    /// Creates the runs of the deployment's schedule between `body.start_time` and
    /// `body.end_time` (both inclusive; past or future, also while the schedule is paused). Times
    /// that already have a run are left alone, so repeating a backfill creates nothing new.
    pub async fn backfill_deployment(
        &self,
        deployment_id: Uuid,
        body: &BackfillRequest,
    ) -> ClientResult<BackfillResult> {
        self.post(&format!("/deployments/{deployment_id}/schedule"), body)
            .await
    }
}
