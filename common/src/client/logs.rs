//! Shipping and reading flow-run logs.

use uuid::Uuid;

use super::{ClientResult, RigelClient};
use crate::filter::AnyFilter;
use crate::log::{Log, LogBatchResult, LogCreate, LogCriteria, LogFilter};

impl RigelClient {
    /// Stores up to [`crate::log::MAX_LOG_BATCH`] records at once (all or none); returns how many.
    pub async fn create_logs(&self, records: &[LogCreate]) -> ClientResult<usize> {
        let done: LogBatchResult = self.post("/logs/", &records).await?;
        Ok(done.count)
    }

    pub async fn filter_logs(&self, filter: &LogFilter) -> ClientResult<Vec<Log>> {
        self.post("/logs/filter", filter).await
    }

    /// The next page (at most [`crate::filter::MAX_LIMIT`]) of run `run`'s records with an id
    /// above `after` (from the first when `None`), oldest first: pass the last id to go on.
    pub async fn log_page(&self, run: Uuid, after: Option<i64>) -> ClientResult<Vec<Log>> {
        let filter = LogFilter {
            logs: LogCriteria {
                flow_run_id: Some(AnyFilter::new([run])),
                after_id: after,
                ..Default::default()
            },
            ..Default::default()
        };
        self.filter_logs(&filter).await
    }
}
