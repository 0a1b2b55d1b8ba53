//! Agent registration and heartbeats.

use reqwest::Method;
use uuid::Uuid;

use super::{ClientResult, RigelClient};
use crate::agent::{Agent, AgentCreate, AgentFilter, AgentHeartbeat};

impl RigelClient {
    /// Registers an agent; the answer carries the id to heartbeat with.
    pub async fn register_agent(&self, body: &AgentCreate) -> ClientResult<Agent> {
        self.post("/agents/", body).await
    }

    /// Reports the agent alive. A not-found error means the server forgot it: register again.
    pub async fn agent_heartbeat(&self, id: Uuid, runs_in_flight: &[Uuid]) -> ClientResult<Agent> {
        let body = AgentHeartbeat {
            runs_in_flight: runs_in_flight.to_vec(),
        };
        self.post(&format!("/agents/{id}/heartbeat"), &body).await
    }

    pub async fn read_agent(&self, id: Uuid) -> ClientResult<Agent> {
        self.get(&format!("/agents/{id}")).await
    }

    pub async fn filter_agents(&self, filter: &AgentFilter) -> ClientResult<Vec<Agent>> {
        self.post("/agents/filter", filter).await
    }

    pub async fn delete_agent(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/agents/{id}"))
            .await
    }
}
