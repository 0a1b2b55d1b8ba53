//! API keys and who the server takes the caller for.

use reqwest::Method;
use uuid::Uuid;

use super::{ClientResult, RigelClient};
use crate::api_key::{ApiKey, ApiKeyCreate, ApiKeyCreated, Me};

impl RigelClient {
    /// Creates a key; the answer holds the key, shown this once.
    pub async fn create_api_key(&self, body: &ApiKeyCreate) -> ClientResult<ApiKeyCreated> {
        self.post("/api_keys/", body).await
    }

    pub async fn list_api_keys(&self) -> ClientResult<Vec<ApiKey>> {
        self.get("/api_keys/").await
    }

    pub async fn revoke_api_key(&self, id: Uuid) -> ClientResult<ApiKey> {
        Ok(self
            .call::<(), ApiKey>(Method::DELETE, &format!("/api_keys/{id}"), None)
            .await?
            .1)
    }

    /// The caller's key name, role and queues, and whether the server requires keys.
    pub async fn me(&self) -> ClientResult<Me> {
        self.get("/me").await
    }
}
