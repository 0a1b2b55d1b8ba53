//! Shipping and reading flow-run logs.

use super::{ClientResult, RigelClient};
use crate::log::{Log, LogBatchResult, LogCreate, LogFilter};

impl RigelClient {
    /// Stores up to [`crate::log::MAX_LOG_BATCH`] records at once (all or none); returns how many.
    pub async fn create_logs(&self, records: &[LogCreate]) -> ClientResult<usize> {
        let done: LogBatchResult = self.post("/logs/", &records).await?;
        Ok(done.count)
    }

    pub async fn filter_logs(&self, filter: &LogFilter) -> ClientResult<Vec<Log>> {
        self.post("/logs/filter", filter).await
    }
}
