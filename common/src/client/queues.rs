//! Work queues and claiming.

use reqwest::Method;
use uuid::Uuid;

use super::{segment, ClientResult, RigelClient};
use crate::flow_run::FlowRun;
use crate::work_queue::{
    ClaimRequest, ClaimedRun, QueueOffer, QueueRunsPreview, WorkQueue, WorkQueueCreate,
    WorkQueueFilter, WorkQueueStatus, WorkQueueUpdate,
};

impl RigelClient {
    pub async fn create_work_queue(&self, body: &WorkQueueCreate) -> ClientResult<WorkQueue> {
        self.post("/work_queues/", body).await
    }

    pub async fn read_work_queue(&self, id: Uuid) -> ClientResult<WorkQueue> {
        self.get(&format!("/work_queues/{id}")).await
    }

    pub async fn read_work_queue_by_name(&self, name: &str) -> ClientResult<WorkQueue> {
        self.get(&format!("/work_queues/name/{}", segment(name)))
            .await
    }

    pub async fn update_work_queue(
        &self,
        id: Uuid,
        patch: &WorkQueueUpdate,
    ) -> ClientResult<WorkQueue> {
        Ok(self
            .call(Method::PATCH, &format!("/work_queues/{id}"), Some(patch))
            .await?
            .1)
    }

    pub async fn delete_work_queue(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/work_queues/{id}"))
            .await
    }

    pub async fn filter_work_queues(
        &self,
        filter: &WorkQueueFilter,
    ) -> ClientResult<Vec<WorkQueue>> {
        self.post("/work_queues/filter", filter).await
    }

    /// What the queue would hand out, without claiming.
    pub async fn preview_work_queue(
        &self,
        id: Uuid,
        body: &QueueRunsPreview,
    ) -> ClientResult<Vec<FlowRun>> {
        self.post(&format!("/work_queues/{id}/get_runs"), body)
            .await
    }

    pub async fn work_queue_status(&self, id: Uuid) -> ClientResult<WorkQueueStatus> {
        self.get(&format!("/work_queues/{id}/status")).await
    }

    /// The queues that offer run `run_id`, with their health.
    pub async fn run_work_queues(&self, run_id: Uuid) -> ClientResult<Vec<QueueOffer>> {
        self.get(&format!("/flow_runs/{run_id}/work_queues")).await
    }

    /// Claims runs (long-polls up to `wait_seconds` when none is available).
    pub async fn claim_runs(
        &self,
        queue_id: Uuid,
        body: &ClaimRequest,
    ) -> ClientResult<Vec<ClaimedRun>> {
        self.post(&format!("/work_queues/{queue_id}/claim"), body)
            .await
    }
}
