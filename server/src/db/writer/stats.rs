//! What the writer counts: batches, failed begins, how long the batch in progress has run and
//! why the last one failed, for tests, diagnostics and `GET /api/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::Histogram;

/// Counters of what the writer did, for tests, diagnostics and `GET /api/metrics`.
#[derive(Debug)]
pub struct Stats {
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Transactions that could not begin in a row (the batch is retried on a fresh connection).
    pub begin_failures: AtomicU64,
    /// When the batch in progress began (microseconds since `epoch`); 0 when idle.
    batch_began_us: AtomicU64,
    /// Why the last batch failed, until one commits again (a full disk, an I/O error).
    last_failure: std::sync::Mutex<Option<String>>,
    epoch: std::sync::OnceLock<std::time::Instant>,
    /// Jobs per batch.
    pub batch_jobs: Histogram,
    /// How long each job waited in the queue before its batch began.
    pub queue_wait: Histogram,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            batches: AtomicU64::default(),
            begin_failures: AtomicU64::default(),
            batch_began_us: AtomicU64::default(),
            last_failure: std::sync::Mutex::default(),
            epoch: std::sync::OnceLock::default(),
            batch_jobs: Histogram::new(crate::metrics::histogram::COUNTS),
            queue_wait: Histogram::seconds(),
        }
    }
}

impl Stats {
    fn clock_us(&self) -> u64 {
        let epoch = self.epoch.get_or_init(std::time::Instant::now);
        u64::try_from(epoch.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub(super) fn began(&self) {
        self.batch_began_us
            .store(self.clock_us(), Ordering::Relaxed);
    }

    pub(super) fn ended(&self, failure: Option<&str>) {
        self.batch_began_us.store(0, Ordering::Relaxed);
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        *last = failure.map(str::to_string);
    }

    /// How long the batch in progress has run; `None` when the writer is idle.
    pub fn busy_for(&self) -> Option<std::time::Duration> {
        let began = self.batch_began_us.load(Ordering::Relaxed);
        (began != 0)
            .then(|| std::time::Duration::from_micros(self.clock_us().saturating_sub(began)))
    }

    /// Why the last batch failed, if no batch has committed since.
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
