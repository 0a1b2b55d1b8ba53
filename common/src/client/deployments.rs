//! Flows and deployments.

use reqwest::Method;
use uuid::Uuid;

use super::{segment, ClientResult, RigelClient, Upserted};
use crate::deployment::{
    Deployment, DeploymentCount, DeploymentCreate, DeploymentFilter, DeploymentUpdate,
};
use crate::flow::{Flow, FlowCreate, FlowFilter};

impl RigelClient {
    pub async fn create_flow(&self, body: &FlowCreate) -> ClientResult<(Flow, Upserted)> {
        let (status, flow) = self.call(Method::POST, "/flows/", Some(body)).await?;
        Ok((flow, Self::upserted(status)))
    }

    pub async fn read_flow(&self, id: Uuid) -> ClientResult<Flow> {
        self.get(&format!("/flows/{id}")).await
    }

    pub async fn read_flow_by_name(&self, name: &str) -> ClientResult<Flow> {
        self.get(&format!("/flows/name/{}", segment(name))).await
    }

    pub async fn filter_flows(&self, filter: &FlowFilter) -> ClientResult<Vec<Flow>> {
        self.post("/flows/filter", filter).await
    }

    pub async fn delete_flow(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/flows/{id}"))
            .await
    }

    // ---- deployments

    /// Creates the deployment or updates the existing one with the same flow and name.
    pub async fn create_deployment(
        &self,
        body: &DeploymentCreate,
    ) -> ClientResult<(Deployment, Upserted)> {
        let (status, d) = self.call(Method::POST, "/deployments/", Some(body)).await?;
        Ok((d, Self::upserted(status)))
    }

    pub async fn read_deployment(&self, id: Uuid) -> ClientResult<Deployment> {
        self.get(&format!("/deployments/{id}")).await
    }

    pub async fn read_deployment_by_name(
        &self,
        flow: &str,
        name: &str,
    ) -> ClientResult<Deployment> {
        self.get(&format!(
            "/deployments/name/{}/{}",
            segment(flow),
            segment(name)
        ))
        .await
    }

    pub async fn filter_deployments(
        &self,
        filter: &DeploymentFilter,
    ) -> ClientResult<Vec<Deployment>> {
        self.post("/deployments/filter", filter).await
    }

    pub async fn count_deployments(&self, filter: &DeploymentCount) -> ClientResult<u64> {
        self.post("/deployments/count", filter).await
    }

    pub async fn update_deployment(
        &self,
        id: Uuid,
        patch: &DeploymentUpdate,
    ) -> ClientResult<Deployment> {
        Ok(self
            .call(Method::PATCH, &format!("/deployments/{id}"), Some(patch))
            .await?
            .1)
    }

    pub async fn delete_deployment(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/deployments/{id}"))
            .await
    }

    pub async fn set_schedule_active(&self, id: Uuid, active: bool) -> ClientResult<Deployment> {
        let verb = if active { "active" } else { "inactive" };
        self.post_empty(&format!("/deployments/{id}/set_schedule_{verb}"))
            .await
    }
}
