//! Storage blocks and the data stored in them.

use reqwest::Method;
use uuid::Uuid;

use super::{segment, ClientResult, RigelClient, Upserted};
use crate::block::{Block, BlockCreate, BlockFilter, StoredData};

impl RigelClient {
    pub async fn create_block(&self, body: &BlockCreate) -> ClientResult<(Block, Upserted)> {
        let (status, b) = self.call(Method::POST, "/blocks/", Some(body)).await?;
        Ok((b, Self::upserted(status)))
    }

    pub async fn read_block(&self, id: Uuid) -> ClientResult<Block> {
        self.get(&format!("/blocks/{id}")).await
    }

    pub async fn filter_blocks(&self, filter: &BlockFilter) -> ClientResult<Vec<Block>> {
        self.post("/blocks/filter", filter).await
    }

    pub async fn delete_block(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/blocks/{id}"))
            .await
    }

    /// The default storage block, or `None` when none is set.
    pub async fn default_block(&self) -> ClientResult<Option<Block>> {
        match self.get("/blocks/default").await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_default_block(&self, id: Uuid) -> ClientResult<Block> {
        self.post_empty(&format!("/blocks/{id}/set_default")).await
    }

    pub async fn clear_default_block(&self) -> ClientResult<()> {
        self.no_content(Method::POST, "/blocks/clear_default").await
    }

    pub async fn put_block_data(
        &self,
        id: Uuid,
        key: &str,
        data: Vec<u8>,
    ) -> ClientResult<StoredData> {
        let path = format!("/blocks/{id}/data/{}", segment(key));
        let (status, bytes) = self
            .send(Method::PUT, &path, Some(reqwest::Body::from(data)), false)
            .await?;
        self.decode(&path, status, &bytes)
    }

    pub async fn get_block_data(&self, id: Uuid, key: &str) -> ClientResult<Vec<u8>> {
        let path = format!("/blocks/{id}/data/{}", segment(key));
        Ok(self.send(Method::GET, &path, None, false).await?.1)
    }
}
